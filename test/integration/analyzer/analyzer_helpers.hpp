// What the analyzer's integration tests share: running the CLI and other
// programs, the sample monolith's workload, a private directory, the
// OpenAPI validator from the npm registry.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "test/harness/cluster.hpp"

namespace pymigrate::analyzer::testing
{

struct Output {
    int status = -1;  // exit status, or -1 when the program did not exit normally
    std::string text; // stdout and stderr together
};

// Runs a shell command line (arguments already quoted with shell_quote).
Output run(const std::string &command);
std::string shell_quote(const std::string &s);
// `pymigrate ARGS...`
Output run_cli(const std::vector<std::string> &args);

// A directory removed at the end of the test.
class TempDir
{
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::filesystem::path &
    path() const
    {
        return path_;
    }

  private:
    std::filesystem::path path_;
};

// Runs a small, fixed workload on the sample monolith: per domain the joins
// its screens would run (so pg_stat_statements sees them) and the
// transactions that write together (placing an order writes the order, its
// lines and its payment; a new cart its items; ...).
void run_shop_workload(const std::string &dsn);

// `redocly lint FILE` with @redocly/cli installed once from the npm registry
// into the build directory (reused by later runs). Returns its output and status.
Output openapi_lint(const std::filesystem::path &spec);

// The service of an analysis document that holds `table`.
nlohmann::json service_with(const nlohmann::json &analysis, const std::string &table);
bool same_service(const nlohmann::json &analysis, const std::string &a, const std::string &b);

// A TCP port nothing listens on now.
int free_port();

} // namespace pymigrate::analyzer::testing

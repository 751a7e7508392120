// What `pymigrate analyze` and `pymigrate generate` share: where the model
// comes from (a live database, a DDL file, a SQLite file, an analysis JSON)
// and the statement log.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

#include "analyzer/analysis.hpp"
#include "cli/command.hpp"

namespace pymigrate::cli
{

struct AnalyzerInput {
    std::string ddl, sqlite, from, log, log_format = "auto", log_line_prefix;

    // Adds --ddl, --sqlite, --from, --log, --log-format, --log-line-prefix.
    void add_options(CLI::App &cmd);
    // Exactly one source: --monolith, --ddl, --sqlite or --from. Throws
    // CLI::ValidationError otherwise.
    void check(const GlobalOptions &global) const;
    // Whether the source is the --monolith database.
    bool reads_monolith(const GlobalOptions &global) const;
    bool
    from_analysis() const
    {
        return !from.empty();
    }
    // The model from the source and the log (not for --from).
    analyzer::Model load(const GlobalOptions &global) const;
    // The analysis document given with --from.
    analyzer::Analysis load_analysis() const;
};

// Runs a subcommand's body: its exit code, or kFailed with "pymigrate NAME: message"
// on stderr for any error that is not a command-line error (those go to CLI11).
int run_reporting(const char *name, const std::function<int()> &body);

// "a=b" -> {"a", "b"}; throws CLI::ValidationError naming the option.
std::pair<std::string, std::string> split_assignment(const std::string &s, const char *option);

} // namespace pymigrate::cli

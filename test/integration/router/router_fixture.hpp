// Two live clusters (monolith and service) with the same tables and
// different data in them, so a query's answer says which one ran it, and
// helpers to run real clients (psql, pgbench, the probe) under the shim.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test/harness/cluster_fixture.hpp"

namespace pymigrate::testing
{

struct ProcessResult {
    int status = -1; // exit code, or 128 + signal
    std::string out, err;
};

using Env = std::map<std::string, std::optional<std::string>>; // nullopt: unset

// Runs a program to completion; throws if it cannot start or outlives `timeout`.
ProcessResult run_process(const std::vector<std::string> &argv, const Env &env = {}, const std::string &input = "",
                          std::chrono::seconds timeout = std::chrono::seconds(120));

// A program running in the background; its output goes to files.
class Background
{
  public:
    Background(const std::vector<std::string> &argv, const Env &env = {});
    ~Background();
    Background(const Background &) = delete;
    Background &operator=(const Background &) = delete;
    void write_stdin(const std::string &text);
    std::string out_so_far() const;
    // Waits for `needle` in its output; false on timeout or exit.
    bool wait_for_output(const std::string &needle, std::chrono::milliseconds timeout) const;
    ProcessResult wait(std::chrono::seconds timeout = std::chrono::seconds(120));

  private:
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    std::string dir_;
    bool done_ = false;
};

class RouterClusters : public ClusterSuite<RouterClusters, 2>
{
  public:
    static ClusterOptions options(int i);
    static void SetUpTestSuite();
    static void TearDownTestSuite();

  protected:
    void SetUp() override;
    static Cluster &
    monolith()
    {
        return cluster(0);
    }
    static Cluster &
    service()
    {
        return cluster(1);
    }

    // The routes: pymigrate.route_set(spec) as the owner; returns the version.
    static int64_t set_route(const nlohmann::json &spec);
    // A route for the "probe", "other"-free tables: pgbench's and the probe.
    static nlohmann::json bank_route(double percent, bool sticky);
    static void clear_routes();

    // Statements on each server whose text matches `regex` (pg_stat_statements).
    static long calls(Cluster &c, const std::string &regex);
    static void reset_counts();

    // The environment that loads the shim and points it at the control plane.
    static Env shim_env(Env extra = {});
    static std::string pgbin(const std::string &program);
    static std::string log_file();
    static std::string shim_log();

    static ProcessResult psql(const std::string &script, const Env &env);
    static ProcessResult pgbench(const std::vector<std::string> &args, const Env &env);
};

// Paths of the programs under test, from CMake.
std::string shim_library();
std::string cli_program();
std::string probe_program();

// "key=value" lines of a probe's output.
std::map<std::string, std::string> key_values(const std::string &out);

} // namespace pymigrate::testing

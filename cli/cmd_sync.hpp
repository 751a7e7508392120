// `pymigrate sync`: what its subcommands share (cmd_sync.cpp: status, pause,
// resume, teardown; cmd_sync_setup.cpp: setup; cmd_sync_config.cpp: the
// configuration, from --tables or a YAML file).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "common/pq.hpp"

namespace pymigrate::cli::sync
{

// A bad command line or configuration file: exit code 2.
class ConfigError : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

// One synced table: its name on each side and how its columns pair up.
struct SyncTable {
    std::string monolith;                               // as given: "table" or "schema.table"
    std::string service;                                // the same unless mapped
    std::map<std::string, std::string> columns;         // monolith column -> service column (renamed ones)
    std::vector<std::string> monolith_only;             // columns the service table does not have
    std::vector<std::string> service_only;              // columns the monolith table does not have
    nlohmann::json conflict = nlohmann::json::object(); // per-table conflict rules
};

struct SyncConfig {
    std::string name = "sync"; // subscriptions <name>_from_monolith (on the service), <name>_from_service
    std::string monolith_node = "monolith";
    std::string service_node = "service";
    std::string capture = "logical"; // how the monolith's changes are read: logical or trigger
    bool copy = true;                // initial copy monolith -> service
    // The connection strings each server uses to reach the other (default:
    // --monolith / --service as given).
    std::string monolith_peer_dsn;
    std::string service_peer_dsn;
    nlohmann::json conflict = nlohmann::json::object(); // strategy, priority, column_priority, resolver, ...
    std::vector<SyncTable> tables;
};

// The configuration file (YAML); errors name the line.
SyncConfig load_config(const std::string &path);
// Comma-separated monolith table names, synced under the same names.
std::vector<SyncTable> tables_from_list(const std::vector<std::string> &items);

// What create_subscription gets on each side: options and table_options
// (subscriber = "service": the service's subscription to the monolith).
nlohmann::json subscription_options(const SyncConfig &c, bool on_service);
nlohmann::json table_options(const SyncConfig &c, bool on_service);
// The local table names on one side.
std::vector<std::string> local_tables(const SyncConfig &c, bool on_service);

// The subscription names.
std::string service_subscription(const std::string &name);  // on the service, from the monolith
std::string monolith_subscription(const std::string &name); // on the monolith, from the service

// Runs a subcommand body: messages on stderr, exceptions to exit codes.
int run_sync_command(const char *what, const std::function<int()> &body);

std::string require_dsn(const std::string &dsn, const char *flag);

int do_setup(SyncConfig config, const GlobalOptions &global, double timeout_s);

} // namespace pymigrate::cli::sync

// What every subcommand shares: the common flags, and how a subcommand plugs
// into the `pymigrate` command.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace pymigrate::cli {

// Flags that mean the same in every subcommand.
struct GlobalOptions {
    std::string monolith; // --monolith DSN (or $PYMIGRATE_MONOLITH)
    std::string service;  // --service DSN  (or $PYMIGRATE_SERVICE)
    bool json = false;    // --json: machine-readable output on stdout
    int verbose = 0;      // -v, -vv
};

// Each cmd_<name>.cpp defines one of these; main.cpp calls them in order.
// The subcommand's callback returns its exit code through `exit_code`.
using Register = void (*)(CLI::App &app, GlobalOptions &global, int &exit_code);

void register_version(CLI::App &app, GlobalOptions &global, int &exit_code);
void register_validate(CLI::App &app, GlobalOptions &global, int &exit_code);
void register_analyze(CLI::App &app, GlobalOptions &global, int &exit_code);
void register_generate(CLI::App &app, GlobalOptions &global, int &exit_code);
void register_route(CLI::App &app, GlobalOptions &global, int &exit_code);
void register_sync(CLI::App &app, GlobalOptions &global, int &exit_code);

} // namespace pymigrate::cli

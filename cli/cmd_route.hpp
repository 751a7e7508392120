// `pymigrate route`: the subcommands share these.
#pragma once

#include <optional>
#include <string>

#include "cli/command.hpp"
#include "cli/cmd_route_store.hpp"
#include "common/pq.hpp"
#include "router/rule.hpp"

namespace pymigrate::cli
{

void register_route_ramp(CLI::App &route, GlobalOptions &global, int &exit_code);

// Runs a subcommand body, turning its exceptions into a message on stderr
// and the exit code (2 for usage problems, 1 for failures).
int run_route_command(const std::function<int()> &body);

// A connection to the service's database for checks: --service if given,
// else the route's DSN (or PYMIGRATE_SERVICE_DSN_<NAME>). nullopt, with the
// reason in `why`, when it cannot be made.
std::optional<pq::Connection> connect_service(const GlobalOptions &global, const router::RouteRule *rule,
                                              std::string &why);

std::string monolith_dsn(const GlobalOptions &global);

} // namespace pymigrate::cli

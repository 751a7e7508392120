// pymigrate version: the CLI's version, and the extension's on each database given.
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/command.hpp"
#include "cli/exit_codes.hpp"
#include "common/pq.hpp"

namespace pymigrate::cli
{
namespace
{

// The installed extension version on `dsn`, "not installed", or the error
// (and `reachable` false: the command then exits kFailed, as every command
// does when a server it was pointed at cannot be reached).
std::string
extension_version(const std::string &dsn, bool &reachable)
{
    try {
        pq::Connection c(dsn);
        auto v = c.scalar("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pymigrate'");
        return v ? *v : "not installed";
    } catch (const pq::Error &e) {
        reachable = false;
        return std::string("unreachable: ") + e.what();
    }
}

} // namespace

void
register_version(CLI::App &app, GlobalOptions &global, int &exit_code)
{
    auto *cmd = app.add_subcommand("version", "Print the version of the CLI and of the extension on each database");
    cmd->footer("Examples:\n"
                "  pymigrate version\n"
                "  pymigrate version --monolith 'host=/tmp port=5432 dbname=shop' --json");
    cmd->callback([&global, &exit_code] {
        nlohmann::json out = {{"cli", PYMIGRATE_VERSION}};
        bool reachable = true;
        if (!global.monolith.empty())
            out["monolith_extension"] = extension_version(global.monolith, reachable);
        if (!global.service.empty())
            out["service_extension"] = extension_version(global.service, reachable);
        if (global.json) {
            std::cout << out.dump(2) << std::endl;
        } else {
            std::cout << "pymigrate " << PYMIGRATE_VERSION << std::endl;
            for (const char *side : {"monolith", "service"})
                if (out.contains(std::string(side) + "_extension"))
                    std::cout << side << ": extension " << out[std::string(side) + "_extension"].get<std::string>()
                              << std::endl;
        }
        exit_code = reachable ? kOk : kFailed;
    });
}

} // namespace pymigrate::cli

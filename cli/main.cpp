#include <iostream>

#include "cli/command.hpp"
#include "cli/exit_codes.hpp"

using namespace pymigrate::cli;

int
main(int argc, char **argv)
{
    CLI::App app{"pymigrate: move a monolithic PostgreSQL database to a database per service, with no downtime"};
    app.require_subcommand(1);
    app.footer("Exit codes: 0 done, 1 failed, 2 bad usage or configuration, 3 a check found problems.\n"
               "Run `pymigrate COMMAND --help` for a command's options and examples.");

    GlobalOptions global;
    app.add_option("--monolith", global.monolith, "connection string of the monolith database")
        ->envname("PYMIGRATE_MONOLITH");
    app.add_option("--service", global.service, "connection string of the service database")
        ->envname("PYMIGRATE_SERVICE");
    app.add_flag("--json", global.json, "machine-readable JSON on stdout");
    app.add_flag("-v,--verbose", global.verbose, "more detail on stderr (repeat for more)");
    // Common flags may come after the subcommand too (pymigrate validate --json).
    app.fallthrough();

    int exit_code = kOk;
    const Register commands[] = {
        register_version,
        register_validate,
        register_analyze,
        register_generate,
        register_route,
        register_sync,
    };
    for (Register r : commands)
        r(app, global, exit_code);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        int rc = app.exit(e);
        return rc == 0 ? kOk : kUsage;
    } catch (const std::exception &e) {
        std::cerr << "pymigrate: " << e.what() << std::endl;
        return kFailed;
    }
    return exit_code;
}

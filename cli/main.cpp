#include <iostream>
#include <string>
#include <string_view>

#include "cli/command.hpp"
#include "cli/exit_codes.hpp"

using namespace pymigrate::cli;

namespace
{

// CLI11 lists a parent's options only in the parent's help; every command's
// help says which common flags it takes too (they may follow the command).
void
add_common_flags_note(CLI::App &app)
{
    for (CLI::App *sub : app.get_subcommands({})) {
        std::string footer = sub->get_footer();
        sub->footer((footer.empty() ? "" : footer + "\n\n") +
                    "Common flags (before or after the command): --monolith DSN (or $PYMIGRATE_MONOLITH),\n"
                    "--service DSN (or $PYMIGRATE_SERVICE), --json, -v.\n" + kExitCodesHelp);
        add_common_flags_note(*sub);
    }
}

} // namespace

int
main(int argc, char **argv)
{
    CLI::App app{"pymigrate: move a monolithic PostgreSQL database to a database per service, with no downtime"};
    app.require_subcommand(1);
    app.footer(std::string(kExitCodesHelp) + "\nRun `pymigrate COMMAND --help` for a command's options and examples.");

    GlobalOptions global;
    app.add_option("--monolith", global.monolith, "connection string of the monolith database")
        ->envname("PYMIGRATE_MONOLITH");
    app.add_option("--service", global.service, "connection string of the service database")
        ->envname("PYMIGRATE_SERVICE");
    app.add_flag("--json", global.json, "machine-readable JSON on stdout");
    app.add_flag("-v,--verbose", global.verbose, "more detail on stderr (repeat for more)");
    // Common flags may come after the subcommand too (pymigrate validate --json).
    app.fallthrough();

    for (int i = 1; i < argc; ++i)
        if (std::string_view arg = argv[i]; arg == "--monolith" || arg.starts_with("--monolith="))
            global.monolith_explicit = true;

    int exit_code = kOk;
    const Register commands[] = {
        register_version, register_validate, register_analyze, register_generate, register_route, register_sync,
    };
    for (Register r : commands)
        r(app, global, exit_code);
    add_common_flags_note(app);

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

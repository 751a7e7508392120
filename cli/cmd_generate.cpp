// pymigrate generate: a service's OpenAPI document, database schema and
// FastAPI project.
#include <nlohmann/json.hpp>

#include <iostream>

#include "analyzer/api/generate.hpp"
#include "analyzer/sources.hpp"
#include "cli/analyzer_input.hpp"
#include "cli/command.hpp"
#include "cli/exit_codes.hpp"

namespace pymigrate::cli
{
namespace
{

struct GenerateOptions {
    AnalyzerInput input;
    std::string name, out;
    std::vector<std::string> tables;
    bool force = false;
};

int
run(const GenerateOptions &o, const GlobalOptions &global)
{
    o.input.check(global);
    if (o.name.empty() && o.tables.empty())
        throw CLI::ValidationError("say which service: --name SERVICE (from the analysis) or --tables T1,T2");
    analyzer::Analysis a;
    std::vector<std::string> tables = o.tables;
    std::string name = o.name;
    if (o.input.from_analysis()) {
        a = o.input.load_analysis();
    } else if (tables.empty()) {
        a = analyzer::analyze(o.input.load(global), {}, {});
    } else {
        a.model = o.input.load(global);
    }
    if (tables.empty()) {
        const analyzer::Service *s = a.service(name);
        if (!s) {
            std::string names;
            for (const auto &x : a.services)
                names += (names.empty() ? "" : ", ") + x.name;
            std::cerr << "pymigrate generate: there is no service \"" << name << "\"; the services are: " << names
                      << std::endl;
            return kUsage;
        }
        tables = s->tables;
    }
    if (name.empty())
        name = analyzer::service_name_for(tables.front());
    std::string out = o.out.empty() ? name : o.out;
    auto r = analyzer::api::generate_service(a.model, tables, name, out, o.force);
    if (global.json) {
        nlohmann::json j = {{"service", name}, {"directory", out}, {"files", r.files}};
        nlohmann::json skipped = nlohmann::json::array();
        for (const auto &s : r.api.skipped)
            skipped.push_back({{"table", s.table}, {"reason", s.reason}});
        nlohmann::json endpoints = nlohmann::json::array();
        for (const auto &t : r.api.tables)
            endpoints.push_back({{"table", t.table->key()}, {"path", "/" + t.path}, {"key", t.key}});
        j["tables"] = endpoints;
        j["skipped"] = skipped;
        j["cross_service_foreign_keys"] = r.api.cross_service_references;
        std::cout << j.dump(2) << std::endl;
        return kOk;
    }
    std::cout << "Generated " << name << " in " << out << "/ (" << r.files.size() << " files)\n\n";
    for (const auto &t : r.api.tables) {
        std::string key;
        for (const auto &k : t.key)
            key += "/{" + t.api_column(k)->path_param + "}";
        std::cout << "  /" << t.path << "  and  /" << t.path << key << "    table " << t.table->key() << "\n";
    }
    for (const auto &s : r.api.skipped)
        std::cout << "  skipped " << s.table << ": " << s.reason << "\n";
    if (!r.api.cross_service_references.empty())
        std::cout << "\n  " << r.api.cross_service_references.size()
                  << " foreign keys cross to other services (listed in schema.sql and the OpenAPI description)\n";
    std::cout << "\n  openapi.json, openapi.yaml   OpenAPI 3.0.3\n"
                 "  schema.sql                   the service database's tables\n"
                 "  app/                         FastAPI: a router and models per table, psycopg 3 pool\n"
                 "  tests/                       pytest suite for the generated API\n\n"
                 "Run it:\n"
                 "  cd "
              << out
              << "\n"
                 "  psql \"$DATABASE_URL\" -f schema.sql\n"
                 "  DATABASE_URL=postgresql://... /usr/bin/python3 -m uvicorn app.main:app --port 8000\n"
                 "  DATABASE_URL=postgresql://... /usr/bin/python3 -m pytest\n";
    return kOk;
}

} // namespace

void
register_generate(CLI::App &app, GlobalOptions &global, int &exit_code)
{
    auto o = std::make_shared<GenerateOptions>();
    auto *cmd = app.add_subcommand("generate", "Write a service's OpenAPI spec, database schema and FastAPI code");
    cmd->footer("The service comes from an analysis (--from FILE --name SERVICE), or from a source and a list of\n"
                "tables (--monolith/--ddl/--sqlite with --tables). --name selects a service of the analysis; the\n"
                "global --service is the service DATABASE's connection string and is not used here.\n\n"
                "Examples:\n"
                "  pymigrate analyze --monolith \"$DSN\" -o shop.json\n"
                "  pymigrate generate --from shop.json --name order_service --out order_service\n"
                "  pymigrate generate --ddl schema.sql --tables orders,order_items,payments --name checkout\n"
                "  pymigrate generate --monolith \"$DSN\" --name user_service --json");
    o->input.add_options(*cmd);
    cmd->add_option("--name", o->name, "the service (a name from the analysis; with --tables, the new service's name)");
    cmd->add_option("--tables", o->tables, "the service's tables instead of a service of the analysis")->delimiter(',');
    cmd->add_option("--out", o->out, "directory to write (default: the service's name)");
    cmd->add_flag("--force", o->force, "write into a directory pymigrate did not create");
    cmd->callback([o, &global, &exit_code] { exit_code = run_reporting("generate", [&] { return run(*o, global); }); });
}

} // namespace pymigrate::cli

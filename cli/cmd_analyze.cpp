// pymigrate analyze: where to cut the monolith into services, and what the
// cut costs.
#include <fstream>
#include <iostream>

#include "analyzer/analysis_json.hpp"
#include "analyzer/analysis_report.hpp"
#include "analyzer/sources.hpp"
#include "cli/analyzer_input.hpp"
#include "cli/command.hpp"
#include "cli/exit_codes.hpp"
#include "common/pq.hpp"

namespace pymigrate::cli
{
namespace
{

struct AnalyzeOptions {
    AnalyzerInput input;
    analyzer::Weights weights;
    analyzer::ClusterOptions cluster;
    std::vector<std::string> pins, renames;
    std::string output, dot, svg;
    int services = 0, min_tables = 0, max_tables = 0;
};

void
write_file(const std::string &path, const std::string &content)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush())
        throw std::runtime_error("cannot write " + path);
}

// --from with --pin moves tables; --rename renames services.
void
edit(analyzer::Analysis &a, const std::map<std::string, std::string> &moves,
     const std::map<std::string, std::string> &renames)
{
    std::vector<analyzer::Service> services;
    for (auto &s : a.services)
        services.push_back(s);
    for (const auto &[table, to] : moves) {
        if (!a.model.schema.find(table))
            throw analyzer::AnalysisError("--pin names table \"" + table + "\", which the analysis does not have");
        for (auto &s : services)
            std::erase(s.tables, table);
        auto it = std::find_if(services.begin(), services.end(), [&](auto &s) { return s.name == to; });
        if (it == services.end()) {
            services.push_back({to, table, {}, 0, 0, 0});
            it = services.end() - 1;
        }
        it->tables.push_back(table);
    }
    for (auto &s : services)
        if (auto r = renames.find(s.name); r != renames.end())
            s.name = r->second;
    a = analyzer::rescore(std::move(a.model), a.weights, std::move(services));
}

int
run(const AnalyzeOptions &o, const GlobalOptions &global)
{
    o.input.check(global);
    std::map<std::string, std::string> pins, renames;
    for (const auto &p : o.pins) {
        auto [tables, service] = split_assignment(p, "--pin");
        std::stringstream ss(tables);
        std::string t;
        while (std::getline(ss, t, ','))
            pins[t] = service;
    }
    for (const auto &r : o.renames)
        renames.insert(split_assignment(r, "--rename"));

    analyzer::Analysis a;
    if (o.input.from_analysis()) {
        a = o.input.load_analysis();
        if (!pins.empty() || !renames.empty())
            edit(a, pins, renames);
    } else {
        if (global.verbose)
            std::cerr << "reading the schema and workload...\n";
        analyzer::Model model = o.input.load(global);
        analyzer::ClusterOptions c = o.cluster;
        c.pins = pins;
        c.renames = renames;
        if (o.services)
            c.services = o.services;
        if (o.min_tables)
            c.min_tables = o.min_tables;
        if (o.max_tables)
            c.max_tables = o.max_tables;
        a = analyzer::analyze(std::move(model), o.weights, c);
    }
    nlohmann::json doc = analyzer::to_json(a);
    if (!o.output.empty())
        write_file(o.output, doc.dump(2) + "\n");
    std::string dot;
    if (!o.dot.empty() || !o.svg.empty())
        dot = analyzer::graphviz_dot(a);
    if (!o.dot.empty())
        write_file(o.dot, dot);
    if (!o.svg.empty())
        analyzer::write_svg(dot, o.svg);
    if (global.json) {
        std::cout << doc.dump(2) << std::endl;
    } else {
        std::cout << analyzer::summary_markdown(a);
        std::string written;
        for (const auto *f : {&o.output, &o.dot, &o.svg})
            if (!f->empty())
                written += (written.empty() ? "" : ", ") + *f;
        if (!written.empty())
            std::cout << "\nWrote " << written << "\n";
        if (!o.output.empty())
            std::cout << "Edit " << o.output << " (move a table between services) and run `pymigrate analyze --from "
                      << o.output << "` to score it again; `pymigrate generate --from " << o.output
                      << " --name SERVICE` writes a service's API.\n";
    }
    return kOk;
}

} // namespace

void
register_analyze(CLI::App &app, GlobalOptions &global, int &exit_code)
{
    auto o = std::make_shared<AnalyzeOptions>();
    auto *cmd =
        app.add_subcommand("analyze", "Recommend service boundaries for the monolith and show what the cut costs");
    cmd->footer(
        "Reads the schema (and pg_stat_statements, pg_stat_user_tables) of --monolith, or a --ddl or --sqlite file,\n"
        "builds a graph of tables (foreign keys, queries, transactions from --log), cuts it with Leiden, and prints\n"
        "the services and the cost of the cut: foreign keys, queries and transactions that would cross services.\n\n"
        "Examples:\n"
        "  pymigrate analyze --monolith 'host=/tmp dbname=shop' -o shop.json --svg shop.svg\n"
        "  pymigrate analyze --ddl schema.sql --log postgresql.csv --services 4 --json\n"
        "  pymigrate analyze --from shop.json --pin coupons=order_service     # move a table, score again\n"
        "  pymigrate analyze --monolith \"$DSN\" --pin users,user_sessions=identity --rename order_service=checkout");
    o->input.add_options(*cmd);
    cmd->add_option("-o,--output", o->output, "write the analysis JSON to this file");
    cmd->add_option("--dot", o->dot, "write the table graph in Graphviz DOT");
    cmd->add_option("--svg", o->svg, "draw the table graph as SVG (Graphviz)");
    cmd->add_option("--seed", o->cluster.seed, "seed of the clustering (the same seed gives the same services)");
    cmd->add_option("--resolution", o->cluster.resolution, "higher: more, smaller services (default 1)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--services", o->services, "cut into exactly this many services")->check(CLI::PositiveNumber);
    cmd->add_option("--min-tables", o->min_tables, "merge services smaller than this")->check(CLI::PositiveNumber);
    cmd->add_option("--max-tables", o->max_tables, "split services larger than this")->check(CLI::PositiveNumber);
    cmd->add_option("--weight-fk", o->weights.foreign_key, "weight of a foreign key (default 1)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--weight-query", o->weights.query, "weight of the most frequent join (default 1)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--weight-tx", o->weights.transaction, "weight of the most frequent co-write (default 1)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--pin", o->pins,
                    "TABLE[,TABLE...]=SERVICE: keep tables in a named service (with --from: move them)");
    cmd->add_option("--rename", o->renames, "OLD=NEW: rename a service");
    cmd->callback([o, &global, &exit_code] { exit_code = run_reporting("analyze", [&] { return run(*o, global); }); });
}

} // namespace pymigrate::cli

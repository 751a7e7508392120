#include "cli/analyzer_input.hpp"

#include <fstream>
#include <iostream>

#include "analyzer/analysis_json.hpp"
#include "analyzer/sources.hpp"
#include "cli/exit_codes.hpp"

namespace pymigrate::cli
{

void
AnalyzerInput::add_options(CLI::App &cmd)
{
    cmd.add_option("--ddl", ddl, "analyze a DDL file (pg_dump --schema-only output works) instead of a database")
        ->check(CLI::ExistingFile);
    cmd.add_option("--sqlite", sqlite, "analyze a SQLite database file")->check(CLI::ExistingFile);
    cmd.add_option("--from", from, "an analysis JSON written by `pymigrate analyze` (possibly edited)")
        ->check(CLI::ExistingFile);
    cmd.add_option("--log", log,
                   "a PostgreSQL statement log (log_statement = 'all' or 'mod'): transactions and the tables they "
                   "write together")
        ->check(CLI::ExistingFile);
    cmd.add_option("--log-format", log_format, "format of --log")
        ->check(CLI::IsMember({"auto", "csvlog", "jsonlog", "stderr"}));
    cmd.add_option("--log-line-prefix", log_line_prefix,
                   "the server's log_line_prefix, for a stderr log (must contain %c and %x)");
}

// $PYMIGRATE_MONOLITH, set once for a whole migration, must not stop
// `generate --from FILE` from working: only a --monolith typed on the command
// line competes with a file source.
bool
AnalyzerInput::reads_monolith(const GlobalOptions &global) const
{
    bool file_source = !ddl.empty() || !sqlite.empty() || !from.empty();
    return !global.monolith.empty() && (global.monolith_explicit || !file_source);
}

void
AnalyzerInput::check(const GlobalOptions &global) const
{
    int n = reads_monolith(global) + !ddl.empty() + !sqlite.empty() + !from.empty();
    if (n != 1)
        throw CLI::ValidationError("give exactly one source: --monolith DSN, --ddl FILE, --sqlite FILE or --from "
                                   "ANALYSIS.json" +
                                   std::string(n ? " (several were given)" : ""));
    if (!from.empty() && !log.empty())
        throw CLI::ValidationError("--log goes with a schema source, not with --from (the analysis already holds "
                                   "its transactions)");
}

analyzer::Model
AnalyzerInput::load(const GlobalOptions &global) const
{
    analyzer::Source src = reads_monolith(global) ? analyzer::load_postgres(global.monolith)
                           : !ddl.empty()         ? analyzer::load_ddl(ddl)
                                                  : analyzer::load_sqlite(sqlite);
    std::optional<analyzer::StatementLog> statement_log;
    if (!log.empty())
        statement_log = analyzer::read_statement_log(log, {log_format, log_line_prefix});
    return analyzer::build_model(std::move(src), statement_log);
}

analyzer::Analysis
AnalyzerInput::load_analysis() const
{
    std::ifstream in(from);
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded())
        throw analyzer::AnalysisError(from + " is not valid JSON");
    try {
        return analyzer::analysis_from_json(j);
    } catch (const analyzer::AnalysisError &e) {
        throw analyzer::AnalysisError(from + ": " + e.what());
    }
}

int
run_reporting(const char *name, const std::function<int()> &body)
{
    try {
        return body();
    } catch (const CLI::Error &) {
        throw;
    } catch (const std::exception &e) {
        std::cerr << "pymigrate " << name << ": " << e.what() << std::endl;
        return kFailed;
    }
}

std::pair<std::string, std::string>
split_assignment(const std::string &s, const char *option)
{
    auto eq = s.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
        throw CLI::ValidationError(std::string(option) + " takes NAME=VALUE, not \"" + s + "\"");
    return {s.substr(0, eq), s.substr(eq + 1)};
}

} // namespace pymigrate::cli

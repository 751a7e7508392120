// A source plus an optional statement log become the model: the workload is
// built from whichever statements there are.
#include "analyzer/sources.hpp"
#include "analyzer/workload.hpp"

namespace pymigrate::analyzer
{

Model
build_model(Source source, const std::optional<StatementLog> &log)
{
    Model m = std::move(source.model);
    WorkloadBuilder b(m.schema);
    std::string query_source = source.query_source;
    for (const auto &[text, calls] : source.queries)
        b.add_query(text, calls);
    if (log) {
        if (source.queries.empty()) {
            for (const auto &s : log->statements)
                b.add_query(s.text, 1);
            query_source = "statement log (" + log->format + ")";
        }
        for (const auto &t : log->transactions)
            b.add_transaction(t);
        if (log->statements.empty())
            m.warnings.push_back("the statement log holds no statements (is log_statement = 'all' or 'mod'?)");
    }
    m.workload = b.finish(query_source);
    if (m.workload.statements_unparsed)
        m.warnings.push_back(std::to_string(m.workload.statements_unparsed) +
                             " distinct statements did not parse as PostgreSQL SQL and were left out");
    return m;
}

} // namespace pymigrate::analyzer

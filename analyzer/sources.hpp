// Where the model comes from: a live PostgreSQL database, a DDL file, a
// SQLite database file; optionally a statement log for transactions.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "analyzer/model.hpp"
#include "analyzer/statement_log.hpp"

namespace pymigrate::analyzer
{

// Bad input the user must fix: a DDL syntax error (file:line:column and the
// parser's message), an unreadable SQLite file, ... Never a crash.
class SourceError : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

// A source's schema plus the statements it saw, before they become a workload.
struct Source {
    Model model;
    std::vector<std::pair<std::string, double>> queries; // text, calls
    std::string query_source = "none";
};

// Catalog, sizes and write counts (pg_stat_user_tables), and queries from
// pg_stat_statements when it is installed and readable; when it is not,
// the analysis goes on without it and a warning says why.
Source load_postgres(const std::string &dsn);
Source load_ddl(const std::string &path);
Source load_sqlite(const std::string &path);

// The model with its workload: the source's queries, and the statement log's
// transactions (whose statements also serve as the queries when the source
// had none).
Model build_model(Source source, const std::optional<StatementLog> &log);

} // namespace pymigrate::analyzer

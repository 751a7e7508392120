// Which tables one parsed statement reads and writes, and whether it begins
// or ends a transaction: what the workload model needs from a statement.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <utility>

namespace pymigrate::analyzer
{

enum class TransactionControl { None, Begin, Commit, Rollback };

struct StatementTables {
    using Name = std::pair<std::string, std::string>; // schema ("" when unqualified), relation
    std::set<Name> read;
    std::set<Name> written; // INSERT / UPDATE / DELETE / MERGE / COPY FROM / TRUNCATE / SELECT FOR UPDATE
    TransactionControl control = TransactionControl::None;
};

// `stmt` is one element of parse_sql()'s "stmts" array ({"stmt": {...}}).
StatementTables statement_tables(const nlohmann::json &stmt);

} // namespace pymigrate::analyzer

// Which tables a validation compares and how each maps to the other side:
// the `tables` and `mapping` arguments of pymigrate.validate() resolved
// against this server's catalog.
//
// mapping: {"<local table>": {"table": "<remote table>",
//                             "columns": {"<local column>": "<remote column>"},
//                             "key": ["<local column>", ...],
//                             "only": ["<local column>", ...],
//                             "exclude": ["<local column>", ...]}}
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "validate/column_plan.hpp"
#include "validate/remote_side.hpp"

namespace pymigrate::validate {

struct TableSpec {
    Oid relid = 0;
    std::string remote_name; // regclass input syntax on the remote side
    std::optional<std::vector<std::string>> key;
    std::optional<std::vector<std::string>> only;
    std::vector<std::string> exclude;
    std::map<std::string, std::string> columns; // local name -> remote name
};

// `tables` (nullopt: every table of this database, outside the system and
// pymigrate schemas, that `remote_has` says the remote side has too; tables
// skipped are reported as NOTICEs). Errors name the table or option.
std::vector<TableSpec> resolve_tables(const std::optional<std::vector<std::string>> &tables,
                                      const std::string &mapping_json,
                                      const std::function<bool(const std::string &)> &remote_has);

// The local plan of a spec (only / exclude / key applied), and the remote
// table with the same columns under their mapped names.
TablePlan plan_local(const TableSpec &spec);
RemoteTable remote_table(const TableSpec &spec, const TablePlan &plan);

} // namespace pymigrate::validate

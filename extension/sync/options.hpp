// The options of a subscription (pymigrate.subscription.options) and of
// each of its tables (pymigrate.subscription_table.options): node names,
// conflict rules, capture mode, column mapping. Parsed the strict way (every
// key known, every value checked, errors naming the key and the table) by
// the SQL API before anything is stored, and again by the apply worker.
//
//   subscription: {"local_node": "service", "remote_node": "monolith",
//                  "capture": "logical" | "trigger",
//                  <conflict rules>}
//   table:        {"table": "schema.remote_table",
//                  "columns": {"local column": "remote column"},
//                  "ignore": ["remote column", ...],
//                  <conflict rules overriding the subscription's>}
//   conflict rules: "strategy": last_write_wins | priority | custom |
//                               keep_local | apply_remote | error,
//                   "priority": ["node", ...]           (first wins),
//                   "column_priority": {"column": "node"},
//                   "resolver": "schema.function",
//                   "update_missing": skip | insert | error,
//                   "delete_missing": skip | error
//
// C++ only (no PostgreSQL calls): errors are pg::Error.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pymigrate::sync {

enum class Strategy : int { LastWriteWins, Priority, Custom, KeepLocal, ApplyRemote, Error };
enum class MissingAction : int { Skip, Insert, Error };

const char *strategy_name(Strategy s);
const char *missing_action_name(MissingAction a);

struct ConflictOptions {
    std::optional<Strategy> strategy;
    std::optional<std::vector<std::string>> priority;
    std::optional<std::map<std::string, std::string>> column_priority; // local column -> node
    std::optional<std::string> resolver;
    std::optional<MissingAction> update_missing;
    std::optional<MissingAction> delete_missing;

    // `over` wins where it says something.
    ConflictOptions merged_with(const ConflictOptions &over) const;
};

// What a table's conflicts are decided by: the subscription's rules with the
// table's overrides, defaults filled in.
struct ConflictRules {
    Strategy strategy = Strategy::LastWriteWins;
    std::vector<std::string> priority;
    std::map<std::string, std::string> column_priority;
    std::string resolver; // "" unless custom
    // Unset: by strategy (README "Conflicts": priority inserts when the
    // remote node ranks above this one, apply_remote inserts, error holds,
    // the others skip).
    std::optional<MissingAction> update_missing;
    MissingAction delete_missing = MissingAction::Skip;
};

// `where` names the table in errors (a strategy without its keys).
ConflictRules effective_rules(const ConflictOptions &sub, const ConflictOptions &table, const std::string &where);

struct SubscriptionOptions {
    std::string local_node;
    std::string remote_node;
    std::string capture = "logical";
    ConflictOptions conflict;
};

struct TableOptions {
    std::optional<std::string> remote_table;    // as given ("schema.table" or "table")
    std::map<std::string, std::string> columns; // local column -> remote column
    std::vector<std::string> ignore;            // remote columns not applied here
    ConflictOptions conflict;
};

// Parse a JSON object; `where` names it in errors ("options", "table_options
// of public.users"). Throw pg::Error (22023) naming the bad key.
SubscriptionOptions parse_subscription_options(const std::string &json);
TableOptions parse_table_options(const std::string &json, const std::string &where);

// Back to JSON (what is stored): only the keys that are set.
std::string to_json(const SubscriptionOptions &o);
std::string to_json(const TableOptions &o);

// `base` with the keys of `patch` set (a JSON null removes a key): how
// alter_subscription changes stored options. Both are JSON objects.
std::string merge_json_objects(const std::string &base, const std::string &patch);

// Node names and function names: non-empty, at most 63 bytes.
void check_node_name(const std::string &name, const std::string &what);

} // namespace pymigrate::sync

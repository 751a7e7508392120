// Subscription and table options (options.hpp).
// Before PostgreSQL's headers, whose port.h redefines snprintf.
#include <nlohmann/json.hpp>

#include "sync/options.hpp"

#include "pg/errors.hpp"
#include "pg/postgres.hpp"

#include <set>

namespace pymigrate::sync {

using json = nlohmann::json;
using pg::Error;

namespace {

const std::map<std::string, Strategy> kStrategies = {
    {"last_write_wins", Strategy::LastWriteWins}, {"priority", Strategy::Priority},
    {"custom", Strategy::Custom},                 {"keep_local", Strategy::KeepLocal},
    {"apply_remote", Strategy::ApplyRemote},      {"error", Strategy::Error},
};

[[noreturn]] void
bad(const std::string &where, const std::string &message, const std::string &hint = {})
{
    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, where + ": " + message, {}, hint);
}

json
parse_object(const std::string &text, const std::string &where)
{
    json v;
    try {
        v = json::parse(text);
    } catch (const json::exception &e) {
        bad(where, std::string("not valid JSON: ") + e.what());
    }
    if (!v.is_object())
        bad(where, "must be a JSON object");
    return v;
}

std::string
string_value(const json &v, const std::string &where)
{
    if (!v.is_string())
        bad(where, "must be a string, not " + v.dump());
    return v.get<std::string>();
}

std::vector<std::string>
string_list(const json &v, const std::string &where)
{
    if (!v.is_array())
        bad(where, "must be a JSON array of strings, not " + v.dump());
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto &e : v) {
        std::string s = string_value(e, where);
        if (s.empty())
            bad(where, "has an empty name");
        if (!seen.insert(s).second)
            bad(where, "lists \"" + s + "\" twice");
        out.push_back(s);
    }
    return out;
}

std::map<std::string, std::string>
string_map(const json &v, const std::string &where)
{
    if (!v.is_object())
        bad(where, "must be a JSON object of strings, not " + v.dump());
    std::map<std::string, std::string> out;
    for (const auto &[k, e] : v.items()) {
        if (k.empty())
            bad(where, "has an empty name");
        out[k] = string_value(e, where + "." + k);
    }
    return out;
}

MissingAction
missing_action(const json &v, const std::string &where, bool insert_allowed)
{
    std::string s = string_value(v, where);
    if (s == "skip")
        return MissingAction::Skip;
    if (s == "error")
        return MissingAction::Error;
    if (s == "insert" && insert_allowed)
        return MissingAction::Insert;
    bad(where, "unknown action \"" + s + "\"",
        insert_allowed ? "Use skip (log and go on), insert (insert the remote row) or error (hold the change)."
                       : "Use skip (log and go on) or error (hold the change).");
}

// Reads the conflict keys of `v` into `out`; returns whether `key` was one.
bool
conflict_key(const std::string &key, const json &value, const std::string &where, ConflictOptions &out)
{
    std::string at = where + "." + key;
    if (key == "strategy") {
        std::string s = string_value(value, at);
        auto it = kStrategies.find(s);
        if (it == kStrategies.end())
            bad(at, "unknown conflict strategy \"" + s + "\"",
                "Use one of last_write_wins, priority, custom, keep_local, apply_remote, error.");
        out.strategy = it->second;
    } else if (key == "priority") {
        auto list = string_list(value, at);
        if (list.empty())
            bad(at, "must name at least one node");
        for (const auto &n : list)
            check_node_name(n, at);
        out.priority = list;
    } else if (key == "column_priority") {
        auto map = string_map(value, at);
        for (const auto &[col, node] : map)
            check_node_name(node, at + "." + col);
        out.column_priority = map;
    } else if (key == "resolver") {
        std::string s = string_value(value, at);
        if (s.empty())
            bad(at, "must name a function");
        out.resolver = s;
    } else if (key == "update_missing") {
        out.update_missing = missing_action(value, at, true);
    } else if (key == "delete_missing") {
        out.delete_missing = missing_action(value, at, false);
    } else {
        return false;
    }
    return true;
}

// Keys that only one strategy reads are an error with another, so that a
// half-edited configuration does not silently mean something else.
void
check_conflict(const ConflictOptions &c, Strategy strategy, const std::string &where)
{
    if (strategy != Strategy::Custom && c.resolver)
        bad(where + ".resolver", "is only read by strategy custom, not " + std::string(strategy_name(strategy)));
    if (strategy != Strategy::Priority && (c.priority || c.column_priority))
        bad(where + (c.priority ? ".priority" : ".column_priority"),
            "is only read by strategy priority, not " + std::string(strategy_name(strategy)));
}

void
put_conflict(json &out, const ConflictOptions &c)
{
    if (c.strategy)
        out["strategy"] = strategy_name(*c.strategy);
    if (c.priority)
        out["priority"] = *c.priority;
    if (c.column_priority)
        out["column_priority"] = *c.column_priority;
    if (c.resolver)
        out["resolver"] = *c.resolver;
    if (c.update_missing)
        out["update_missing"] = missing_action_name(*c.update_missing);
    if (c.delete_missing)
        out["delete_missing"] = missing_action_name(*c.delete_missing);
}

} // namespace

const char *
strategy_name(Strategy s)
{
    for (const auto &[name, value] : kStrategies)
        if (value == s)
            return name.c_str();
    return "?";
}

const char *
missing_action_name(MissingAction a)
{
    switch (a) {
    case MissingAction::Skip:
        return "skip";
    case MissingAction::Insert:
        return "insert";
    case MissingAction::Error:
        return "error";
    }
    return "?";
}

void
check_node_name(const std::string &name, const std::string &what)
{
    if (name.empty() || name.size() > 63)
        bad(what, "a node name must have 1 to 63 characters, not \"" + name + "\"");
}

ConflictOptions
ConflictOptions::merged_with(const ConflictOptions &over) const
{
    ConflictOptions r = *this;
    if (over.strategy) {
        // A table that picks another strategy does not inherit the
        // subscription's keys of the old one.
        if (!strategy || *over.strategy != *strategy) {
            r.priority.reset();
            r.column_priority.reset();
            r.resolver.reset();
        }
        r.strategy = over.strategy;
    }
    if (over.priority)
        r.priority = over.priority;
    if (over.column_priority)
        r.column_priority = over.column_priority;
    if (over.resolver)
        r.resolver = over.resolver;
    if (over.update_missing)
        r.update_missing = over.update_missing;
    if (over.delete_missing)
        r.delete_missing = over.delete_missing;
    return r;
}

ConflictRules
effective_rules(const ConflictOptions &sub, const ConflictOptions &table, const std::string &where)
{
    ConflictOptions c = sub.merged_with(table);
    ConflictRules r;
    r.strategy = c.strategy.value_or(Strategy::LastWriteWins);
    check_conflict(c, r.strategy, where);
    if (c.priority)
        r.priority = *c.priority;
    if (c.column_priority)
        r.column_priority = *c.column_priority;
    if (r.strategy == Strategy::Priority && r.priority.empty() && r.column_priority.empty())
        bad(where, "strategy priority needs \"priority\" (the nodes, first wins) or \"column_priority\"");
    if (r.strategy == Strategy::Custom) {
        if (!c.resolver)
            bad(where, "strategy custom needs \"resolver\": a function (tbl regclass, local jsonb, remote jsonb, "
                           "info jsonb) returning jsonb");
        r.resolver = *c.resolver;
    }
    r.update_missing = c.update_missing;
    r.delete_missing = c.delete_missing.value_or(r.strategy == Strategy::Error ? MissingAction::Error
                                                                                 : MissingAction::Skip);
    return r;
}

SubscriptionOptions
parse_subscription_options(const std::string &text)
{
    json v = parse_object(text, "options");
    SubscriptionOptions o;
    for (const auto &[key, value] : v.items()) {
        std::string at = "options." + key;
        if (key == "local_node") {
            o.local_node = string_value(value, at);
            check_node_name(o.local_node, at);
        } else if (key == "remote_node") {
            o.remote_node = string_value(value, at);
            check_node_name(o.remote_node, at);
        } else if (key == "capture") {
            o.capture = string_value(value, at);
            if (o.capture != "logical" && o.capture != "trigger")
                bad(at, "unknown capture \"" + o.capture + "\"",
                    "logical (the provider's WAL through the pymigrate output plugin, needs wal_level = logical) or "
                    "trigger (capture triggers on the provider write pymigrate.change_log).");
        } else if (!conflict_key(key, value, "options", o.conflict)) {
            bad("options", "unknown key \"" + key + "\"",
                "Keys: local_node, remote_node, capture, strategy, priority, column_priority, resolver, "
                "update_missing, delete_missing.");
        }
    }
    check_conflict(o.conflict, o.conflict.strategy.value_or(Strategy::LastWriteWins), "options");
    if (!o.local_node.empty() && o.local_node == o.remote_node)
        bad("options", "local_node and remote_node are both \"" + o.local_node + "\"",
            "Give the two databases different node names (they break ties and order priorities).");
    return o;
}

TableOptions
parse_table_options(const std::string &text, const std::string &where)
{
    json v = parse_object(text, where);
    TableOptions o;
    for (const auto &[key, value] : v.items()) {
        std::string at = where + "." + key;
        if (key == "table") {
            o.remote_table = string_value(value, at);
            if (o.remote_table->empty())
                bad(at, "must name the provider's table");
        } else if (key == "columns") {
            o.columns = string_map(value, at);
            std::set<std::string> remote;
            for (const auto &[local, r] : o.columns)
                if (!remote.insert(r).second)
                    bad(at, "maps two columns to the provider's column \"" + r + "\"");
        } else if (key == "ignore") {
            o.ignore = string_list(value, at);
        } else if (!conflict_key(key, value, where, o.conflict)) {
            bad(where, "unknown key \"" + key + "\"",
                "Keys: table, columns, ignore, strategy, priority, column_priority, resolver, update_missing, "
                "delete_missing.");
        }
    }
    if (o.conflict.strategy)
        check_conflict(o.conflict, *o.conflict.strategy, where);
    for (const auto &[local, r] : o.columns)
        for (const auto &i : o.ignore)
            if (i == r)
                bad(where, "the provider's column \"" + r + "\" is both mapped (to \"" + local + "\") and ignored");
    return o;
}

std::string
to_json(const SubscriptionOptions &o)
{
    json out = json::object();
    if (!o.local_node.empty())
        out["local_node"] = o.local_node;
    if (!o.remote_node.empty())
        out["remote_node"] = o.remote_node;
    if (o.capture != "logical")
        out["capture"] = o.capture;
    put_conflict(out, o.conflict);
    return out.dump();
}

std::string
to_json(const TableOptions &o)
{
    json out = json::object();
    if (o.remote_table)
        out["table"] = *o.remote_table;
    if (!o.columns.empty())
        out["columns"] = o.columns;
    if (!o.ignore.empty())
        out["ignore"] = o.ignore;
    put_conflict(out, o.conflict);
    return out.dump();
}

std::string
merge_json_objects(const std::string &base, const std::string &patch)
{
    json b = parse_object(base, "stored options");
    json p = parse_object(patch, "options");
    for (const auto &[k, v] : p.items()) {
        if (v.is_null())
            b.erase(k);
        else
            b[k] = v;
    }
    return b.dump();
}

} // namespace pymigrate::sync

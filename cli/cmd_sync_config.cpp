// The configuration of `pymigrate sync setup` (cmd_sync.hpp): a YAML file
// checked key by key, every error naming its line, or a --tables list.
#include <yaml-cpp/yaml.h>

#include <set>
#include <sstream>

#include "cli/cmd_sync.hpp"

namespace pymigrate::cli::sync
{

using nlohmann::json;

namespace
{

[[noreturn]] void
fail(const std::string &file, const YAML::Node &at, const std::string &what)
{
    std::ostringstream out;
    out << file;
    if (at.IsDefined() && at.Mark().line >= 0)
        out << ":" << at.Mark().line + 1;
    out << ": " << what;
    throw ConfigError(out.str());
}

// Keys of a mapping, each checked against `known`.
void
check_keys(const std::string &file, const YAML::Node &map, const std::string &where, const std::set<std::string> &known)
{
    if (!map.IsMap())
        fail(file, map, where + " must be a mapping");
    for (const auto &kv : map) {
        auto key = kv.first.as<std::string>();
        if (!known.count(key)) {
            std::string list;
            for (const auto &k : known)
                list += (list.empty() ? "" : ", ") + k;
            fail(file, kv.first, "unknown key \"" + key + "\" in " + where + " (known: " + list + ")");
        }
    }
}

std::string
scalar(const std::string &file, const YAML::Node &n, const std::string &what)
{
    if (!n.IsScalar() || n.Scalar().empty())
        fail(file, n, what + " must be a non-empty string");
    return n.Scalar();
}

bool
boolean(const std::string &file, const YAML::Node &n, const std::string &what)
{
    bool out = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, out))
        fail(file, n, what + " must be true or false");
    return out;
}

std::vector<std::string>
string_list(const std::string &file, const YAML::Node &n, const std::string &what)
{
    if (!n.IsSequence())
        fail(file, n, what + " must be a list");
    std::vector<std::string> out;
    for (const auto &item : n)
        out.push_back(scalar(file, item, "an item of " + what));
    return out;
}

std::map<std::string, std::string>
string_map(const std::string &file, const YAML::Node &n, const std::string &what)
{
    if (!n.IsMap())
        fail(file, n, what + " must be a mapping");
    std::map<std::string, std::string> out;
    for (const auto &kv : n)
        out[scalar(file, kv.first, "a key of " + what)] = scalar(file, kv.second, what + "." + kv.first.Scalar());
    return out;
}

const std::set<std::string> kStrategies = {"last_write_wins", "priority",     "custom",
                                           "keep_local",      "apply_remote", "error"};

// The conflict rules, as the extension reads them (options.hpp).
json
conflict_rules(const std::string &file, const YAML::Node &n, const std::string &where)
{
    check_keys(file, n, where,
               {"strategy", "priority", "column_priority", "resolver", "update_missing", "delete_missing"});
    json out = json::object();
    if (n["strategy"]) {
        std::string s = scalar(file, n["strategy"], where + ".strategy");
        if (!kStrategies.count(s))
            fail(file, n["strategy"],
                 where + ".strategy: unknown strategy \"" + s +
                     "\" (use last_write_wins, priority, custom, keep_local, apply_remote or error)");
        out["strategy"] = s;
    }
    if (n["priority"])
        out["priority"] = string_list(file, n["priority"], where + ".priority");
    if (n["column_priority"])
        out["column_priority"] = string_map(file, n["column_priority"], where + ".column_priority");
    if (n["resolver"])
        out["resolver"] = scalar(file, n["resolver"], where + ".resolver");
    for (const char *k : {"update_missing", "delete_missing"})
        if (n[k]) {
            std::string a = scalar(file, n[k], where + "." + k);
            bool ok = a == "skip" || a == "error" || (a == "insert" && std::string(k) == "update_missing");
            if (!ok)
                fail(file, n[k],
                     where + "." + k + ": unknown action \"" + a + "\" (use skip, " +
                         (std::string(k) == "update_missing" ? "insert or error)" : "or error)"));
            out[k] = a;
        }
    return out;
}

SyncTable
table_entry(const std::string &file, const YAML::Node &n, size_t i)
{
    std::string where = "tables[" + std::to_string(i) + "]";
    SyncTable t;
    if (n.IsScalar()) {
        t.monolith = t.service = scalar(file, n, where);
        return t;
    }
    check_keys(file, n, where, {"monolith", "service", "columns", "monolith_only", "service_only", "conflict"});
    if (!n["monolith"])
        fail(file, n, where + " needs \"monolith\": the table's name in the monolith");
    t.monolith = scalar(file, n["monolith"], where + ".monolith");
    t.service = n["service"] ? scalar(file, n["service"], where + ".service") : t.monolith;
    if (n["columns"])
        t.columns = string_map(file, n["columns"], where + ".columns");
    if (n["monolith_only"])
        t.monolith_only = string_list(file, n["monolith_only"], where + ".monolith_only");
    if (n["service_only"])
        t.service_only = string_list(file, n["service_only"], where + ".service_only");
    if (n["conflict"])
        t.conflict = conflict_rules(file, n["conflict"], where + ".conflict");
    return t;
}

} // namespace

SyncConfig
load_config(const std::string &path)
{
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::BadFile &) {
        throw ConfigError("cannot read the configuration file " + path);
    } catch (const YAML::Exception &e) {
        throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    SyncConfig c;
    check_keys(path, root, "the configuration", {"name", "nodes", "capture", "copy", "peer_dsn", "conflict", "tables"});
    if (root["name"])
        c.name = scalar(path, root["name"], "name");
    if (root["nodes"]) {
        check_keys(path, root["nodes"], "nodes", {"monolith", "service"});
        if (root["nodes"]["monolith"])
            c.monolith_node = scalar(path, root["nodes"]["monolith"], "nodes.monolith");
        if (root["nodes"]["service"])
            c.service_node = scalar(path, root["nodes"]["service"], "nodes.service");
        if (c.monolith_node == c.service_node)
            fail(path, root["nodes"], "nodes: the monolith and the service need different names");
    }
    if (root["capture"]) {
        c.capture = scalar(path, root["capture"], "capture");
        if (c.capture != "logical" && c.capture != "trigger")
            fail(path, root["capture"], "capture: \"" + c.capture + "\" is neither logical nor trigger");
    }
    if (root["copy"])
        c.copy = boolean(path, root["copy"], "copy");
    if (root["peer_dsn"]) {
        check_keys(path, root["peer_dsn"], "peer_dsn", {"monolith", "service"});
        if (root["peer_dsn"]["monolith"])
            c.monolith_peer_dsn = scalar(path, root["peer_dsn"]["monolith"], "peer_dsn.monolith");
        if (root["peer_dsn"]["service"])
            c.service_peer_dsn = scalar(path, root["peer_dsn"]["service"], "peer_dsn.service");
    }
    if (root["conflict"])
        c.conflict = conflict_rules(path, root["conflict"], "conflict");
    if (!root["tables"] || !root["tables"].IsSequence() || root["tables"].size() == 0)
        fail(path, root["tables"] ? root["tables"] : root, "tables: a list of at least one table is needed");
    std::set<std::string> seen;
    for (size_t i = 0; i < root["tables"].size(); ++i) {
        const YAML::Node &n = root["tables"][i];
        c.tables.push_back(table_entry(path, n, i));
        if (!seen.insert(c.tables.back().monolith).second)
            fail(path, n, "tables: " + c.tables.back().monolith + " is listed twice");
    }
    return c;
}

std::vector<SyncTable>
tables_from_list(const std::vector<std::string> &items)
{
    std::vector<SyncTable> out;
    for (const auto &item : items) {
        std::stringstream ss(item);
        std::string part;
        while (std::getline(ss, part, ',')) {
            if (part.empty())
                continue;
            SyncTable t;
            t.monolith = t.service = part;
            out.push_back(t);
        }
    }
    if (out.empty())
        throw ConfigError("--tables: no table named");
    return out;
}

json
subscription_options(const SyncConfig &c, bool on_service)
{
    json o = c.conflict;
    o["local_node"] = on_service ? c.service_node : c.monolith_node;
    o["remote_node"] = on_service ? c.monolith_node : c.service_node;
    // Only the monolith may lack logical decoding: the service's
    // subscription reads it by trigger then; the other way is logical.
    o["capture"] = on_service ? c.capture : "logical";
    return o;
}

json
table_options(const SyncConfig &c, bool on_service)
{
    json out = json::object();
    for (const auto &t : c.tables) {
        json o = t.conflict;
        const std::string &local = on_service ? t.service : t.monolith;
        const std::string &remote = on_service ? t.monolith : t.service;
        if (local != remote)
            o["table"] = remote;
        json cols = json::object();
        for (const auto &[m, s] : t.columns)
            cols[on_service ? s : m] = on_service ? m : s;
        if (!cols.empty())
            o["columns"] = cols;
        const auto &ignore = on_service ? t.monolith_only : t.service_only;
        if (!ignore.empty())
            o["ignore"] = ignore;
        // column_priority names columns as they are called on this side.
        if (on_service && o.contains("column_priority")) {
            json renamed = json::object();
            for (auto &[col, node] : o["column_priority"].items())
                renamed[t.columns.count(col) ? t.columns.at(col) : col] = node;
            o["column_priority"] = renamed;
        }
        if (!o.empty())
            out[local] = o;
    }
    return out;
}

std::vector<std::string>
local_tables(const SyncConfig &c, bool on_service)
{
    std::vector<std::string> out;
    for (const auto &t : c.tables)
        out.push_back(on_service ? t.service : t.monolith);
    return out;
}

std::string
service_subscription(const std::string &name)
{
    return name + "_from_monolith";
}

std::string
monolith_subscription(const std::string &name)
{
    return name + "_from_service";
}

} // namespace pymigrate::cli::sync

// Catalog checks of subscription options and mappings (options_check.hpp).
// Before PostgreSQL's headers, whose port.h redefines snprintf.
#include <nlohmann/json.hpp>

#include "sync/options_check.hpp"

#include "pg/guard.hpp"

#include "common/pq.hpp"

#include <libpq-fe.h>

extern "C" {
#include "catalog/pg_type.h"
}

#include <algorithm>
#include <set>

namespace pymigrate::sync
{

using json = nlohmann::json;
using pg::Error;
using pg::Spi;

namespace
{

struct Column {
    std::string name;
    std::string type;
    char category;
    bool identity_key; // sent as part of the key (replica identity)
    bool find_key;     // in the index that finds rows here (local side)
};

const char *kColumnsSql =
    "SELECT a.attname, tn.nspname || '.' || ty.typname, ty.typcategory, "
    " CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false ELSE a.attnum = ANY (coalesce((SELECT "
    "   i.indkey::int2[] FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'i' "
    "   THEN i.indisreplident ELSE i.indisprimary END LIMIT 1), '{}'::int2[])) END, "
    " coalesce(a.attnum = ANY (coalesce((SELECT i.indkey::int2[] FROM pg_catalog.pg_index i WHERE i.indrelid = "
    "   c.oid AND i.indisreplident AND c.relreplident = 'i'), (SELECT i.indkey::int2[] FROM pg_catalog.pg_index i "
    "   WHERE i.indrelid = c.oid AND i.indisprimary))), false) "
    "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace "
    "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
    "ORDER BY a.attnum";

std::vector<Column>
local_columns(Spi &spi, const std::string &table)
{
    std::vector<Column> out;
    for (const auto &r : spi.query(kColumnsSql, {{TEXTOID, table}}, true))
        out.push_back({*r[0], *r[1], (*r[2])[0], *r[3] == "t", *r[4] == "t"});
    return out;
}

std::vector<Column>
remote_columns(pg::RemoteConnection &conn, const std::string &table)
{
    pq::Result r = conn.exec(kColumnsSql, {table});
    std::vector<Column> out;
    for (int i = 0; i < r.rows(); ++i)
        out.push_back({std::string(r.value(i, 0)), std::string(r.value(i, 1)), r.value(i, 2)[0], r.value(i, 3) == "t",
                       r.value(i, 4) == "t"});
    return out;
}

const Column *
find(const std::vector<Column> &cols, const std::string &name)
{
    for (const auto &c : cols)
        if (c.name == name)
            return &c;
    return nullptr;
}

// Types whose values convert through their text form: the same type, or
// both of one category of built-in kinds (numbers, strings, date/time,
// booleans, network addresses, bit strings).
bool
compatible(const Column &local, const Column &remote)
{
    if (local.type == remote.type)
        return true;
    static const std::string convertible = "NSDBIVT";
    return local.category == remote.category && convertible.find(local.category) != std::string::npos;
}

std::string
database_of(const std::string &dsn)
{
    char *err = nullptr;
    PQconninfoOption *opts = PQconninfoParse(dsn.c_str(), &err);
    if (err)
        PQfreemem(err);
    std::string db, user;
    for (PQconninfoOption *o = opts; o && o->keyword; ++o) {
        if (std::string_view(o->keyword) == "dbname" && o->val)
            db = o->val;
        if (std::string_view(o->keyword) == "user" && o->val)
            user = o->val;
    }
    if (opts)
        PQconninfoFree(opts);
    if (db.find('=') != std::string::npos)
        db.clear(); // a connection string in dbname: no name to take
    return !db.empty() ? db : (!user.empty() ? user : "provider");
}

// The resolver as regprocedure text; its checks.
std::string
check_resolver(Spi &spi, const std::string &name, const std::string &where)
{
    std::string signature = name.find('(') == std::string::npos ? name + "(regclass,jsonb,jsonb,jsonb)" : name;
    std::optional<std::vector<pg::SpiRow>> rows;
    try {
        rows = spi.query("SELECT p.oid::regprocedure::text, p.prorettype = 'jsonb'::regtype, r.rolsuper, "
                         " p.pronargs = 4 AND p.proargtypes[0] = 'pg_catalog.regclass'::pg_catalog.regtype "
                         " AND p.proargtypes[1] = 'pg_catalog.jsonb'::pg_catalog.regtype "
                         " AND p.proargtypes[2] = 'pg_catalog.jsonb'::pg_catalog.regtype "
                         " AND p.proargtypes[3] = 'pg_catalog.jsonb'::pg_catalog.regtype "
                         "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner "
                         "WHERE p.oid = pg_catalog.to_regprocedure($1)",
                         {{TEXTOID, signature}}, true);
    } catch (const pg::PgError &e) {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                    where + ".resolver: \"" + name + "\" is not a function name: " + e.what());
    }
    if (rows->empty())
        throw Error(ERRCODE_UNDEFINED_FUNCTION, where + ".resolver: function " + signature + " does not exist", {},
                    "A resolver takes (tbl regclass, local jsonb, remote jsonb, info jsonb) and returns jsonb: the "
                    "row to keep, or NULL to keep the local row.");
    const auto &r = (*rows)[0];
    if (*r[3] != "t")
        throw Error(ERRCODE_INVALID_FUNCTION_DEFINITION,
                    where + ".resolver: " + *r[0] + " must take (regclass, jsonb, jsonb, jsonb)");
    if (*r[1] != "t")
        throw Error(ERRCODE_INVALID_FUNCTION_DEFINITION, where + ".resolver: " + *r[0] + " must return jsonb");
    if (*r[2] != "t")
        throw Error(ERRCODE_INSUFFICIENT_PRIVILEGE, where + ".resolver: " + *r[0] + " is not owned by a superuser",
                    "The apply worker runs it with superuser rights, so its owner could run anything.",
                    "ALTER FUNCTION ... OWNER TO a superuser.");
    return *r[0];
}

void
check_nodes(const std::vector<std::string> &names, const std::set<std::string> &known, const std::string &where,
            const SubscriptionOptions &o)
{
    for (const auto &n : names)
        if (!known.count(n))
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, where + " names node \"" + n + "\", which is not known here",
                        "This subscription's nodes are \"" + o.local_node + "\" (this database) and \"" +
                            o.remote_node + "\" (the provider).",
                        "Use those names (or set local_node / remote_node in the options).");
}

void
check_conflict_refs(Spi &spi, ConflictOptions &c, const std::string &where, const std::set<std::string> &nodes,
                    const SubscriptionOptions &o, const std::vector<std::vector<Column>> &columns_of_tables)
{
    if (c.resolver)
        c.resolver = check_resolver(spi, *c.resolver, where);
    if (c.priority)
        check_nodes(*c.priority, nodes, where + ".priority", o);
    if (c.column_priority) {
        std::vector<std::string> winners;
        for (const auto &[col, node] : *c.column_priority) {
            winners.push_back(node);
            bool exists = false;
            for (const auto &cols : columns_of_tables)
                exists = exists || find(cols, col) != nullptr;
            if (!exists)
                throw Error(ERRCODE_UNDEFINED_COLUMN, where + ".column_priority names column \"" + col + "\", which " +
                                                          (columns_of_tables.size() == 1 ? "the table does not have"
                                                                                         : "no subscribed table has"));
        }
        check_nodes(winners, nodes, where + ".column_priority", o);
    }
}

} // namespace

std::map<TableKey, std::string>
split_table_options(Spi &spi, const std::string &text, const std::vector<SubscribedTable> &tables)
{
    json v;
    try {
        v = json::parse(text);
    } catch (const json::exception &e) {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, std::string("table_options is not valid JSON: ") + e.what());
    }
    if (!v.is_object())
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "table_options must be a JSON object keyed by table name");
    std::map<TableKey, std::string> out;
    for (const auto &[name, entry] : v.items()) {
        auto rows = spi.query("SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                              "ON n.oid = c.relnamespace WHERE c.oid = pg_catalog.to_regclass($1)",
                              {{TEXTOID, name}}, true);
        TableKey key;
        if (!rows.empty())
            key = {*rows[0][0], *rows[0][1]};
        bool listed = false;
        for (const auto &t : tables)
            listed = listed || (t.local_schema == key.first && t.local_table == key.second);
        if (rows.empty() || !listed)
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                        "table_options names \"" + name + "\", which is not a table of this subscription", {},
                        "Its keys are the local tables, as given in tables (or add_tables).");
        if (out.count(key))
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                        "table_options names " + qualified_name(key.first, key.second) + " twice");
        out[key] = entry.dump();
    }
    return out;
}

std::map<TableKey, TableOptions>
parse_table_options_arg(Spi &spi, const std::string &text, const std::vector<SubscribedTable> &tables)
{
    std::map<TableKey, TableOptions> out;
    for (const auto &[key, entry] : split_table_options(spi, text, tables))
        out[key] = parse_table_options(entry, "table_options of " + qualified_name(key.first, key.second));
    return out;
}

void
set_remote_name(Spi &spi, SubscribedTable &t, const TableOptions &o)
{
    t.remote_schema = t.local_schema;
    t.remote_table = t.local_table;
    if (!o.remote_table)
        return;
    std::vector<pg::SpiRow> parts;
    try {
        parts = spi.query("SELECT pg_catalog.unnest(pg_catalog.parse_ident($1))", {{TEXTOID, *o.remote_table}}, true);
    } catch (const pg::PgError &e) {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                    "table_options of " + qualified_name(t.local_schema, t.local_table) + ".table: " + e.what());
    }
    if (parts.size() == 1) {
        t.remote_table = *parts[0][0];
    } else if (parts.size() == 2) {
        t.remote_schema = *parts[0][0];
        t.remote_table = *parts[1][0];
    } else {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "table_options of " +
                                                         qualified_name(t.local_schema, t.local_table) + ".table: \"" +
                                                         *o.remote_table + "\" is not a table name (schema.table)");
    }
}

SubscriptionOptions
check_options(Spi &spi, SubscriptionOptions o, const std::string &provider_dsn, std::vector<SubscribedTable> &tables,
              std::map<TableKey, TableOptions> &table_options)
{
    if (o.local_node.empty())
        o.local_node = *spi.scalar("SELECT pg_catalog.current_database()::text", {}, true);
    if (o.remote_node.empty()) {
        o.remote_node = database_of(provider_dsn);
        if (o.remote_node == o.local_node)
            o.remote_node += "@provider";
    }
    if (o.local_node == o.remote_node)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                    "options: local_node and remote_node are both \"" + o.local_node + "\"", {},
                    "Give the two databases different node names.");
    std::set<std::string> nodes = {o.local_node, o.remote_node};
    for (const auto &r : spi.query("SELECT DISTINCT options->>'remote_node' FROM pymigrate.subscription "
                                   "WHERE options ? 'remote_node'",
                                   {}, true))
        nodes.insert(*r[0]);

    std::vector<std::vector<Column>> all_columns;
    for (const auto &t : tables)
        all_columns.push_back(local_columns(spi, qualified_name(t.local_schema, t.local_table)));
    check_conflict_refs(spi, o.conflict, "options", nodes, o, all_columns);
    for (size_t i = 0; i < tables.size(); ++i) {
        SubscribedTable &t = tables[i];
        std::string name = qualified_name(t.local_schema, t.local_table);
        std::string where = "table_options of " + name;
        TableOptions &to = table_options[{t.local_schema, t.local_table}];
        check_conflict_refs(spi, to.conflict, where, nodes, o, {all_columns[i]});
        // The whole set of rules must make sense for the table.
        (void)effective_rules(o.conflict, to.conflict, where);
        // Local side of the mapping.
        const auto &cols = all_columns[i];
        for (const auto &[local, remote] : to.columns)
            if (!find(cols, local))
                throw Error(ERRCODE_UNDEFINED_COLUMN,
                            where + ".columns names column \"" + local + "\", which " + name + " does not have", {},
                            "Map the table's own columns: {\"local column\": \"provider column\"}.");
        t.options = to_json(to);
    }
    return o;
}

void
check_mapping_remote(pg::RemoteConnection &conn, Spi &spi, const SubscribedTable &t, const TableOptions &o)
{
    std::string local_name = qualified_name(t.local_schema, t.local_table);
    std::string remote_name = qualified_name(t.remote_schema, t.remote_table);
    std::string where = "the mapping of " + local_name + " to the provider's " + remote_name;
    auto local = local_columns(spi, local_name);
    auto remote = remote_columns(conn, remote_name);
    std::set<std::string> remote_used;
    for (const auto &[l, r] : o.columns)
        if (!find(remote, r))
            throw Error(ERRCODE_UNDEFINED_COLUMN,
                        where + ": column \"" + l + "\" is mapped to \"" + r +
                            "\", which the provider's table does "
                            "not have",
                        "Provider: " + conn.description() + ".");
    for (const auto &i : o.ignore)
        if (!find(remote, i))
            throw Error(ERRCODE_UNDEFINED_COLUMN,
                        where + ": \"ignore\" names column \"" + i + "\", which the provider's table does not have");
    // Each local column and the provider column it reads (as the apply
    // worker pairs them: mapped, else the same name unless taken or ignored).
    std::map<std::string, const Column *> source;
    for (const auto &lc : local) {
        std::string want = lc.name;
        bool mapped = o.columns.count(lc.name) > 0;
        if (mapped) {
            want = o.columns.at(lc.name);
        } else {
            bool taken = false;
            for (const auto &[l, r] : o.columns)
                taken = taken || r == lc.name;
            for (const auto &i : o.ignore)
                taken = taken || i == lc.name;
            if (taken)
                continue;
        }
        const Column *rc = find(remote, want);
        if (rc == nullptr)
            continue; // filled with its default on INSERT
        if (!compatible(lc, *rc))
            throw Error(ERRCODE_DATATYPE_MISMATCH,
                        where + ": column \"" + lc.name + "\" is " + lc.type + " here but its provider column \"" +
                            rc->name + "\" is " + rc->type + ": the types are not compatible",
                        {},
                        "Give both the same type (or one of the same kind, e.g. int4 and int8), or map another "
                        "column.");
        source[lc.name] = rc;
        remote_used.insert(rc->name);
    }
    for (const auto &rc : remote)
        if (!remote_used.count(rc.name) && std::find(o.ignore.begin(), o.ignore.end(), rc.name) == o.ignore.end())
            throw Error(ERRCODE_UNDEFINED_COLUMN,
                        where + ": the provider's column \"" + rc.name + "\" has no column here", {},
                        "Add it here, map it to a local column (\"columns\": {\"local\": \"" + rc.name +
                            "\"}), or list it in \"ignore\".");
    // The key that finds rows here must come whole with every change.
    for (const auto &lc : local) {
        if (!lc.find_key)
            continue;
        auto it = source.find(lc.name);
        if (it == source.end())
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                        where + ": key column \"" + lc.name + "\" is not mapped to a provider column",
                        "Updates and deletes find their row here by it.",
                        "Map it (\"columns\": {\"" + lc.name + "\": \"provider column\"}).");
        if (!it->second->identity_key)
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                        where + ": key column \"" + lc.name + "\" reads the provider's column \"" + it->second->name +
                            "\", which is not part of the provider's key (replica identity)",
                        "Updates and deletes send only the key.", "Give both tables the same primary key.");
    }
}

} // namespace pymigrate::sync

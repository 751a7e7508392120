// Before PostgreSQL's headers, whose port.h redefines snprintf.
#include <nlohmann/json.hpp>

#include "validate/mapping.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
}


#include <algorithm>
#include <set>

namespace pymigrate::validate {

using pg::Error;
using pg::pg_call;
using json = nlohmann::json;

namespace {

Oid
resolve_relation(const std::string &name)
{
    const char *n = name.c_str();
    return pg_call([n] { return DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(n))); });
}

std::string
relation_name(Oid relid)
{
    char *name = pg_call([relid] {
        return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
    });
    return name;
}

std::vector<std::string>
string_list(const json &v, const std::string &what)
{
    if (!v.is_array())
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, what + " must be a JSON array of column names");
    std::vector<std::string> out;
    for (const auto &e : v) {
        if (!e.is_string())
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, what + " must be a JSON array of column names");
        out.push_back(e.get<std::string>());
    }
    return out;
}

void
apply_entry(TableSpec &spec, const std::string &table, const json &entry)
{
    if (!entry.is_object())
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "the mapping of table " + table + " must be a JSON object");
    for (const auto &[option, value] : entry.items()) {
        std::string where = "\"" + option + "\" in the mapping of table " + table;
        if (option == "table") {
            if (!value.is_string())
                throw Error(ERRCODE_INVALID_PARAMETER_VALUE, where + " must be a table name");
            spec.remote_name = value.get<std::string>();
        } else if (option == "columns") {
            if (!value.is_object())
                throw Error(ERRCODE_INVALID_PARAMETER_VALUE, where + " must map local to remote column names");
            for (const auto &[local, remote] : value.items()) {
                if (!remote.is_string())
                    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, where + ": column \"" + local + "\" must map to a name");
                spec.columns[local] = remote.get<std::string>();
            }
        } else if (option == "key") {
            spec.key = string_list(value, where);
        } else if (option == "only") {
            spec.only = string_list(value, where);
        } else if (option == "exclude") {
            spec.exclude = string_list(value, where);
        } else {
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "unknown option " + where,
                        {}, "The options of a table's mapping are table, columns, key, only and exclude.");
        }
    }
}

// Every ordinary and partitioned table outside the system and pymigrate schemas.
std::vector<Oid>
user_tables()
{
    pg::Spi spi;
    auto rows = spi.query("SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                          " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
                          "   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pymigrate')"
                          "   AND n.nspname !~ '^pg_(toast|temp)' ORDER BY n.nspname, c.relname",
                          {}, true);
    std::vector<Oid> out;
    for (const auto &r : rows)
        out.push_back(static_cast<Oid>(std::stoul(*r[0])));
    return out;
}

bool
has_primary_key(Oid relid)
{
    return pg_call([relid] {
        Relation rel = relation_open(relid, AccessShareLock);
        Oid pk = RelationGetPrimaryKeyIndex(rel);
        relation_close(rel, NoLock);
        return pk;
    }) != InvalidOid;
}

void
notice(const std::string &message)
{
    const char *m = message.c_str();
    pg_call([m] { ereport(NOTICE, (errmsg("%s", m))); });
}

std::vector<std::string>
column_names(Oid relid)
{
    std::vector<std::string> out;
    Relation rel = pg_call([relid] { return relation_open(relid, AccessShareLock); });
    TupleDesc desc = RelationGetDescr(rel);
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (!att->attisdropped)
            out.emplace_back(NameStr(att->attname));
    }
    pg_call([rel] { relation_close(rel, NoLock); });
    return out;
}

} // namespace

std::vector<TableSpec>
resolve_tables(const std::optional<std::vector<std::string>> &tables, const std::string &mapping_json,
               const std::function<bool(const std::string &)> &remote_has)
{
    json mapping;
    try {
        mapping = json::parse(mapping_json);
    } catch (const json::exception &e) {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, std::string("mapping is not valid JSON: ") + e.what());
    }
    if (!mapping.is_object())
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "mapping must be a JSON object keyed by table name");

    std::vector<TableSpec> specs;
    std::set<Oid> seen;
    bool discover = !tables;
    std::vector<Oid> oids;
    if (tables) {
        if (tables->empty())
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "tables is empty",
                        {}, "List the tables to compare, or pass NULL for every table that both sides have.");
        for (const auto &t : *tables)
            oids.push_back(resolve_relation(t));
    } else {
        oids = user_tables();
    }
    std::map<Oid, json> entries;
    for (const auto &[name, entry] : mapping.items())
        entries[resolve_relation(name)] = entry;
    for (const auto &[oid, entry] : entries)
        if (std::find(oids.begin(), oids.end(), oid) == oids.end())
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                        "the mapping names table " + relation_name(oid) + ", which is not among the tables to validate");

    for (Oid oid : oids) {
        if (!seen.insert(oid).second)
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "table " + relation_name(oid) + " is listed more than once");
        TableSpec spec;
        spec.relid = oid;
        spec.remote_name = relation_name(oid);
        if (auto it = entries.find(oid); it != entries.end())
            apply_entry(spec, relation_name(oid), it->second);
        if (discover) {
            if (!remote_has(spec.remote_name)) {
                notice("pymigrate: skipping table " + relation_name(oid) + ": the remote side has no table " +
                       spec.remote_name);
                continue;
            }
            if (!spec.key && !has_primary_key(oid)) {
                notice("pymigrate: skipping table " + relation_name(oid) +
                       ": it has no primary key (give one with \"key\" in the mapping)");
                continue;
            }
        }
        specs.push_back(std::move(spec));
    }
    return specs;
}

TablePlan
plan_local(const TableSpec &spec)
{
    std::optional<std::vector<std::string>> columns = spec.only;
    if (!spec.exclude.empty()) {
        std::vector<std::string> all = spec.only ? *spec.only : column_names(spec.relid);
        for (const auto &x : spec.exclude)
            if (std::find(all.begin(), all.end(), x) == all.end())
                throw Error(ERRCODE_UNDEFINED_COLUMN, "column \"" + x + "\" to exclude is not a column of table " +
                                                          relation_name(spec.relid));
        std::erase_if(all, [&](const std::string &c) {
            return std::find(spec.exclude.begin(), spec.exclude.end(), c) != spec.exclude.end();
        });
        columns = all;
    }
    TablePlan plan = plan_table(spec.relid, columns, spec.key);
    for (const auto &[local, remote] : spec.columns) {
        bool used = false;
        for (const auto *list : {&plan.key, &plan.values})
            for (const auto &c : *list)
                used = used || c.name == local;
        if (!used)
            throw Error(ERRCODE_UNDEFINED_COLUMN, "the mapping maps column \"" + local + "\" of table " + plan.name +
                                                      ", which is not among the columns compared");
    }
    return plan;
}

RemoteTable
remote_table(const TableSpec &spec, const TablePlan &plan)
{
    auto mapped = [&spec](const std::string &local) {
        auto it = spec.columns.find(local);
        return it == spec.columns.end() ? local : it->second;
    };
    RemoteTable t;
    t.name = spec.remote_name;
    for (const auto &c : plan.key)
        t.key.push_back(mapped(c.name));
    for (const auto &c : plan.values)
        t.columns.push_back(mapped(c.name));
    return t;
}

} // namespace pymigrate::validate

#include "validate/column_plan.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "optimizer/plancat.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/catcache.h"
#include "utils/syscache.h"
}

#include <algorithm>
#include <set>

namespace pymigrate::validate {

using pg::Error;
using pg::pg_call;

namespace {

std::string
type_name(Oid type)
{
    char *name = pg_call([type] { return format_type_be(type); });
    return name;
}

std::vector<std::pair<Oid, std::string>>
enum_labels(Oid type)
{
    std::vector<std::pair<Oid, std::string>> out;
    CatCList *list = pg_call([type] { return SearchSysCacheList1(ENUMTYPOIDNAME, ObjectIdGetDatum(type)); });
    try {
        for (int i = 0; i < list->n_members; ++i) {
            HeapTuple tup = &list->members[i]->tuple;
            auto *e = reinterpret_cast<Form_pg_enum>(GETSTRUCT(tup));
            out.emplace_back(e->oid, NameStr(e->enumlabel));
        }
    } catch (...) {
        ReleaseSysCacheList(list);
        throw;
    }
    pg_call([list] { ReleaseSysCacheList(list); });
    std::sort(out.begin(), out.end());
    return out;
}

Kind
builtin_kind(Oid base, bool &found)
{
    found = true;
    switch (base) {
    case INT2OID: return Kind::Int2;
    case INT4OID: return Kind::Int4;
    case INT8OID: return Kind::Int8;
    case OIDOID: return Kind::Oid;
    case NUMERICOID: return Kind::Numeric;
    case FLOAT4OID: return Kind::Float4;
    case FLOAT8OID: return Kind::Float8;
    case BOOLOID: return Kind::Bool;
    case TEXTOID:
    case VARCHAROID: return Kind::Text;
    case BPCHAROID: return Kind::Bpchar;
    case NAMEOID: return Kind::Name;
    case CHAROID: return Kind::Char;
    case BYTEAOID: return Kind::Bytea;
    case UUIDOID: return Kind::Uuid;
    case DATEOID: return Kind::Date;
    case TIMESTAMPOID: return Kind::Timestamp;
    case TIMESTAMPTZOID: return Kind::TimestampTz;
    case TIMEOID: return Kind::Time;
    case TIMETZOID: return Kind::TimeTz;
    case INTERVALOID: return Kind::Interval;
    case JSONBOID: return Kind::Jsonb;
    case INETOID:
    case CIDROID: return Kind::Inet;
    default: found = false; return Kind::Int8;
    }
}

std::string
quoted_relation_name(Oid relid)
{
    char *name = pg_call([relid] {
        char *rel = get_rel_name(relid);
        char *nsp = get_namespace_name(get_rel_namespace(relid));
        return rel && nsp ? quote_qualified_identifier(nsp, rel) : static_cast<char *>(nullptr);
    });
    if (!name)
        throw Error(ERRCODE_UNDEFINED_TABLE, "relation with OID " + std::to_string(relid) + " does not exist");
    return name;
}

// The relation stays locked (AccessShareLock) until the end of the
// transaction; the reference is dropped when this goes out of scope.
class OpenRelation {
  public:
    explicit OpenRelation(Oid relid)
        : rel_(pg_call([relid] { return relation_open(relid, AccessShareLock); }))
    {
    }
    ~OpenRelation()
    {
        try {
            Relation rel = rel_;
            pg_call([rel] { relation_close(rel, NoLock); });
        } catch (...) {
            // Only a corrupt relcache entry could fail here; abort cleans up.
        }
    }
    OpenRelation(const OpenRelation &) = delete;
    OpenRelation &operator=(const OpenRelation &) = delete;
    Relation get() const { return rel_; }

  private:
    Relation rel_;
};

std::vector<std::string>
primary_key_columns(Relation rel, const std::string &table)
{
    Oid index = pg_call([rel] { return RelationGetPrimaryKeyIndex(rel); });
    if (index == InvalidOid)
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "table " + table + " has no primary key",
                    "pymigrate compares rows by key, and defaults to the primary key.",
                    "Name the columns that identify a row (they must be unique), e.g. key => ARRAY['id'] for "
                    "table_digest, or mapping => '{\"" + table + "\": {\"key\": [\"id\"]}}' for validate.");
    std::vector<short> attnums;
    HeapTuple tup = pg_call([index] { return SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index)); });
    if (!HeapTupleIsValid(tup))
        throw Error(ERRCODE_INTERNAL_ERROR, "cache lookup failed for index " + std::to_string(index));
    auto *idx = reinterpret_cast<Form_pg_index>(GETSTRUCT(tup));
    for (int i = 0; i < idx->indnkeyatts; ++i)
        attnums.push_back(idx->indkey.values[i]);
    pg_call([tup] { ReleaseSysCache(tup); });
    std::vector<std::string> names;
    Oid relid = RelationGetRelid(rel);
    for (short a : attnums) {
        char *n = pg_call([relid, a] { return get_attname(relid, a, false); });
        names.emplace_back(n);
    }
    return names;
}

PlannedColumn
plan_column(Relation rel, const std::string &table, const std::string &name)
{
    TupleDesc desc = RelationGetDescr(rel);
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped || name != NameStr(att->attname))
            continue;
        PlannedColumn c;
        c.name = name;
        c.attnum = att->attnum;
        c.type = att->atttypid;
        c.codec = make_codec(att->atttypid, "column \"" + name + "\" of table " + table);
        return c;
    }
    throw Error(ERRCODE_UNDEFINED_COLUMN, "column \"" + name + "\" of table " + table + " does not exist");
}

void
check_unique(const std::vector<std::string> &names, const std::string &what, const std::string &table)
{
    std::set<std::string> seen;
    for (const auto &n : names)
        if (!seen.insert(n).second)
            throw Error(ERRCODE_DUPLICATE_COLUMN,
                        "column \"" + n + "\" appears more than once in the " + what + " of table " + table);
}

void
check_privileges(Relation rel, const std::string &table, const std::vector<PlannedColumn> &cols)
{
    Oid relid = RelationGetRelid(rel);
    Oid user = GetUserId();
    AclResult table_acl = pg_call([relid, user] { return pg_class_aclcheck(relid, user, ACL_SELECT); });
    if (table_acl != ACLCHECK_OK) {
        for (const auto &c : cols) {
            AttrNumber a = c.attnum;
            if (pg_call([relid, a, user] { return pg_attribute_aclcheck(relid, a, user, ACL_SELECT); }) !=
                ACLCHECK_OK)
                throw Error(ERRCODE_INSUFFICIENT_PRIVILEGE,
                            "permission denied to read column \"" + c.name + "\" of table " + table);
        }
    }
    // A scan below the executor would not apply row level security policies;
    // refuse rather than show rows the policies hide.
    int rls = pg_call([relid] { return check_enable_rls(relid, InvalidOid, true); });
    if (rls == RLS_ENABLED)
        throw Error(ERRCODE_INSUFFICIENT_PRIVILEGE,
                    "table " + table + " has row level security enabled for the current user",
                    "pymigrate reads whole tables and would bypass its policies.",
                    "Validate as the table owner or as a role with BYPASSRLS.");
}

} // namespace

const char *
supported_types_hint()
{
    return "pymigrate hashes smallint, integer, bigint, oid, numeric, real, double precision, boolean, text, "
           "varchar, char(n), name, \"char\", bytea, uuid, date, timestamp, timestamptz, time, timetz, interval, "
           "jsonb, inet, cidr, enums, domains and arrays of these. Leave the column out (columns => ... or "
           "\"exclude\" in the mapping), or compare a view that casts it.";
}

Codec
make_codec(Oid type, const std::string &what)
{
    Codec c;
    c.type = pg_call([type] { return getBaseType(type); });
    Oid base = c.type;
    bool found = false;
    c.kind = builtin_kind(base, found);
    if (!found) {
        if (pg_call([base] { return type_is_enum(base); })) {
            c.kind = Kind::Enum;
            c.enum_labels = enum_labels(base);
        } else {
            Oid elem = pg_call([base] { return get_element_type(base); });
            short len = pg_call([base] { return get_typlen(base); });
            if (elem == InvalidOid || len != -1)
                throw Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                            what + " has type " + type_name(type) + ", which pymigrate cannot hash canonically",
                            "A value of this type has no normalized binary form that is the same on both sides.",
                            supported_types_hint());
            c.kind = Kind::Array;
            c.element = std::make_unique<Codec>(make_codec(elem, what + " (array element)"));
            pg_call([&c, elem] {
                int16 l;
                bool byval;
                char align;
                get_typlenbyvalalign(elem, &l, &byval, &align);
                c.elem_len = l;
                c.elem_byval = byval;
                c.elem_align = align;
            });
        }
    }
    pg_call([&c, base] {
        bool varlena;
        getTypeOutputInfo(base, &c.output_fn, &varlena);
    });
    return c;
}

namespace {

std::vector<std::string>
names_of(const std::vector<PlannedColumn> &columns)
{
    std::vector<std::string> out;
    for (const auto &c : columns)
        out.push_back(c.name);
    return out;
}

} // namespace

std::vector<std::string>
TablePlan::key_names() const
{
    return names_of(key);
}

std::vector<std::string>
TablePlan::value_names() const
{
    return names_of(values);
}

TablePlan
plan_table(Oid relid, const std::optional<std::vector<std::string>> &columns,
           const std::optional<std::vector<std::string>> &key)
{
    TablePlan plan;
    plan.relid = relid;
    plan.name = quoted_relation_name(relid);
    OpenRelation open(relid);
    Relation rel = open.get();
    plan.relkind = rel->rd_rel->relkind;
    if (plan.relkind != RELKIND_RELATION && plan.relkind != RELKIND_MATVIEW &&
        plan.relkind != RELKIND_PARTITIONED_TABLE)
        throw Error(ERRCODE_WRONG_OBJECT_TYPE, plan.name + " is not a table",
                    "pymigrate validates tables, partitioned tables and materialized views.",
                    plan.relkind == RELKIND_VIEW ? "Validate the tables the view reads." : std::string());

    std::vector<std::string> key_names;
    if (key) {
        if (key->empty())
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "the key of table " + plan.name + " has no columns");
        key_names = *key;
    } else {
        key_names = primary_key_columns(rel, plan.name);
    }
    check_unique(key_names, "key", plan.name);

    std::vector<std::string> value_names;
    if (columns) {
        check_unique(*columns, "column list", plan.name);
        value_names = *columns;
    } else {
        TupleDesc desc = RelationGetDescr(rel);
        for (int i = 0; i < desc->natts; ++i) {
            Form_pg_attribute att = TupleDescAttr(desc, i);
            if (!att->attisdropped)
                value_names.emplace_back(NameStr(att->attname));
        }
    }
    for (const auto &k : key_names)
        plan.key.push_back(plan_column(rel, plan.name, k));
    for (const auto &v : value_names)
        if (std::find(key_names.begin(), key_names.end(), v) == key_names.end())
            plan.values.push_back(plan_column(rel, plan.name, v));

    std::vector<PlannedColumn> all;
    for (const auto &c : plan.key)
        all.push_back(PlannedColumn{c.name, c.attnum, c.type, {}});
    for (const auto &c : plan.values)
        all.push_back(PlannedColumn{c.name, c.attnum, c.type, {}});
    check_privileges(rel, plan.name, all);

    for (Oid leaf : scan_targets(plan)) {
        BlockNumber pages = 0;
        double tuples = 0;
        pg_call([leaf, &pages, &tuples] {
            Relation r = table_open(leaf, AccessShareLock);
            double allvisfrac;
            estimate_rel_size(r, nullptr, &pages, &tuples, &allvisfrac);
            table_close(r, NoLock);
        });
        plan.pages += pages;
        plan.estimated_rows += std::max(0.0, tuples);
    }
    return plan;
}

std::vector<short>
attnums_in(const TablePlan &plan, Relation rel)
{
    std::vector<short> out;
    Oid relid = RelationGetRelid(rel);
    for (const auto *list : {&plan.key, &plan.values}) {
        for (const auto &c : *list) {
            if (RelationGetRelid(rel) == plan.relid) {
                out.push_back(c.attnum);
                continue;
            }
            const char *name = c.name.c_str();
            AttrNumber a = pg_call([relid, name] { return get_attnum(relid, name); });
            if (a == InvalidAttrNumber)
                throw Error(ERRCODE_UNDEFINED_COLUMN, "column \"" + c.name + "\" is missing in partition " +
                                                          quoted_relation_name(relid) + " of " + plan.name);
            out.push_back(a);
        }
    }
    return out;
}

std::vector<Oid>
scan_targets(const TablePlan &plan)
{
    if (plan.relkind != RELKIND_PARTITIONED_TABLE)
        return {plan.relid};
    std::vector<Oid> out;
    Oid relid = plan.relid;
    List *all = pg_call([relid] { return find_all_inheritors(relid, AccessShareLock, nullptr); });
    ListCell *lc;
    foreach (lc, all) {
        Oid child = lfirst_oid(lc);
        char kind = pg_call([child] { return get_rel_relkind(child); });
        if (RELKIND_HAS_STORAGE(kind))
            out.push_back(child);
    }
    return out;
}

} // namespace pymigrate::validate

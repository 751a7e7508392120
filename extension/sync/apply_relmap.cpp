// The remote-to-local table map of the apply worker (apply_relmap.hpp),
// after PostgreSQL's logical/relation.c.
#include "sync/apply_relmap.hpp"

#include "sync/protocol.hpp"
#include "sync/types.hpp"

extern "C" {
#include "access/genam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace pymigrate::sync::apply {
namespace {

MemoryContext map_cxt = nullptr;
HTAB *map = nullptr;
TableRoute *routes = nullptr;
int nroutes = 0;

void
invalidate_local(Datum, Oid relid)
{
    if (map == nullptr)
        return;
    HASH_SEQ_STATUS it;
    hash_seq_init(&it, map);
    while (auto *e = static_cast<RelMapEntry *>(hash_seq_search(&it)))
        if (!OidIsValid(relid) || e->local_relid == relid)
            e->local_valid = false;
}

void
ensure_map()
{
    if (map != nullptr)
        return;
    map_cxt = AllocSetContextCreate(TopMemoryContext, "pymigrate relation map", ALLOCSET_DEFAULT_SIZES);
    HASHCTL info;
    memset(&info, 0, sizeof(info));
    info.keysize = sizeof(Oid);
    info.entrysize = sizeof(RelMapEntry);
    info.hcxt = map_cxt;
    map = hash_create("pymigrate relation map", 128, &info, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    CacheRegisterRelcacheCallback(invalidate_local, 0);
}

// The provider column a local column takes its values from: the mapped
// name, else the same name unless that provider column is mapped to another
// local column or ignored. -1 when none.
int
remote_column_for(const RelMapEntry *e, const char *local)
{
    const TableRoute *rt = e->route;
    const RemoteRelation &r = e->remote;
    const char *want = local;
    bool explicit_map = false;
    for (int m = 0; m < rt->ncolmap; ++m)
        if (strcmp(rt->map_local[m], local) == 0) {
            want = rt->map_remote[m];
            explicit_map = true;
        }
    if (!explicit_map) {
        for (int m = 0; m < rt->ncolmap; ++m)
            if (strcmp(rt->map_remote[m], local) == 0)
                return -1; // that provider column feeds another local one
        for (int g = 0; g < rt->nignore; ++g)
            if (strcmp(rt->ignore[g], local) == 0)
                return -1;
    }
    for (int k = 0; k < r.natts; ++k)
        if (strcmp(r.attnames[k], want) == 0)
            return k;
    if (explicit_map)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                        errmsg("the mapping of %s names provider column \"%s\" (for column \"%s\"), which %s.%s "
                               "does not have",
                               e->local_name, want, local, r.schema, r.name),
                        errhint("Fix the subscription's table_options with pymigrate.alter_subscription().")));
    return -1;
}

bool
ignored(const TableRoute *rt, const char *remote)
{
    for (int g = 0; g < rt->nignore; ++g)
        if (strcmp(rt->ignore[g], remote) == 0)
            return true;
    return false;
}

// Local column i reads provider column k whose type differs: through the
// provider type's receive/output functions when it exists here.
void
set_conversion(RelMapEntry *e, int i, int k, Form_pg_attribute att, const char *local_type)
{
    const RemoteRelation &r = e->remote;
    if (!(r.flags[k] & proto::kColumnBinary))
        return; // text: the local input function reads it
    Oid remote_type = InvalidOid;
    {
        // A type name the provider sent: look it up here without raising.
        List *names = stringToQualifiedNameList(r.typnames[k]);
        TypeName *tn = makeTypeNameFromNameList(names);
        remote_type = LookupTypeNameOid(nullptr, tn, true);
    }
    if (!OidIsValid(remote_type))
        ereport(ERROR,
                (errcode(ERRCODE_DATATYPE_MISMATCH),
                 errmsg("column %s of table %s is of type %s here but %s on the provider, which this server does not "
                        "know",
                        NameStr(att->attname), e->local_name, local_type, r.typnames[k]),
                 errhint("Give the column the provider's type.")));
    e->convert[i] = true;
    Oid recv;
    Oid out;
    bool varlena;
    getTypeBinaryInputInfo(remote_type, &recv, &e->conv_ioparam[i]);
    fmgr_info_cxt(recv, &e->conv_recv[i], e->local_cxt);
    getTypeOutputInfo(remote_type, &out, &varlena);
    fmgr_info_cxt(out, &e->conv_out[i], e->local_cxt);
}

// Builds the local half of `e` for the opened table `rel`.
void
resolve(RelMapEntry *e, Relation rel)
{
    if (e->local_cxt)
        MemoryContextReset(e->local_cxt);
    else
        e->local_cxt = AllocSetContextCreate(map_cxt, "pymigrate relation map entry", ALLOCSET_SMALL_SIZES);
    MemoryContext old = MemoryContextSwitchTo(e->local_cxt);
    TupleDesc desc = RelationGetDescr(rel);
    const RemoteRelation &r = e->remote;
    const TableRoute *rt = e->route;
    int n = Max(desc->natts, 1);
    e->local_relid = RelationGetRelid(rel);
    e->local_name = psprintf("%s.%s", quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
                             quote_identifier(RelationGetRelationName(rel)));
    e->local_natts = desc->natts;
    e->attrmap = static_cast<int *>(palloc(sizeof(int) * n));
    e->in_funcs = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * n));
    e->recv_funcs = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * n));
    e->typioparams = static_cast<Oid *>(palloc0(sizeof(Oid) * n));
    e->convert = static_cast<bool *>(palloc0(sizeof(bool) * n));
    e->conv_recv = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * n));
    e->conv_out = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * n));
    e->conv_ioparam = static_cast<Oid *>(palloc0(sizeof(Oid) * n));
    bool *used = static_cast<bool *>(palloc0(sizeof(bool) * Max(r.natts, 1)));
    for (int m = 0; m < rt->ncolmap; ++m) {
        bool found = false;
        for (int i = 0; i < desc->natts && !found; ++i) {
            Form_pg_attribute att = TupleDescAttr(desc, i);
            found = !att->attisdropped && strcmp(NameStr(att->attname), rt->map_local[m]) == 0;
        }
        if (!found)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("the mapping of %s names column \"%s\", which the table does not have",
                                   e->local_name, rt->map_local[m]),
                            errhint("Fix the subscription's table_options with pymigrate.alter_subscription().")));
    }
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        e->attrmap[i] = -1;
        if (att->attisdropped || att->attgenerated)
            continue;
        int k = remote_column_for(e, NameStr(att->attname));
        if (k < 0)
            continue; // not sent: defaults on INSERT, kept on UPDATE
        if (used[k])
            ereport(ERROR, (errcode(ERRCODE_DUPLICATE_COLUMN),
                            errmsg("provider column \"%s\" of %s.%s feeds two columns of %s", r.attnames[k], r.schema,
                                   r.name, e->local_name)));
        e->attrmap[i] = k;
        used[k] = true;
        char *local_type = qualified_type_name(att->atttypid);
        if (strcmp(local_type, r.typnames[k]) != 0)
            set_conversion(e, i, k, att, local_type);
        Oid fn;
        getTypeInputInfo(att->atttypid, &fn, &e->typioparams[i]);
        fmgr_info_cxt(fn, &e->in_funcs[i], e->local_cxt);
        Oid recv;
        Oid ioparam;
        getTypeBinaryInputInfo(att->atttypid, &recv, &ioparam);
        fmgr_info_cxt(recv, &e->recv_funcs[i], e->local_cxt);
    }
    for (int k = 0; k < r.natts; ++k)
        if (!used[k] && !ignored(rt, r.attnames[k]))
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("table %s has no column \"%s\", which the provider's %s.%s sends", e->local_name,
                                   r.attnames[k], r.schema, r.name),
                            errhint("Add the column here, map it (table_options \"columns\"), or list it in "
                                    "\"ignore\"; then the worker resumes.")));
    // The index that finds a local row, and whether the provider's key
    // gives every one of its columns.
    e->index_oid = RelationGetReplicaIndex(rel);
    if (!OidIsValid(e->index_oid))
        e->index_oid = RelationGetPrimaryKeyIndex(rel);
    e->key_covered = true;
    e->nkey = 0;
    e->key_attnums = nullptr;
    if (OidIsValid(e->index_oid)) {
        Relation idx = index_open(e->index_oid, AccessShareLock);
        e->nkey = idx->rd_index->indnkeyatts;
        e->key_attnums = static_cast<AttrNumber *>(palloc(sizeof(AttrNumber) * Max(e->nkey, 1)));
        for (int c = 0; c < idx->rd_index->indnkeyatts; ++c) {
            AttrNumber attno = idx->rd_index->indkey.values[c];
            e->key_attnums[c] = attno;
            int k = attno > 0 ? e->attrmap[attno - 1] : -1;
            if (k < 0 || !(r.replident == REPLICA_IDENTITY_FULL || (r.flags[k] & proto::kColumnKey)))
                e->key_covered = false;
        }
        index_close(idx, AccessShareLock);
    } else {
        e->key_covered = r.replident == REPLICA_IDENTITY_FULL;
    }
    e->colprio_attr = static_cast<int *>(palloc(sizeof(int) * Max(rt->rules.ncolprio, 1)));
    for (int c = 0; c < rt->rules.ncolprio; ++c) {
        e->colprio_attr[c] = -1;
        for (int i = 0; i < desc->natts; ++i)
            if (!TupleDescAttr(desc, i)->attisdropped &&
                strcmp(NameStr(TupleDescAttr(desc, i)->attname), rt->rules.colprio_column[c]) == 0)
                e->colprio_attr[c] = i;
    }
    MemoryContextSwitchTo(old);
    e->local_valid = true;
}

char **
copy_strings(char **in, int n)
{
    char **out = static_cast<char **>(palloc(sizeof(char *) * Max(n, 1)));
    for (int i = 0; i < n; ++i)
        out[i] = pstrdup(in[i]);
    return out;
}

} // namespace

void
set_routes(const TableRoute *in, int n)
{
    ensure_map();
    MemoryContext old = MemoryContextSwitchTo(map_cxt);
    routes = static_cast<TableRoute *>(palloc(sizeof(TableRoute) * Max(n, 1)));
    for (int i = 0; i < n; ++i) {
        TableRoute &t = routes[i];
        t = in[i];
        t.remote_schema = pstrdup(in[i].remote_schema);
        t.remote_table = pstrdup(in[i].remote_table);
        t.local_schema = pstrdup(in[i].local_schema);
        t.local_table = pstrdup(in[i].local_table);
        t.map_local = copy_strings(in[i].map_local, t.ncolmap);
        t.map_remote = copy_strings(in[i].map_remote, t.ncolmap);
        t.ignore = copy_strings(in[i].ignore, t.nignore);
        ApplyRules &ru = t.rules;
        ru.strategy_name = pstrdup(in[i].rules.strategy_name);
        ru.priority = copy_strings(in[i].rules.priority, ru.npriority);
        ru.colprio_column = copy_strings(in[i].rules.colprio_column, ru.ncolprio);
        ru.colprio_node = copy_strings(in[i].rules.colprio_node, ru.ncolprio);
        ru.resolver_oid = InvalidOid;
        ru.resolver = in[i].rules.resolver ? pstrdup(in[i].rules.resolver) : nullptr;
        if (ru.resolver) {
            Datum fn = DirectFunctionCall1(to_regprocedure, CStringGetTextDatum(ru.resolver));
            ru.resolver_oid = DatumGetObjectId(fn);
            if (!OidIsValid(ru.resolver_oid))
                ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                                errmsg("the conflict resolver %s of table %s.%s does not exist", ru.resolver,
                                       quote_identifier(t.local_schema), quote_identifier(t.local_table)),
                                errhint("Create it again, or change the table's strategy with "
                                        "pymigrate.alter_subscription().")));
        }
    }
    nroutes = n;
    // Entries of an earlier run point into the old routes.
    if (map != nullptr) {
        HASH_SEQ_STATUS it;
        hash_seq_init(&it, map);
        while (auto *e = static_cast<RelMapEntry *>(hash_seq_search(&it))) {
            e->route = route_of(e->remote);
            e->local_valid = false;
        }
    }
    MemoryContextSwitchTo(old);
}

const TableRoute *
route_of(const RemoteRelation &rel)
{
    for (int i = 0; i < nroutes; ++i)
        if (strcmp(routes[i].remote_schema, rel.schema) == 0 && strcmp(routes[i].remote_table, rel.name) == 0)
            return &routes[i];
    return nullptr;
}

void
allocate_columns(RemoteRelation *rel, int natts)
{
    int n = Max(natts, 1);
    rel->natts = natts;
    rel->attnames = static_cast<char **>(palloc(sizeof(char *) * n));
    rel->atttypes = static_cast<Oid *>(palloc(sizeof(Oid) * n));
    rel->typmods = static_cast<int32 *>(palloc(sizeof(int32) * n));
    rel->typnames = static_cast<char **>(palloc(sizeof(char *) * n));
    rel->flags = static_cast<uint8 *>(palloc(sizeof(uint8) * n));
}

namespace {

bool
same_relation(const RemoteRelation &a, const RemoteRelation &b)
{
    if (a.natts != b.natts || a.replident != b.replident || strcmp(a.schema, b.schema) != 0 ||
        strcmp(a.name, b.name) != 0)
        return false;
    for (int i = 0; i < a.natts; ++i)
        if (a.flags[i] != b.flags[i] || a.atttypes[i] != b.atttypes[i] || a.typmods[i] != b.typmods[i] ||
            strcmp(a.attnames[i], b.attnames[i]) != 0 || strcmp(a.typnames[i], b.typnames[i]) != 0)
            return false;
    return true;
}

} // namespace

bool
store_relation(const RemoteRelation &rel)
{
    ensure_map();
    bool found = false;
    auto *e = static_cast<RelMapEntry *>(hash_search(map, &rel.relid, HASH_ENTER, &found));
    // Trigger capture repeats the RELATION with every statement.
    if (found && same_relation(e->remote, rel))
        return false;
    if (!found) {
        Oid key = e->remote_relid;
        memset(e, 0, sizeof(*e));
        e->remote_relid = key;
        e->remote_cxt = AllocSetContextCreate(map_cxt, "pymigrate remote relation", ALLOCSET_SMALL_SIZES);
    } else {
        MemoryContextReset(e->remote_cxt);
    }
    MemoryContext old = MemoryContextSwitchTo(e->remote_cxt);
    RemoteRelation &r = e->remote;
    r = rel;
    r.schema = pstrdup(rel.schema);
    r.name = pstrdup(rel.name);
    allocate_columns(&r, rel.natts);
    for (int i = 0; i < rel.natts; ++i) {
        r.attnames[i] = pstrdup(rel.attnames[i]);
        r.atttypes[i] = rel.atttypes[i];
        r.typmods[i] = rel.typmods[i];
        r.typnames[i] = pstrdup(rel.typnames[i]);
        r.flags[i] = rel.flags[i];
    }
    MemoryContextSwitchTo(old);
    e->route = route_of(r);
    e->local_valid = false;
    return true;
}

bool
relation_is_current(const RemoteRelation &rel)
{
    auto *e = map ? static_cast<RelMapEntry *>(hash_search(map, &rel.relid, HASH_FIND, nullptr)) : nullptr;
    return e != nullptr && same_relation(e->remote, rel);
}

RelMapEntry *
lookup(Oid remote_relid)
{
    auto *e = map ? static_cast<RelMapEntry *>(hash_search(map, &remote_relid, HASH_FIND, nullptr)) : nullptr;
    if (e == nullptr)
        ereport(ERROR,
                (errcode(ERRCODE_PROTOCOL_VIOLATION),
                 errmsg("pymigrate stream: change for provider table %u before its RELATION message", remote_relid)));
    return e;
}

Relation
open_local(RelMapEntry *e, LOCKMODE lockmode)
{
    if (e->route == nullptr)
        ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("the provider sent changes of %s.%s, which is not part of this subscription",
                               e->remote.schema, e->remote.name)));
    Relation rel = nullptr;
    if (e->local_valid) {
        rel = try_table_open(e->local_relid, lockmode);
        if (rel == nullptr || !e->local_valid) {
            // Dropped or changed while we waited for the lock.
            if (rel)
                table_close(rel, lockmode);
            rel = nullptr;
            e->local_valid = false;
        }
    }
    if (rel == nullptr) {
        RangeVar *rv = makeRangeVar(e->route->local_schema, e->route->local_table, -1);
        Oid relid = RangeVarGetRelid(rv, lockmode, true);
        if (!OidIsValid(relid))
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                            errmsg("table %s.%s of this subscription does not exist here",
                                   quote_identifier(e->route->local_schema), quote_identifier(e->route->local_table)),
                            errhint("Create it (with the provider's columns), or remove it from the subscription.")));
        rel = table_open(relid, NoLock);
        if (rel->rd_rel->relkind != RELKIND_RELATION)
            ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                            errmsg("%s.%s is not an ordinary table", e->route->local_schema, e->route->local_table)));
        resolve(e, rel);
    }
    return rel;
}

void
check_updatable(const RelMapEntry *e)
{
    if (e->key_covered)
        return;
    if (OidIsValid(e->index_oid))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("the provider's key of %s.%s does not give every column of the index %s uses to find "
                               "rows of %s",
                               e->remote.schema, e->remote.name, get_rel_name(e->index_oid), e->local_name),
                        errhint("Give both tables the same primary key (or replica identity).")));
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("table %s has no primary key or replica identity index, and the provider's %s.%s does not "
                           "send whole old rows (REPLICA IDENTITY FULL)",
                           e->local_name, e->remote.schema, e->remote.name),
                    errhint("Add a primary key here.")));
}

} // namespace pymigrate::sync::apply

// Conflict detection, decision and logging (conflict.hpp).
#include "sync/conflict.hpp"

#include "sync/causal.hpp"
#include "sync/options.hpp"
#include "sync/tombstone.hpp"

extern "C" {
#include "access/commit_ts.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
}

namespace pymigrate::sync::apply {

uint64 conflicts_in_txn = 0;
uint64 missing_in_txn = 0;

namespace {

NodeContext nodes;
MemoryContext held_cxt = nullptr;
HeldConflict *held = nullptr;
SPIPlanPtr log_plan = nullptr;

const char *
kind_name(ConflictKind k)
{
    switch (k) {
    case ConflictKind::InsertExists:
        return "insert_exists";
    case ConflictKind::InsertDeleted:
        return "insert_deleted";
    case ConflictKind::UpdateOriginDiffers:
        return "update_origin_differs";
    case ConflictKind::UpdateDeleted:
        return "update_deleted";
    case ConflictKind::UpdateMissing:
        return "update_missing";
    case ConflictKind::DeleteOriginDiffers:
        return "delete_origin_differs";
    case ConflictKind::DeleteMissing:
        return "delete_missing";
    }
    return "?";
}

const char *
decision_name(Decision d)
{
    switch (d) {
    case Decision::ApplyRemote:
        return "apply_remote";
    case Decision::KeepLocal:
        return "keep_local";
    case Decision::Merged:
        return "merged";
    case Decision::Insert:
        return "inserted";
    case Decision::Skip:
        return "skipped";
    }
    return "?";
}

// The node a local row belongs to, by the commit origin of its xmin.
const char *
node_of_origin(RepOriginId origin)
{
    if (origin == InvalidRepOriginId)
        return nodes.local_node;
    if (origin == nodes.my_origin)
        return nodes.remote_node;
    for (int i = 0; i < nodes.norigins; ++i)
        if (nodes.origin_ids[i] == origin)
            return nodes.origin_nodes[i];
    char *name = nullptr;
    if (replorigin_by_oid(origin, true, &name) && name)
        return name;
    return psprintf("origin %u", origin);
}

uint64
sysid_of(const char *node)
{
    if (node == nodes.local_node)
        return nodes.local_sysid;
    if (node == nodes.remote_node)
        return nodes.remote_sysid;
    return 0;
}

// Last write wins: the later commit, then the node name sorting last, then
// (equal names) the larger system identifier. Both sides of a pair compare
// the same two (time, node) pairs, so they pick the same row.
bool
remote_is_later(const Conflict &c, const RemoteTxnInfo &txn)
{
    if (txn.commit_time != c.local_ts)
        return txn.commit_time > c.local_ts;
    const char *local_node = node_of_origin(c.local_origin);
    int cmp = strcmp(nodes.remote_node, local_node);
    if (cmp != 0)
        return cmp > 0;
    return nodes.remote_sysid > sysid_of(local_node);
}

// Position of `node` in the priority list (unlisted: after all).
int
rank(const ApplyRules &r, const char *node)
{
    for (int i = 0; i < r.npriority; ++i)
        if (strcmp(r.priority[i], node) == 0)
            return i;
    return r.npriority;
}

// Priority between whole versions: the node first in the list, else (same
// rank: neither listed) the later write.
bool
remote_ranks_first(const Conflict &c, const RemoteTxnInfo &txn)
{
    const ApplyRules &r = c.rel->route->rules;
    int rr = rank(r, nodes.remote_node);
    int rl = rank(r, node_of_origin(c.local_origin));
    return rr != rl ? rr < rl : remote_is_later(c, txn);
}

// ---------------------------------------------------------------- JSON

Datum
slot_to_jsonb(TupleTableSlot *slot)
{
    Datum row = ExecFetchSlotHeapTupleDatum(slot);
    Datum json = DirectFunctionCall1(row_to_json, row);
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(DatumGetTextPP(json))));
}

char *
jsonb_text(Datum jb)
{
    return DatumGetCString(DirectFunctionCall1(jsonb_out, jb));
}

void
json_field(StringInfo buf, const char *key, const char *value, bool first = false)
{
    if (!first)
        appendStringInfoString(buf, ", ");
    escape_json(buf, key);
    appendStringInfoString(buf, ": ");
    if (value)
        escape_json(buf, value);
    else
        appendStringInfoString(buf, "null");
}

const char *
ts_text(TimestampTz ts)
{
    return ts == DT_NOBEGIN ? nullptr : timestamptz_to_str(ts);
}

Datum
info_jsonb(const Conflict &c, const RemoteTxnInfo &txn)
{
    StringInfoData buf;
    initStringInfo(&buf);
    appendStringInfoChar(&buf, '{');
    json_field(&buf, "kind", kind_name(c.kind), true);
    json_field(&buf, "subscription", nodes.subscription);
    json_field(&buf, "table", c.rel->local_name);
    json_field(&buf, "this_node", nodes.local_node);
    json_field(&buf, "local_node", c.local ? node_of_origin(c.local_origin) : nullptr);
    json_field(&buf, "remote_node", nodes.remote_node);
    json_field(&buf, "local_commit_ts", c.local ? ts_text(c.local_ts) : nullptr);
    json_field(&buf, "remote_commit_ts", ts_text(txn.commit_time));
    appendStringInfoChar(&buf, '}');
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

// ---------------------------------------------------------------- held

char *
held_copy(const char *s)
{
    return s ? MemoryContextStrdup(held_cxt, s) : nullptr;
}

// Records what is about to be held, so that the worker can log it once the
// ERROR has aborted the transaction.
void
record_held(const Conflict &c, const RemoteTxnInfo &txn, Datum key_row, const char *reason)
{
    if (held_cxt == nullptr)
        held_cxt = AllocSetContextCreate(TopMemoryContext, "pymigrate held conflict", ALLOCSET_SMALL_SIZES);
    MemoryContextReset(held_cxt);
    held = static_cast<HeldConflict *>(MemoryContextAllocZero(held_cxt, sizeof(HeldConflict)));
    const ApplyRules &r = c.rel->route->rules;
    held->subscription = held_copy(nodes.subscription);
    held->table_name = held_copy(c.rel->local_name);
    held->kind = held_copy(kind_name(c.kind));
    // The key: the key columns of the row we have.
    StringInfoData key;
    initStringInfo(&key);
    appendStringInfoChar(&key, '{');
    TupleTableSlot *src = c.local ? c.local : c.key;
    TupleDesc desc = src->tts_tupleDescriptor;
    slot_getallattrs(src);
    for (int k = 0; k < c.rel->nkey; ++k) {
        int i = c.rel->key_attnums[k] - 1;
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (k)
            appendStringInfoString(&key, ", ");
        escape_json(&key, NameStr(att->attname));
        appendStringInfoString(&key, ": ");
        if (src->tts_isnull[i]) {
            appendStringInfoString(&key, "null");
        } else {
            Oid out;
            bool varlena;
            getTypeOutputInfo(att->atttypid, &out, &varlena);
            escape_json(&key, OidOutputFunctionCall(out, src->tts_values[i]));
        }
    }
    appendStringInfoChar(&key, '}');
    (void)key_row;
    held->key = held_copy(key.data);
    held->local_row = held_copy(c.local ? jsonb_text(slot_to_jsonb(c.local)) : nullptr);
    held->remote_row = held_copy(c.remote ? jsonb_text(slot_to_jsonb(c.remote)) : nullptr);
    held->local_ts = c.local ? c.local_ts : DT_NOBEGIN;
    held->local_node = held_copy(c.local ? node_of_origin(c.local_origin) : nullptr);
    held->remote_ts = txn.commit_time;
    held->remote_node = held_copy(nodes.remote_node);
    held->strategy = held_copy(r.strategy_name);
    held->remote_lsn = txn.commit_lsn;
    held->remote_xid = txn.xid;
    held->reason = held_copy(reason);
}

// ---------------------------------------------------------------- logging

void
log_conflict(const Conflict &c, const RemoteTxnInfo &txn, Decision d, TupleTableSlot *resolved, const char *detail)
{
    static const char *sql =
        "INSERT INTO pymigrate.conflict_log (subscription, table_name, kind, key, local_row, remote_row, "
        "resolved_row, local_commit_ts, local_node, remote_commit_ts, remote_node, strategy, outcome, "
        "remote_commit_lsn, remote_xid, detail) "
        "VALUES ($1, $2, $3, (SELECT pg_catalog.jsonb_object_agg(k, $4 -> k) FROM pg_catalog.unnest($17) k), "
        "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
    static Oid types[17] = {TEXTOID,        TEXTOID, TEXTOID,        JSONBOID, JSONBOID, JSONBOID,
                            JSONBOID,       TIMESTAMPTZOID,          TEXTOID,  TIMESTAMPTZOID,
                            TEXTOID,        TEXTOID, TEXTOID,        PG_LSNOID, INT8OID, TEXTOID,
                            TEXTARRAYOID};
    Datum v[17];
    char n[17];
    memset(n, ' ', sizeof(n));
    // The key the change looked for (an UPDATE's new row may carry another).
    TupleTableSlot *key_source = c.local ? c.local : (c.key ? c.key : c.remote);
    Datum key_row = slot_to_jsonb(key_source);
    TupleDesc desc = key_source->tts_tupleDescriptor;
    Datum *names = static_cast<Datum *>(palloc(sizeof(Datum) * Max(c.rel->nkey, 1)));
    for (int k = 0; k < c.rel->nkey; ++k)
        names[k] = CStringGetTextDatum(NameStr(TupleDescAttr(desc, c.rel->key_attnums[k] - 1)->attname));
    v[0] = CStringGetTextDatum(nodes.subscription);
    v[1] = CStringGetTextDatum(c.rel->local_name);
    v[2] = CStringGetTextDatum(kind_name(c.kind));
    v[3] = key_row;
    v[4] = c.local ? slot_to_jsonb(c.local) : 0;
    n[4] = c.local ? ' ' : 'n';
    v[5] = c.remote ? slot_to_jsonb(c.remote) : 0;
    n[5] = c.remote ? ' ' : 'n';
    TupleTableSlot *kept = nullptr;
    switch (d) {
    case Decision::ApplyRemote:
    case Decision::Insert:
        kept = c.remote;
        break;
    case Decision::KeepLocal:
        kept = c.local;
        break;
    case Decision::Merged:
        kept = resolved;
        break;
    case Decision::Skip:
        break;
    }
    v[6] = kept ? slot_to_jsonb(kept) : 0;
    n[6] = kept ? ' ' : 'n';
    // The *_deleted kinds have no row here, but a version: our delete.
    bool local_version = c.local || c.kind == ConflictKind::InsertDeleted || c.kind == ConflictKind::UpdateDeleted;
    v[7] = TimestampTzGetDatum(c.local_ts);
    n[7] = local_version && c.local_ts != DT_NOBEGIN ? ' ' : 'n';
    v[8] = local_version ? CStringGetTextDatum(node_of_origin(c.local_origin)) : 0;
    n[8] = local_version ? ' ' : 'n';
    v[9] = TimestampTzGetDatum(txn.commit_time);
    v[10] = CStringGetTextDatum(nodes.remote_node);
    v[11] = CStringGetTextDatum(c.rel->route->rules.strategy_name);
    v[12] = CStringGetTextDatum(decision_name(d));
    v[13] = LSNGetDatum(txn.commit_lsn);
    n[13] = txn.commit_lsn == InvalidXLogRecPtr ? 'n' : ' ';
    v[14] = Int64GetDatum(static_cast<int64>(txn.xid));
    n[14] = txn.xid == 0 ? 'n' : ' ';
    v[15] = detail ? CStringGetTextDatum(detail) : 0;
    n[15] = detail ? ' ' : 'n';
    v[16] = PointerGetDatum(construct_array(names, c.rel->nkey, TEXTOID, -1, false, TYPALIGN_INT));
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    if (log_plan == nullptr) {
        SPIPlanPtr plan = SPI_prepare(sql, 17, types);
        if (plan == nullptr)
            elog(ERROR, "could not prepare the conflict log insert: %s", SPI_result_code_string(SPI_result));
        SPI_keepplan(plan);
        log_plan = plan;
    }
    int rc = SPI_execute_plan(log_plan, v, n, false, 0);
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "could not write pymigrate.conflict_log: %s", SPI_result_code_string(rc));
    SPI_finish();
}

// ---------------------------------------------------------------- strategies

// Priority per column: each column from the node that wins it (column
// priority, else the node list, else the later write).
Decision
merge_by_priority(Conflict &c, const RemoteTxnInfo &txn)
{
    const ApplyRules &r = c.rel->route->rules;
    const char *local_node = node_of_origin(c.local_origin);
    int rr = rank(r, nodes.remote_node);
    int rl = rank(r, local_node);
    bool remote_row_wins = rr != rl ? rr < rl : remote_is_later(c, txn);
    TupleDesc desc = c.local->tts_tupleDescriptor;
    slot_getallattrs(c.local);
    slot_getallattrs(c.remote);
    TupleTableSlot *out = c.resolved;
    ExecClearTuple(out);
    bool any_local = false, any_remote = false;
    for (int i = 0; i < desc->natts; ++i) {
        bool remote_wins = remote_row_wins;
        for (int k = 0; k < r.ncolprio; ++k) {
            if (c.rel->colprio_attr[k] != i)
                continue;
            if (strcmp(r.colprio_node[k], nodes.remote_node) == 0)
                remote_wins = true;
            else if (strcmp(r.colprio_node[k], local_node) == 0)
                remote_wins = false;
        }
        TupleTableSlot *from = remote_wins ? c.remote : c.local;
        out->tts_values[i] = from->tts_values[i];
        out->tts_isnull[i] = from->tts_isnull[i];
        bool same = c.local->tts_isnull[i] == c.remote->tts_isnull[i] &&
                    (c.local->tts_isnull[i] ||
                     datum_image_eq(c.local->tts_values[i], c.remote->tts_values[i], TupleDescAttr(desc, i)->attbyval,
                                    TupleDescAttr(desc, i)->attlen));
        if (!same) {
            any_remote = any_remote || remote_wins;
            any_local = any_local || !remote_wins;
        }
    }
    ExecStoreVirtualTuple(out);
    if (!any_local)
        return Decision::ApplyRemote;
    if (!any_remote)
        return Decision::KeepLocal;
    return Decision::Merged;
}

bool
slots_equal(TupleTableSlot *a, TupleTableSlot *b)
{
    TupleDesc desc = a->tts_tupleDescriptor;
    slot_getallattrs(a);
    slot_getallattrs(b);
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped)
            continue;
        if (a->tts_isnull[i] != b->tts_isnull[i])
            return false;
        if (!a->tts_isnull[i] && !datum_image_eq(a->tts_values[i], b->tts_values[i], att->attbyval, att->attlen))
            return false;
    }
    return true;
}

// The custom resolver: (tbl regclass, local jsonb, remote jsonb, info jsonb)
// returns the row to keep (columns it leaves out keep the local value), or
// NULL to keep the local row.
Decision
call_resolver(Conflict &c, const RemoteTxnInfo &txn)
{
    const ApplyRules &r = c.rel->route->rules;
    Datum local = slot_to_jsonb(c.local);
    Datum remote = slot_to_jsonb(c.remote);
    Datum info = info_jsonb(c, txn);
    char *reason = psprintf("custom conflict resolver %s failed", r.resolver);
    record_held(c, txn, local, reason);

    FmgrInfo flinfo;
    fmgr_info(r.resolver_oid, &flinfo);
    LOCAL_FCINFO(fcinfo, 4);
    InitFunctionCallInfoData(*fcinfo, &flinfo, 4, InvalidOid, nullptr, nullptr);
    fcinfo->args[0].value = ObjectIdGetDatum(RelationGetRelid(c.localrel));
    fcinfo->args[0].isnull = false;
    fcinfo->args[1].value = local;
    fcinfo->args[1].isnull = false;
    fcinfo->args[2].value = remote;
    fcinfo->args[2].isnull = false;
    fcinfo->args[3].value = info;
    fcinfo->args[3].isnull = false;
    Datum result = FunctionCallInvoke(fcinfo);
    CommandCounterIncrement(); // the resolver may have written
    if (fcinfo->isnull) {
        clear_held_conflict();
        return Decision::KeepLocal;
    }
    Jsonb *jb = DatumGetJsonbP(result);
    held->reason = held_copy(psprintf("custom conflict resolver %s returned a malformed row", r.resolver));
    if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("conflict resolver %s returned %s for table %s, not a JSON object (the row to keep) or "
                               "NULL",
                               r.resolver, jsonb_text(result), c.rel->local_name)));
    // Every key must be a column of the table.
    TupleDesc desc = RelationGetDescr(c.localrel);
    JsonbIterator *it = JsonbIteratorInit(&jb->root);
    JsonbValue v;
    JsonbIteratorToken tok;
    int depth = 0;
    while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE) {
        if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
            ++depth;
        else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
            --depth;
        else if (tok == WJB_KEY && depth == 1) {
            char *name = pnstrdup(v.val.string.val, v.val.string.len);
            bool known = false;
            for (int i = 0; i < desc->natts && !known; ++i)
                known = !TupleDescAttr(desc, i)->attisdropped && strcmp(NameStr(TupleDescAttr(desc, i)->attname),
                                                                         name) == 0;
            if (!known)
                ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                                errmsg("conflict resolver %s returned column \"%s\", which table %s does not have",
                                       r.resolver, name, c.rel->local_name)));
        }
    }
    // The row: the local one with the returned columns set.
    Oid argtypes[2] = {c.localrel->rd_rel->reltype, JSONBOID};
    Datum args[2] = {ExecFetchSlotHeapTupleDatum(c.local), result};
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    int rc = SPI_execute_with_args("SELECT pg_catalog.jsonb_populate_record($1, $2)", 2, argtypes, args, nullptr,
                                   true, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "jsonb_populate_record failed: %s", SPI_result_code_string(rc));
    bool isnull = false;
    Datum row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    row = SPI_datumTransfer(row, false, -1);
    SPI_finish();
    HeapTupleHeader td = DatumGetHeapTupleHeader(row);
    HeapTupleData tuple;
    tuple.t_len = HeapTupleHeaderGetDatumLength(td);
    ItemPointerSetInvalid(&tuple.t_self);
    tuple.t_tableOid = InvalidOid;
    tuple.t_data = td;
    ExecForceStoreHeapTuple(&tuple, c.resolved, false);
    slot_getallattrs(c.resolved);
    slot_getallattrs(c.local);
    for (int k = 0; k < c.rel->nkey; ++k) {
        int i = c.rel->key_attnums[k] - 1;
        Form_pg_attribute att = TupleDescAttr(desc, i);
        bool same = c.resolved->tts_isnull[i] == c.local->tts_isnull[i] &&
                    (c.local->tts_isnull[i] || datum_image_eq(c.resolved->tts_values[i], c.local->tts_values[i],
                                                              att->attbyval, att->attlen));
        if (!same)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("conflict resolver %s changed key column \"%s\" of a row of %s", r.resolver,
                                   NameStr(att->attname), c.rel->local_name),
                            errhint("A resolver returns the row to keep for the same key.")));
    }
    clear_held_conflict();
    if (slots_equal(c.resolved, c.local))
        return Decision::KeepLocal;
    if (slots_equal(c.resolved, c.remote))
        return Decision::ApplyRemote;
    return Decision::Merged;
}

[[noreturn]] void
hold(const Conflict &c, const RemoteTxnInfo &txn, const char *reason)
{
    record_held(c, txn, 0, reason);
    ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                    errmsg("%s: %s on %s", reason, kind_name(c.kind), c.rel->local_name),
                    errhint("The change is held: nothing of its remote transaction is applied until the conflict is "
                            "resolved (change the row, or the table's strategy with pymigrate.alter_subscription()); "
                            "the worker retries.")));
    pg_unreachable();
}

// What update_missing does when the subscription does not say.
MissingAction
update_missing_action(const ApplyRules &r)
{
    if (r.update_missing >= 0)
        return static_cast<MissingAction>(r.update_missing);
    switch (static_cast<Strategy>(r.strategy)) {
    case Strategy::ApplyRemote:
        return MissingAction::Insert;
    case Strategy::Error:
        return MissingAction::Error;
    case Strategy::Priority:
        // The row was deleted here: the remote update wins if its node ranks
        // above this one (the other side then deletes nothing either).
        return rank(r, nodes.remote_node) < rank(r, nodes.local_node) ? MissingAction::Insert : MissingAction::Skip;
    default:
        return MissingAction::Skip;
    }
}

// Custom: the row here was inserted after this node deleted the key, and
// the remote change was made before that delete (which the provider had
// not applied): on the provider's side the delete is weighed against the
// change by commit time and wins, and this row then arrives there too; so
// the row here stays, whatever the resolver would pick between the two
// (last_write_wins decides alike by itself; priority ranks both sides the
// same way without this).
bool
lost_to_our_delete(const Conflict &c, const RemoteTxnInfo &txn, const char **detail)
{
    Conflict del = c;
    if (!deleted_here_concurrently(c.localrel, c.local, &del) || remote_is_later(del, txn))
        return false;
    *detail = psprintf("the remote change committed before this node's concurrent delete of the key (at %s), which "
                       "won over it; the row here was inserted after that delete",
                       timestamptz_to_str(del.local_ts));
    return true;
}

Decision
decide(Conflict &c, const RemoteTxnInfo &txn, const char **detail)
{
    const ApplyRules &r = c.rel->route->rules;
    auto strategy = static_cast<Strategy>(r.strategy);
    switch (c.kind) {
    case ConflictKind::InsertExists:
    case ConflictKind::UpdateOriginDiffers:
        switch (strategy) {
        case Strategy::LastWriteWins:
            return remote_is_later(c, txn) ? Decision::ApplyRemote : Decision::KeepLocal;
        case Strategy::Priority:
            return merge_by_priority(c, txn);
        case Strategy::Custom:
            if (lost_to_our_delete(c, txn, detail))
                return Decision::KeepLocal;
            return call_resolver(c, txn);
        case Strategy::KeepLocal:
            return Decision::KeepLocal;
        case Strategy::ApplyRemote:
            return Decision::ApplyRemote;
        case Strategy::Error:
            hold(c, txn, "conflict strategy 'error'");
        }
        break;
    case ConflictKind::DeleteOriginDiffers:
        // The delete against our row: the later of the two (the other side
        // weighs our row's write against its tombstone the same way:
        // update_deleted), or the higher-ranked node.
        switch (strategy) {
        case Strategy::LastWriteWins:
        case Strategy::Custom:
            // A table without a key records no deletes: the other side then
            // cannot weigh our row against its delete later (its update
            // finds no row and is skipped), so the delete wins here too,
            // unless update_missing inserts (then the update wins there).
            if (!tombstone::records_deletes(c.localrel))
                return update_missing_action(r) == MissingAction::Insert ? Decision::KeepLocal : Decision::ApplyRemote;
            return remote_is_later(c, txn) ? Decision::ApplyRemote : Decision::KeepLocal;
        case Strategy::Priority:
            return remote_ranks_first(c, txn) ? Decision::ApplyRemote : Decision::KeepLocal;
        case Strategy::KeepLocal:
            return Decision::KeepLocal;
        case Strategy::ApplyRemote:
            return Decision::ApplyRemote;
        case Strategy::Error:
            hold(c, txn, "conflict strategy 'error'");
        }
        break;
    case ConflictKind::InsertDeleted:
    case ConflictKind::UpdateDeleted: {
        // Our delete against the remote write: the later, or the
        // higher-ranked node; a remote write that wins brings the row back.
        bool insert = false;
        switch (strategy) {
        case Strategy::LastWriteWins:
        case Strategy::Custom:
            insert = remote_is_later(c, txn);
            break;
        case Strategy::Priority:
            insert = remote_ranks_first(c, txn);
            break;
        case Strategy::KeepLocal:
            insert = false;
            break;
        case Strategy::ApplyRemote:
            insert = true;
            break;
        case Strategy::Error:
            hold(c, txn, "conflict strategy 'error'");
        }
        if (insert && !c.remote_complete) {
            *detail = "not inserted: the remote UPDATE left a TOASTed value unchanged, which this side does not "
                      "have (the other side keeps the row: pymigrate validate finds it, --reconcile repairs it)";
            return Decision::Skip;
        }
        return insert ? Decision::Insert : Decision::Skip;
    }
    case ConflictKind::UpdateMissing:
        switch (update_missing_action(r)) {
        case MissingAction::Insert:
            if (!c.remote_complete) {
                *detail = "not inserted: the remote UPDATE left a TOASTed value unchanged, which this side does not "
                          "have";
                return Decision::Skip;
            }
            return Decision::Insert;
        case MissingAction::Error:
            hold(c, txn, "update_missing action 'error'");
        case MissingAction::Skip:
            return Decision::Skip;
        }
        break;
    case ConflictKind::DeleteMissing:
        if (static_cast<MissingAction>(r.delete_missing) == MissingAction::Error)
            hold(c, txn, "delete_missing action 'error'");
        return Decision::Skip;
    }
    return Decision::Skip;
}

} // namespace

void
set_node_context(const NodeContext &ctx)
{
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    nodes = ctx;
    nodes.subscription = pstrdup(ctx.subscription);
    nodes.local_node = pstrdup(ctx.local_node);
    nodes.remote_node = pstrdup(ctx.remote_node);
    nodes.origin_ids = static_cast<RepOriginId *>(palloc(sizeof(RepOriginId) * Max(ctx.norigins, 1)));
    nodes.origin_nodes = static_cast<const char **>(palloc(sizeof(char *) * Max(ctx.norigins, 1)));
    for (int i = 0; i < ctx.norigins; ++i) {
        nodes.origin_ids[i] = ctx.origin_ids[i];
        nodes.origin_nodes[i] = pstrdup(ctx.origin_nodes[i]);
    }
    MemoryContextSwitchTo(old);
}

bool
local_row_changed_elsewhere(TupleTableSlot *local, Conflict *c)
{
    c->local_ts = DT_NOBEGIN;
    c->local_origin = InvalidRepOriginId;
    // The tuple header, not slot_getsysattr: that returns the raw xmin, which
    // a frozen tuple keeps, and a frozen row (loaded long ago, on both sides
    // alike) must count as replicated, not as a local write.
    bool should_free = false;
    HeapTuple tuple = ExecFetchSlotHeapTuple(local, false, &should_free);
    TransactionId xmin = HeapTupleHeaderGetXmin(tuple->t_data); // FrozenTransactionId when frozen
    if (should_free)
        heap_freetuple(tuple);
    if (!TransactionIdIsNormal(xmin) || TransactionIdIsCurrentTransactionId(xmin))
        return false;
    if (!track_commit_timestamp)
        return false;
    TimestampTz ts;
    RepOriginId origin;
    if (!TransactionIdGetCommitTsData(xmin, &ts, &origin))
        return false; // older than the commit timestamps kept: as if replicated
    c->local_ts = ts;
    c->local_origin = origin;
    if (origin == nodes.my_origin)
        return false;
    // Written here, but the provider had applied this version before it
    // made its change (its SEEN came first in its stream): the change was
    // made on top of ours, a hand-over, not a concurrent write (causal.hpp).
    return !(origin == InvalidRepOriginId && seen_by_peer(xmin, ts));
}

bool
deleted_here_concurrently(Relation rel, TupleTableSlot *key, Conflict *c)
{
    c->local_ts = DT_NOBEGIN;
    c->local_origin = InvalidRepOriginId;
    if (!track_commit_timestamp)
        return false;
    TransactionId xid = InvalidTransactionId;
    if (!tombstone::find(rel, key, &xid))
        return false;
    TimestampTz ts;
    RepOriginId origin;
    if (!TransactionIdGetCommitTsData(xid, &ts, &origin))
        return false; // older than the commit timestamps kept: long applied on both sides
    c->local_ts = ts;
    // Unknown counts as concurrent: the strategy then decides, which is what
    // a hand-over would have done under last_write_wins (the later write).
    return seen_state(xid, ts) != Seen::Yes;
}

Decision
resolve_conflict(Conflict &c, const RemoteTxnInfo &txn)
{
    const char *detail = nullptr;
    Decision d = decide_conflict(c, txn, &detail);
    record_conflict(c, txn, d, detail);
    return d;
}

Decision
decide_conflict(Conflict &c, const RemoteTxnInfo &txn, const char **detail)
{
    return decide(c, txn, detail);
}

void
record_conflict(const Conflict &c, const RemoteTxnInfo &txn, Decision d, const char *detail)
{
    ++conflicts_in_txn;
    if (c.kind == ConflictKind::UpdateMissing || c.kind == ConflictKind::DeleteMissing ||
        c.kind == ConflictKind::UpdateDeleted)
        ++missing_in_txn;
    log_conflict(c, txn, d, c.resolved, detail);
}

const HeldConflict *
held_conflict()
{
    return held;
}

void
clear_held_conflict()
{
    held = nullptr;
    if (held_cxt)
        MemoryContextReset(held_cxt);
}

} // namespace pymigrate::sync::apply

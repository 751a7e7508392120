// Applying one message of the change stream (apply_changes.hpp).
//
// Per remote transaction and table we build the executor state once (range
// table, result relation with its indexes open, slots) and keep it until the
// COMMIT; PostgreSQL's worker.c builds it for every change. Per change: a
// fresh snapshot, the AFTER-trigger query level, the row operation, then a
// CommandCounterIncrement so the next change of the transaction sees it.
#include "sync/apply_changes.hpp"

#include "sync/apply_relmap.hpp"
#include "sync/causal.hpp"
#include "sync/conflict.hpp"
#include "sync/protocol.hpp"

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/catalog.h"
#include "commands/tablecmds.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "replication/origin.h"
#include "storage/lmgr.h"
#include "rewrite/rewriteHandler.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
}

namespace pymigrate::sync::apply {

namespace {

using namespace proto;

// The executor state of one local table within the current transaction.
struct Target {
    RelMapEntry *map;
    Relation rel;
    EState *estate;
    ResultRelInfo *rri;
    TupleTableSlot *remoteslot; // values of the stream, and the search key
    TupleTableSlot *newslot;    // the updated row
    TupleTableSlot *localslot;  // the row found here
    TupleTableSlot *resolvedslot; // a row merged by conflict handling
    bool defaults_ready;
    int ndefaults;
    int *defmap;
    ExprState **defexprs;
    Target *next;
};

// A tuple of the stream: per remote column its kind and bytes.
struct RemoteTuple {
    int natts;
    char *kinds;
    const char **data;
    uint32 *lens;
};

struct State {
    bool started;
    int max_proto_version;
    bool in_txn;
    XLogRecPtr final_lsn;
    TimestampTz commit_time;
    uint32 xid;
    uint64 changes;
    MemoryContext msg_cxt;  // reset after every message
    MemoryContext txn_cxt;  // targets of the transaction
    MemoryContext idle_cxt; // current between messages (nothing is allocated there)
    Target *targets;
    void (*pre_commit)(void *); // see set_pre_commit()
    void *pre_commit_arg;
    // for the error context
    char msg_type;
    RelMapEntry *msg_rel;
};

State st;

void
error_context(void *)
{
    if (st.msg_rel)
        errcontext("pymigrate apply: %c message for table %s.%s of remote transaction %u (commit %X/%X)", st.msg_type,
                   st.msg_rel->remote.schema, st.msg_rel->remote.name, st.xid, static_cast<uint32>(st.final_lsn >> 32),
                   static_cast<uint32>(st.final_lsn));
    else if (st.in_txn)
        errcontext("pymigrate apply: %c message of remote transaction %u (commit %X/%X)", st.msg_type, st.xid,
                   static_cast<uint32>(st.final_lsn >> 32), static_cast<uint32>(st.final_lsn));
    else
        errcontext("pymigrate apply: %c message", st.msg_type);
}

[[noreturn]] void
protocol_error(const char *what)
{
    ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("pymigrate stream: %s", what)));
    pg_unreachable();
}

void
read_tuple(Reader &r, const RelMapEntry *e, RemoteTuple *t)
{
    int n = get_u16(r);
    if (n != e->remote.natts)
        ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("pymigrate stream: tuple of %s.%s has %d columns, its RELATION message %d",
                               e->remote.schema, e->remote.name, n, e->remote.natts)));
    t->natts = n;
    t->kinds = static_cast<char *>(palloc(Max(n, 1)));
    t->data = static_cast<const char **>(palloc(sizeof(char *) * Max(n, 1)));
    t->lens = static_cast<uint32 *>(palloc(sizeof(uint32) * Max(n, 1)));
    for (int i = 0; i < n; ++i) {
        char kind = static_cast<char>(get_u8(r));
        t->kinds[i] = kind;
        t->data[i] = nullptr;
        t->lens[i] = 0;
        if (kind == kText || kind == kBinary)
            t->data[i] = get_bytes(r, &t->lens[i]);
        else if (kind != kNull && kind != kUnchanged)
            ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                            errmsg("pymigrate stream: unknown value kind 0x%02x", static_cast<unsigned char>(kind))));
    }
}

struct ColumnContext {
    const RelMapEntry *e;
    int remote_col;
};

void
column_error_context(void *arg)
{
    auto *c = static_cast<ColumnContext *>(arg);
    if (c->remote_col >= 0)
        errcontext("reading column %s of %s (provider type %s)", c->e->remote.attnames[c->remote_col], c->e->local_name,
                   c->e->remote.typnames[c->remote_col]);
}

// The bytes of a binary value as the receive functions want them.
StringInfoData
value_buffer(const RemoteTuple *t, int k)
{
    StringInfoData buf;
    buf.data = static_cast<char *>(palloc(t->lens[k] + 1));
    memcpy(buf.data, t->data[k], t->lens[k]);
    buf.data[t->lens[k]] = '\0';
    buf.len = static_cast<int>(t->lens[k]);
    buf.maxlen = buf.len + 1;
    buf.cursor = 0;
    return buf;
}

// A value in the column type's binary send format.
void
store_binary(const RelMapEntry *e, const RemoteTuple *t, int k, int i, Form_pg_attribute att, TupleTableSlot *slot)
{
    StringInfoData buf = value_buffer(t, k);
    slot->tts_values[i] = ReceiveFunctionCall(&e->recv_funcs[i], &buf, e->typioparams[i], att->atttypmod);
    if (buf.cursor != buf.len)
        ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
                        errmsg("incorrect binary data format in column %s", NameStr(att->attname))));
    slot->tts_isnull[i] = false;
}

// Fills `slot` (the local table's layout) from `t`. With `base`, columns the
// stream does not give (unmapped, or unchanged TOAST) keep base's value;
// without it they are NULL, and an unchanged-TOAST marker is an error unless
// the slot only serves as a search key, or `complete` is given (then it is
// set false: the row lacks a value).
void
store_values(Target *tg, const RemoteTuple *t, TupleTableSlot *slot, TupleTableSlot *base, bool search_key,
             bool *complete = nullptr)
{
    const RelMapEntry *e = tg->map;
    TupleDesc desc = slot->tts_tupleDescriptor;
    int natts = desc->natts;
    ExecClearTuple(slot);
    if (base) {
        slot_getallattrs(base);
        memcpy(slot->tts_values, base->tts_values, sizeof(Datum) * natts);
        memcpy(slot->tts_isnull, base->tts_isnull, sizeof(bool) * natts);
    } else {
        memset(slot->tts_values, 0, sizeof(Datum) * natts);
        memset(slot->tts_isnull, true, sizeof(bool) * natts);
    }
    ColumnContext cc{e, -1};
    ErrorContextCallback cb{error_context_stack, column_error_context, &cc};
    error_context_stack = &cb;
    for (int i = 0; i < natts; ++i) {
        int k = e->attrmap[i];
        if (k < 0)
            continue;
        cc.remote_col = k;
        Form_pg_attribute att = TupleDescAttr(desc, i);
        switch (t->kinds[k]) {
        case kNull:
            slot->tts_values[i] = 0;
            slot->tts_isnull[i] = true;
            break;
        case kUnchanged:
            if (base == nullptr && complete != nullptr)
                *complete = false;
            else if (base == nullptr && !search_key)
                protocol_error("unchanged TOAST marker in a tuple without a row to take the value from");
            break; // keep base's value (or NULL in a search key)
        case kText: {
            char *s = pnstrdup(t->data[k], t->lens[k]);
            slot->tts_values[i] = InputFunctionCall(&e->in_funcs[i], s, e->typioparams[i], att->atttypmod);
            slot->tts_isnull[i] = false;
            break;
        }
        case kBinary:
            if (e->convert[i]) {
                // A compatible provider type: its own receive function, then
                // through text into the local type.
                StringInfoData buf = value_buffer(t, k);
                Datum remote = ReceiveFunctionCall(&e->conv_recv[i], &buf, e->conv_ioparam[i], -1);
                char *text = OutputFunctionCall(&e->conv_out[i], remote);
                slot->tts_values[i] = InputFunctionCall(&e->in_funcs[i], text, e->typioparams[i], att->atttypmod);
                slot->tts_isnull[i] = false;
                break;
            }
            store_binary(e, t, k, i, att, slot);
            break;
        }

    }
    error_context_stack = cb.previous;
    ExecStoreVirtualTuple(slot);
}

// Local columns the provider does not send take their defaults on INSERT.
void
fill_defaults(Target *tg, TupleTableSlot *slot)
{
    RelMapEntry *e = tg->map;
    if (!tg->defaults_ready) {
        MemoryContext old = MemoryContextSwitchTo(tg->estate->es_query_cxt);
        TupleDesc desc = RelationGetDescr(tg->rel);
        tg->defmap = static_cast<int *>(palloc(sizeof(int) * Max(desc->natts, 1)));
        tg->defexprs = static_cast<ExprState **>(palloc(sizeof(ExprState *) * Max(desc->natts, 1)));
        tg->ndefaults = 0;
        for (int i = 0; i < desc->natts; ++i) {
            Form_pg_attribute att = TupleDescAttr(desc, i);
            if (att->attisdropped || att->attgenerated || e->attrmap[i] >= 0)
                continue;
            Expr *def = reinterpret_cast<Expr *>(build_column_default(tg->rel, i + 1));
            if (def == nullptr)
                continue;
            def = expression_planner(def);
            tg->defexprs[tg->ndefaults] = ExecInitExpr(def, nullptr);
            tg->defmap[tg->ndefaults] = i;
            ++tg->ndefaults;
        }
        tg->defaults_ready = true;
        MemoryContextSwitchTo(old);
    }
    ExprContext *econtext = GetPerTupleExprContext(tg->estate);
    for (int d = 0; d < tg->ndefaults; ++d) {
        int i = tg->defmap[d];
        slot->tts_values[i] = ExecEvalExpr(tg->defexprs[d], econtext, &slot->tts_isnull[i]);
    }
}

Target *
open_target(RelMapEntry *e)
{
    if (e->txn_target)
        return static_cast<Target *>(e->txn_target);
    MemoryContext old = MemoryContextSwitchTo(st.txn_cxt);
    Relation rel = open_local(e, RowExclusiveLock);
    auto *tg = static_cast<Target *>(palloc0(sizeof(Target)));
    tg->map = e;
    tg->rel = rel;
    tg->estate = CreateExecutorState();
    RangeTblEntry *rte = makeNode(RangeTblEntry);
    rte->rtekind = RTE_RELATION;
    rte->relid = RelationGetRelid(rel);
    rte->relkind = rel->rd_rel->relkind;
    rte->rellockmode = AccessShareLock;
    ExecInitRangeTable(tg->estate, list_make1(rte));
    tg->rri = makeNode(ResultRelInfo);
    InitResultRelInfo(tg->rri, rel, 1, nullptr, 0);
    ExecOpenIndices(tg->rri, true); // speculative insertion: insert_unless_key_taken()
    tg->remoteslot = ExecInitExtraTupleSlot(tg->estate, RelationGetDescr(rel), &TTSOpsVirtual);
    tg->newslot = ExecInitExtraTupleSlot(tg->estate, RelationGetDescr(rel), &TTSOpsVirtual);
    tg->localslot = table_slot_create(rel, &tg->estate->es_tupleTable);
    tg->resolvedslot = ExecInitExtraTupleSlot(tg->estate, RelationGetDescr(rel), &TTSOpsVirtual);
    tg->next = st.targets;
    st.targets = tg;
    e->txn_target = tg;
    MemoryContextSwitchTo(old);
    return tg;
}

void
close_targets()
{
    for (Target *tg = st.targets; tg; tg = tg->next) {
        ExecCloseIndices(tg->rri);
        ExecResetTupleTable(tg->estate->es_tupleTable, false);
        FreeExecutorState(tg->estate);
        table_close(tg->rel, NoLock);
        tg->map->txn_target = nullptr;
    }
    st.targets = nullptr;
    MemoryContextReset(st.txn_cxt);
}

// Changes of a table are applied only once its copy is done, and only
// those of transactions the copy's snapshot did not already contain.
bool
should_apply(const RelMapEntry *e)
{
    if (e->route == nullptr)
        return true; // open_local() raises the error that says why
    return e->route->state == 'r' && st.final_lsn >= e->route->sync_lsn;
}

void
begin_change(Target *tg)
{
    PushActiveSnapshot(GetTransactionSnapshot());
    tg->estate->es_output_cid = GetCurrentCommandId(true);
    AfterTriggerBeginQuery();
}

void
end_change(Target *tg)
{
    AfterTriggerEndQuery(tg->estate);
    ResetPerTupleExprContext(tg->estate);
    PopActiveSnapshot();
    CommandCounterIncrement();
}

bool
find_row(Target *tg, TupleTableSlot *search)
{
    if (OidIsValid(tg->map->index_oid))
        return RelationFindReplTupleByIndex(tg->rel, tg->map->index_oid, LockTupleExclusive, search, tg->localslot);
    return RelationFindReplTupleSeq(tg->rel, LockTupleExclusive, search, tg->localslot);
}

void
require_txn(const char *what)
{
    if (!st.in_txn)
        ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("pymigrate stream: %s message outside a transaction", what)));
}

// The facts of a conflict of one change.
Conflict
facts_of(Target *tg, ConflictKind kind, TupleTableSlot *local, TupleTableSlot *remote, TupleTableSlot *key,
         bool remote_complete, const Conflict *found)
{
    Conflict c{};
    if (found)
        c = *found;
    c.kind = kind;
    c.rel = tg->map;
    c.localrel = tg->rel;
    c.local = local;
    c.remote = remote;
    c.key = key;
    c.remote_complete = remote_complete;
    c.resolved = tg->resolvedslot;
    if (!found) {
        c.local_ts = DT_NOBEGIN;
        c.local_origin = InvalidRepOriginId;
    }
    return c;
}

// Conflict handling of one change: the facts, the decision (logged).
Decision
conflict(Target *tg, ConflictKind kind, TupleTableSlot *local, TupleTableSlot *remote, TupleTableSlot *key,
         bool remote_complete, const Conflict *found)
{
    Conflict c = facts_of(tg, kind, local, remote, key, remote_complete, found);
    RemoteTxnInfo txn{st.commit_time, st.final_lsn, st.xid};
    Decision d = resolve_conflict(c, txn);
    // The resolver and the log may have run statements: later writes of
    // this change come after theirs.
    tg->estate->es_output_cid = GetCurrentCommandId(true);
    return d;
}

enum class Insert {
    Done,        // inserted (or a BEFORE trigger said to do nothing)
    KeyTaken,    // a row holds the key: nothing inserted
    DeletedHere, // the key was deleted here concurrently: nothing inserted
};

// Inserts `slot` as ExecSimpleRelationInsert() does, but as INSERT ... ON
// CONFLICT DO NOTHING on the key index: a local session may insert the
// same key at the same time, and that must become the conflict with its
// row, not a unique violation that stops the worker. The key check is also
// the lookup: a remote INSERT of a new key (the common case) costs no
// lookup of its own, and the caller looks the row up only on KeyTaken.
// With `deleted`, a key found free (any local deleter of it waited for by
// the check) whose tombstone says it was deleted here concurrently is not
// inserted: DeletedHere, with the delete's facts in `*deleted`.
// `triggered`: the BEFORE triggers have fired on `slot` already.
Insert
insert_unless_key_taken(Target *tg, TupleTableSlot *slot, Conflict *deleted = nullptr, bool triggered = false)
{
    ResultRelInfo *rri = tg->rri;
    EState *estate = tg->estate;
    Relation rel = tg->rel;
    if (!OidIsValid(tg->map->index_oid) || !tg->map->key_covered) {
        ExecSimpleRelationInsert(rri, estate, slot);
        return Insert::Done;
    }
    if (!triggered && rri->ri_TrigDesc && rri->ri_TrigDesc->trig_insert_before_row &&
        !ExecBRInsertTriggers(estate, rri, slot))
        return Insert::Done; // a trigger said "do nothing": applied as such
    if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
        ExecComputeStoredGenerated(rri, estate, slot, CMD_INSERT);
    if (rel->rd_att->constr)
        ExecConstraints(rri, slot, estate);
    if (rel->rd_rel->relispartition)
        ExecPartitionCheck(rri, slot, estate, true);
    List *arbiter = list_make1_oid(tg->map->index_oid);
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        // Waits for an in-progress inserter or deleter of the key; false if
        // a row holds it.
        ItemPointerData conflict_tid;
        if (!ExecCheckIndexConstraints(rri, slot, estate, &conflict_tid, arbiter))
            return Insert::KeyTaken;
        if (deleted != nullptr && deleted_here_concurrently(rel, slot, deleted))
            return Insert::DeletedHere;
        TransactionId xid = GetCurrentTransactionId();
        uint32 token = SpeculativeInsertionLockAcquire(xid);
        table_tuple_insert_speculative(rel, slot, estate->es_output_cid, 0, nullptr, token);
        bool spec_conflict = false;
        List *recheck = ExecInsertIndexTuples(rri, slot, estate, false, true, &spec_conflict, arbiter);
        table_tuple_complete_speculative(rel, slot, token, !spec_conflict);
        SpeculativeInsertionLockRelease(xid);
        if (spec_conflict) {
            list_free(recheck); // someone got there in between: check again
            continue;
        }
        ExecARInsertTriggers(estate, rri, slot, recheck, nullptr);
        list_free(recheck);
        return Insert::Done;
    }
}

// A conflict over a missing row whose decision may be to insert the remote
// row (insert_deleted, update_deleted, update_missing): decided, acted on,
// then logged. False when the insert found its key taken: nothing is
// logged, the caller meets the row that took it.
bool
missing_row_conflict(Target *tg, ConflictKind kind, TupleTableSlot *row, TupleTableSlot *key, bool complete,
                     const Conflict *found, bool *inserted)
{
    Conflict c = facts_of(tg, kind, nullptr, row, key, complete, found);
    RemoteTxnInfo txn{st.commit_time, st.final_lsn, st.xid};
    const char *detail = nullptr;
    Decision d = decide_conflict(c, txn, &detail);
    *inserted = false;
    if (d == Decision::Insert) {
        if (kind != ConflictKind::InsertDeleted)
            fill_defaults(tg, row);
        // An insert_deleted row has been through the BEFORE triggers.
        if (insert_unless_key_taken(tg, row, nullptr, kind == ConflictKind::InsertDeleted) != Insert::Done)
            return false;
        *inserted = true;
    }
    record_conflict(c, txn, d, detail);
    tg->estate->es_output_cid = GetCurrentCommandId(true);
    return true;
}

void
update_row(Target *tg, EPQState *epq, TupleTableSlot *newrow)
{
    EvalPlanQualSetSlot(epq, newrow);
    ExecSimpleRelationUpdate(tg->rri, tg->estate, epq, tg->localslot, newrow);
}

// insert_exists: the remote row `tup` meets the local row of its key (in
// tg->localslot, locked): an INSERT of a key present here, or an UPDATE's
// new row whose key a local row holds.
void
insert_exists(Target *tg, EPQState *epq, const RemoteTuple *tup, TupleTableSlot *key)
{
    Conflict facts{};
    (void)local_row_changed_elsewhere(tg->localslot, &facts);
    // The remote row over the local one: columns the provider does not
    // send keep their values.
    store_values(tg, tup, tg->newslot, tg->localslot, false);
    switch (conflict(tg, ConflictKind::InsertExists, tg->localslot, tg->newslot, key, true, &facts)) {
    case Decision::ApplyRemote:
        update_row(tg, epq, tg->newslot);
        ++st.changes;
        break;
    case Decision::Merged:
        update_row(tg, epq, tg->resolvedslot);
        ++st.changes;
        break;
    default:
        break;
    }
}

// Do `a` and `b` hold the same values in the key columns?
bool
same_key(const RelMapEntry *e, TupleTableSlot *a, TupleTableSlot *b)
{
    TupleDesc desc = a->tts_tupleDescriptor;
    slot_getallattrs(a);
    slot_getallattrs(b);
    for (int k = 0; k < e->nkey; ++k) {
        int i = e->key_attnums[k] - 1;
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (a->tts_isnull[i] != b->tts_isnull[i])
            return false;
        if (!a->tts_isnull[i] && !datum_image_eq(a->tts_values[i], b->tts_values[i], att->attbyval, att->attlen))
            return false;
    }
    return true;
}

void
handle_insert(Reader &r)
{
    require_txn("INSERT");
    RelMapEntry *e = lookup(get_u32(r));
    st.msg_rel = e;
    if (get_u8(r) != kNewTuple)
        protocol_error("INSERT message without a new tuple");
    RemoteTuple tup;
    read_tuple(r, e, &tup);
    expect_end(r);
    if (!should_apply(e))
        return;
    Target *tg = open_target(e);
    begin_change(tg);
    store_values(tg, &tup, tg->remoteslot, nullptr, false);
    fill_defaults(tg, tg->remoteslot);
    // insert_exists: the key is here already (both sides inserted it);
    // insert_deleted: it was deleted here concurrently.
    bool exists = false;
    EPQState epq;
    EvalPlanQualInit(&epq, tg->estate, nullptr, NIL, -1);
    bool triggered = false;
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        Conflict facts{};
        Insert outcome = insert_unless_key_taken(tg, tg->remoteslot, &facts, triggered);
        triggered = true; // a second try must not fire them again
        if (outcome == Insert::Done) {
            ++st.changes;
            break;
        }
        if (outcome == Insert::KeyTaken) {
            exists = find_row(tg, tg->remoteslot);
            if (exists)
                break;
            continue; // deleted in between: try again
        }
        bool inserted = false;
        if (!missing_row_conflict(tg, ConflictKind::InsertDeleted, tg->remoteslot, tg->remoteslot, true, &facts,
                                  &inserted))
            continue; // inserted here meanwhile: insert_exists
        if (inserted)
            ++st.changes;
        break;
    }
    if (exists)
        insert_exists(tg, &epq, &tup, tg->remoteslot);
    EvalPlanQualEnd(&epq);
    end_change(tg);
}

void
handle_update_or_delete(Reader &r, bool is_update)
{
    const char *what = is_update ? "UPDATE" : "DELETE";
    require_txn(what);
    RelMapEntry *e = lookup(get_u32(r));
    st.msg_rel = e;
    RemoteTuple oldtup;
    RemoteTuple newtup;
    bool has_old = false;
    char marker = static_cast<char>(get_u8(r));
    if (marker == kKeyTuple || marker == kOldTuple) {
        read_tuple(r, e, &oldtup);
        has_old = true;
        if (is_update)
            marker = static_cast<char>(get_u8(r));
    } else if (!is_update) {
        protocol_error("DELETE message without an old key or row");
    }
    if (is_update) {
        if (marker != kNewTuple)
            protocol_error("UPDATE message without a new tuple");
        read_tuple(r, e, &newtup);
    }
    expect_end(r);
    if (!should_apply(e))
        return;
    Target *tg = open_target(e);
    check_updatable(e);
    begin_change(tg);
    store_values(tg, has_old ? &oldtup : &newtup, tg->remoteslot, nullptr, true);
    EPQState epq;
    EvalPlanQualInit(&epq, tg->estate, nullptr, NIL, -1);
retry:
    CHECK_FOR_INTERRUPTS();
    bool found = find_row(tg, tg->remoteslot);
    if (found) {
        Conflict facts{};
        bool elsewhere = local_row_changed_elsewhere(tg->localslot, &facts);
        if (is_update)
            store_values(tg, &newtup, tg->newslot, tg->localslot, false);
        Decision d = Decision::ApplyRemote;
        if (elsewhere)
            d = conflict(tg, is_update ? ConflictKind::UpdateOriginDiffers : ConflictKind::DeleteOriginDiffers,
                         tg->localslot, is_update ? tg->newslot : nullptr, tg->remoteslot, true, &facts);
        if (d == Decision::ApplyRemote && is_update) {
            update_row(tg, &epq, tg->newslot);
            ++st.changes;
        } else if (d == Decision::ApplyRemote) {
            EvalPlanQualSetSlot(&epq, tg->localslot);
            ExecSimpleRelationDelete(tg->rri, tg->estate, &epq, tg->localslot);
            ++st.changes;
        } else if (d == Decision::Merged) {
            update_row(tg, &epq, tg->resolvedslot);
            ++st.changes;
        }
    } else if (is_update) {
        bool complete = true;
        store_values(tg, &newtup, tg->newslot, nullptr, false, &complete);
        // update_deleted (the key was deleted here concurrently), else
        // update_missing.
        Conflict facts{};
        bool deleted = OidIsValid(e->index_oid) && deleted_here_concurrently(tg->rel, tg->remoteslot, &facts);
        bool inserted = false;
        if (!missing_row_conflict(tg, deleted ? ConflictKind::UpdateDeleted : ConflictKind::UpdateMissing,
                                  tg->newslot, tg->remoteslot, complete, deleted ? &facts : nullptr, &inserted)) {
            // The key of the row to insert is taken here. The same key the
            // update looked for: inserted meanwhile, the update meets that
            // row. Another key (the update changed it): that row meets the
            // remote one as an insert would.
            if (same_key(e, tg->newslot, tg->remoteslot))
                goto retry;
            if (find_row(tg, tg->newslot))
                insert_exists(tg, &epq, &newtup, tg->remoteslot);
            else
                goto retry; // gone again meanwhile
        } else if (inserted) {
            ++st.changes;
        }
    } else {
        (void)conflict(tg, ConflictKind::DeleteMissing, nullptr, nullptr, tg->remoteslot, false, nullptr);
    }
    EvalPlanQualEnd(&epq);
    end_change(tg);
}

void
handle_truncate(Reader &r)
{
    require_txn("TRUNCATE");
    uint8 flags = get_u8(r);
    uint32 n = get_u32(r);
    // TRUNCATE refuses tables this session still has open.
    close_targets();
    List *rels = NIL;
    List *relids = NIL;
    List *relids_logged = NIL;
    for (uint32 i = 0; i < n; ++i) {
        RelMapEntry *e = lookup(get_u32(r));
        st.msg_rel = e;
        if (!should_apply(e))
            continue;
        Relation rel = open_local(e, AccessExclusiveLock);
        if (list_member_oid(relids, RelationGetRelid(rel))) {
            table_close(rel, AccessExclusiveLock);
            continue;
        }
        rels = lappend(rels, rel);
        relids = lappend_oid(relids, RelationGetRelid(rel));
        if (RelationIsLogicallyLogged(rel))
            relids_logged = lappend_oid(relids_logged, RelationGetRelid(rel));
    }
    expect_end(r);
    st.msg_rel = nullptr;
    if (rels == NIL)
        return;
    PushActiveSnapshot(GetTransactionSnapshot());
    ExecuteTruncateGuts(rels, relids, relids_logged, DROP_RESTRICT, (flags & kTruncateRestartSeqs) != 0);
    ListCell *lc;
    foreach (lc, rels)
        table_close(static_cast<Relation>(lfirst(lc)), NoLock);
    PopActiveSnapshot();
    CommandCounterIncrement();
    st.changes += list_length(relids);
}

void
handle_relation(Reader &r)
{
    RemoteRelation rel;
    rel.relid = get_u32(r);
    rel.schema = get_cstring(r);
    rel.name = get_cstring(r);
    rel.replident = static_cast<char>(get_u8(r));
    allocate_columns(&rel, get_u16(r));
    for (int i = 0; i < rel.natts; ++i) {
        rel.flags[i] = get_u8(r);
        rel.attnames[i] = get_cstring(r);
        rel.atttypes[i] = get_u32(r);
        rel.typmods[i] = get_i32(r);
        rel.typnames[i] = get_cstring(r);
    }
    expect_end(r);
    // A table whose definition changes mid-transaction gets fresh executor
    // state for its later changes.
    Target *open = nullptr;
    for (Target *tg = st.targets; tg && !open; tg = tg->next)
        if (tg->map->remote_relid == rel.relid)
            open = tg;
    if (open && relation_is_current(rel))
        return;
    if (open)
        close_targets();
    (void)store_relation(rel);
}

void
handle_begin(Reader &r, Outcome *out)
{
    if (st.in_txn)
        protocol_error("BEGIN message inside a transaction");
    st.final_lsn = get_u64(r);
    st.commit_time = get_i64(r);
    st.xid = get_u32(r);
    (void)get_u16(r);     // origin id (the provider's)
    (void)get_cstring(r); // origin name (forwarded changes; conflict handling uses the provider's node)
    (void)get_u64(r);     // origin lsn
    expect_end(r);
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    st.in_txn = true;
    st.changes = 0;
    conflicts_in_txn = 0;
    missing_in_txn = 0;
    out->began = true;
    out->commit_time = st.commit_time;
}

void
handle_commit(Reader &r, Outcome *out)
{
    require_txn("COMMIT");
    (void)get_u8(r);
    XLogRecPtr commit_lsn = get_u64(r);
    XLogRecPtr end_lsn = get_u64(r);
    TimestampTz commit_time = get_i64(r);
    expect_end(r);
    if (commit_lsn != st.final_lsn)
        protocol_error("COMMIT position differs from its BEGIN's");
    close_targets();
    if (st.pre_commit)
        st.pre_commit(st.pre_commit_arg);
    // Tells the provider, through our stream back to it, that this
    // transaction of its is applied here (causal.hpp).
    log_applied_marker(st.xid, commit_time, commit_lsn);
    // The origin's progress commits atomically with the data (exactly once
    // across crashes), and the provider's commit time becomes ours (what
    // last-write-wins conflict handling compares).
    replorigin_session_origin_lsn = end_lsn;
    replorigin_session_origin_timestamp = commit_time;
    XLogRecPtr before = XactLastCommitEnd;
    CommitTransactionCommand();
    replorigin_session_origin_lsn = InvalidXLogRecPtr;
    replorigin_session_origin_timestamp = 0;
    st.in_txn = false;
    out->committed = true;
    out->end_lsn = end_lsn;
    out->local_end = XactLastCommitEnd != before ? XactLastCommitEnd : InvalidXLogRecPtr;
    out->commit_time = commit_time;
    out->changes = st.changes;
    out->not_found = missing_in_txn;
    out->conflicts = conflicts_in_txn;
}

void
handle_startup(Reader &r)
{
    uint8 version = get_u8(r);
    (void)get_u32(r);
    (void)get_cstring(r);
    (void)get_u8(r);
    (void)get_cstring(r);
    expect_end(r);
    if (version < kMinVersion || version > st.max_proto_version)
        ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("pymigrate stream: the provider chose protocol version %u; this worker asked for %d "
                               "to %d",
                               version, kMinVersion, st.max_proto_version)));
}

} // namespace

void
start(int max_proto_version)
{
    if (!st.started) {
        st.msg_cxt = AllocSetContextCreate(TopMemoryContext, "pymigrate apply message", ALLOCSET_DEFAULT_SIZES);
        st.txn_cxt = AllocSetContextCreate(TopMemoryContext, "pymigrate apply transaction", ALLOCSET_DEFAULT_SIZES);
        st.idle_cxt = AllocSetContextCreate(TopMemoryContext, "pymigrate apply idle", ALLOCSET_SMALL_SIZES);
        st.started = true;
    }
    st.max_proto_version = max_proto_version;
    forget_seen();
}

bool
in_remote_transaction()
{
    return st.in_txn;
}

void
set_pre_commit(void (*fn)(void *), void *arg)
{
    st.pre_commit = fn;
    st.pre_commit_arg = arg;
}

void
apply_message(const char *data, uint32 len, Outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        protocol_error("empty message");
    MemoryContextSwitchTo(st.msg_cxt);
    st.msg_type = data[0];
    st.msg_rel = nullptr;
    ErrorContextCallback cb{error_context_stack, error_context, nullptr};
    error_context_stack = &cb;
    Reader r = reader(data + 1, len - 1, message_name(data[0]));
    switch (data[0]) {
    case kBegin:
        handle_begin(r, out);
        break;
    case kCommit:
        handle_commit(r, out);
        break;
    case kRelation:
        handle_relation(r);
        break;
    case kInsert:
        handle_insert(r);
        break;
    case kUpdate:
    case kDelete:
        handle_update_or_delete(r, data[0] == kUpdate);
        break;
    case kTruncate:
        handle_truncate(r);
        break;
    case kStartup:
        handle_startup(r);
        break;
    case kSeen:
        note_seen(r);
        break;
    default:
        ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("pymigrate stream: unknown message type 0x%02x", static_cast<unsigned char>(data[0]))));
    }
    error_context_stack = cb.previous;
    MemoryContextSwitchTo(st.idle_cxt);
    MemoryContextReset(st.msg_cxt);
}

} // namespace pymigrate::sync::apply

// The capture trigger pymigrate._capture() (sql/install/22_sync_capture.sql):
// on a provider without logical decoding, the changes of each statement
// (transition tables) or row, encoded as the change stream's messages
// (encode.hpp, PROTOCOL.md), appended to pymigrate.change_log: a RELATION
// message first, so that every row of the log can be read on its own.
// Changes made by a session with a replication origin (an apply worker) are
// not captured, which is what keeps two directions from looping.
//
// PostgreSQL-style inside (the body runs in pg_call()).
#include "pg/guard.hpp"
#include "sync/change_log.hpp"
#include "sync/encode.hpp"
#include "sync/protocol.hpp"
#include "sync/rel_cache.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "replication/origin.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
#include "utils/tuplestore.h"
}

namespace pymigrate::sync {
namespace {

// A log row holds at most about this much: a large statement becomes
// several rows (one bytea never approaches the 1 GB limit).
constexpr int kChunkBytes = 64 * 1024;

struct CapturedRel {
    Oid relid; // hash key
    bool valid;
    int ncols;
    encode::Column *cols;
    Bitmapset *key;
    MemoryContext cxt;
};

CapturedRel *
captured(Relation rel)
{
    bool fresh = false;
    CapturedRel *e = RelCache<CapturedRel>::get(rel, "pymigrate capture relation", &fresh);
    if (fresh) {
        e->ncols = encode::columns_of(rel, true, e->cxt, &e->cols);
        MemoryContext old = MemoryContextSwitchTo(e->cxt);
        e->key = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL ? nullptr
                                                                     : bms_copy(RelationGetIdentityKeyBitmap(rel));
        MemoryContextSwitchTo(old);
        e->valid = true;
    }
    return e;
}

// The log rows of one trigger call.
struct Chunk {
    Relation rel;
    CapturedRel *cr;
    StringInfoData buf;
    int changes;
};

void
flush(Chunk &c)
{
    if (c.changes == 0)
        return;
    change_log_insert(RelationGetRelid(c.rel), c.buf.data, c.buf.len);
    resetStringInfo(&c.buf);
    c.changes = 0;
}

void
begin_chunk(Chunk &c)
{
    int at = encode::start_message(&c.buf, proto::kRelation);
    encode::relation_body(&c.buf, c.rel, c.cr->cols, c.cr->ncols);
    encode::end_message(&c.buf, at);
}

void
add_tuple(Chunk &c, TupleTableSlot *slot, char marker, bool key_only)
{
    TupleDesc desc = RelationGetDescr(c.rel);
    slot_getallattrs(slot);
    proto::put_u8(&c.buf, static_cast<uint8>(marker));
    if (!key_only) {
        encode::tuple(&c.buf, desc, c.cr->cols, c.cr->ncols, slot->tts_values, slot->tts_isnull, false);
        return;
    }
    // The key columns only (the replica identity); NULL elsewhere.
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * Max(desc->natts, 1)));
    for (int i = 0; i < desc->natts; ++i)
        nulls[i] = slot->tts_isnull[i] ||
                   !bms_is_member(i + 1 - FirstLowInvalidHeapAttributeNumber, c.cr->key);
    encode::tuple(&c.buf, desc, c.cr->cols, c.cr->ncols, slot->tts_values, nulls, false);
    pfree(nulls);
}

// One INSERT / UPDATE / DELETE message: `oldslot` for UPDATE and DELETE,
// `newslot` for INSERT and UPDATE.
void
add_change(Chunk &c, char type, TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
    if (c.buf.len >= kChunkBytes) {
        flush(c);
        begin_chunk(c);
    }
    int at = encode::start_message(&c.buf, type);
    proto::put_u32(&c.buf, RelationGetRelid(c.rel));
    if (oldslot) {
        bool full = c.cr->key == nullptr;
        add_tuple(c, oldslot, full ? proto::kOldTuple : proto::kKeyTuple, !full);
    }
    if (newslot)
        add_tuple(c, newslot, proto::kNewTuple, false);
    encode::end_message(&c.buf, at);
    ++c.changes;
}

Datum
capture(FunctionCallInfo fcinfo)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pymigrate._capture() is a trigger function")));
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    TriggerEvent ev = td->tg_event;
    Datum result = TRIGGER_FIRED_FOR_ROW(ev) ? PointerGetDatum(td->tg_trigtuple) : PointerGetDatum(nullptr);
    if (TRIGGER_FIRED_BEFORE(ev))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pymigrate._capture() must be an AFTER trigger")));
    // Applied by replication (an apply worker sets its origin): not captured.
    if (replorigin_session_origin != InvalidRepOriginId)
        return result;

    Chunk c{};
    c.rel = td->tg_relation;
    c.cr = captured(c.rel);
    initStringInfo(&c.buf);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    begin_chunk(c);
    if (TRIGGER_FIRED_BY_TRUNCATE(ev)) {
        int at = encode::start_message(&c.buf, proto::kTruncate);
        proto::put_u8(&c.buf, 0);
        proto::put_u32(&c.buf, 1);
        proto::put_u32(&c.buf, RelationGetRelid(c.rel));
        encode::end_message(&c.buf, at);
        ++c.changes;
    } else if (TRIGGER_FIRED_FOR_ROW(ev)) {
        if (TRIGGER_FIRED_BY_INSERT(ev))
            add_change(c, proto::kInsert, nullptr, td->tg_trigslot);
        else if (TRIGGER_FIRED_BY_UPDATE(ev))
            add_change(c, proto::kUpdate, td->tg_trigslot, td->tg_newslot);
        else
            add_change(c, proto::kDelete, td->tg_trigslot, nullptr);
        if (TRIGGER_FIRED_BY_UPDATE(ev))
            result = PointerGetDatum(td->tg_newtuple);
    } else {
        // Statement level: the transition tables, old and new rows of an
        // UPDATE in the same order.
        TupleDesc desc = RelationGetDescr(c.rel);
        TupleTableSlot *oldslot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
        TupleTableSlot *newslot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
        Tuplestorestate *olds = td->tg_oldtable;
        Tuplestorestate *news = td->tg_newtable;
        if (olds)
            tuplestore_rescan(olds);
        if (news)
            tuplestore_rescan(news);
        char type = TRIGGER_FIRED_BY_INSERT(ev) ? proto::kInsert
                    : TRIGGER_FIRED_BY_UPDATE(ev) ? proto::kUpdate
                                                   : proto::kDelete;
        if ((type != proto::kInsert && olds == nullptr) || (type != proto::kDelete && news == nullptr))
            ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                            errmsg("pymigrate._capture() as a statement trigger needs its transition tables"),
                            errhint("Create it with pymigrate.capture_start().")));
        for (;;) {
            bool got_old = olds && tuplestore_gettupleslot(olds, true, false, oldslot);
            bool got_new = news && tuplestore_gettupleslot(news, true, false, newslot);
            if (type == proto::kUpdate && got_old != got_new)
                elog(ERROR, "pymigrate capture: the transition tables of an UPDATE differ in length");
            if (!got_old && !got_new)
                break;
            add_change(c, type, got_old ? oldslot : nullptr, got_new ? newslot : nullptr);
        }
        ExecDropSingleTupleTableSlot(oldslot);
        ExecDropSingleTupleTableSlot(newslot);
    }
    flush(c);
    SPI_finish();
    pfree(c.buf.data);
    return result;
}

} // namespace
} // namespace pymigrate::sync

PYMIGRATE_FUNCTION(pymigrate_capture)
{
    return pymigrate::pg::pg_call([fcinfo] { return pymigrate::sync::capture(fcinfo); });
}

// Tombstones: the key encoding, the trigger that records deletes, and the
// lookup conflict handling makes (tombstone.hpp).
#include "sync/tombstone.hpp"

#include "pg/guard.hpp"
#include "sync/protocol.hpp"
#include "sync/rel_cache.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/transam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/syscache.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "replication/origin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"
}

namespace pymigrate::sync::tombstone {
namespace {

constexpr uint8 kNullTag = 0;
constexpr uint8 kValueTag = 1;

// The tombstone table's oid (looked up on each use: the extension may be
// dropped and created again).
Oid
tombstone_relid()
{
    Oid nsp = get_namespace_oid("pymigrate", false);
    Oid relid = get_relname_relid("tombstone", nsp);
    if (!OidIsValid(relid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("table pymigrate.tombstone does not exist"),
                        errhint("The extension's install script is older than its library: ALTER EXTENSION "
                                "pymigrate UPDATE.")));
    return relid;
}

// ---------------------------------------------------------------- trigger

// Per table the trigger fires on (or conflict handling asks about): its
// key codec, until the relcache says the table changed.
struct CachedRel {
    Oid relid; // hash key
    bool valid;
    bool has_key;
    KeyCodec kc;
    MemoryContext cxt;
};

CachedRel *
cached(Relation rel)
{
    bool fresh = false;
    CachedRel *e = RelCache<CachedRel>::get(rel, "pymigrate tombstone table", &fresh);
    if (fresh) {
        e->has_key = key_codec(rel, e->cxt, &e->kc);
        e->valid = true;
    }
    return e;
}

// The tids of the key's tombstones (live, or being written).
List *
tombstones_of(Relation tomb, Oid pk, Oid relid, bytea *key)
{
    ScanKeyData skey[2];
    ScanKeyInit(&skey[0], 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
    ScanKeyInit(&skey[1], 2, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(key));
    SnapshotData dirty;
    InitDirtySnapshot(dirty);
    SysScanDesc scan = systable_beginscan(tomb, pk, true, &dirty, 2, skey);
    List *old = NIL;
    while (HeapTuple tup = systable_getnext(scan)) {
        auto *tid = static_cast<ItemPointer>(palloc(sizeof(ItemPointerData)));
        *tid = tup->t_self;
        old = lappend(old, tid);
    }
    systable_endscan(scan);
    return old;
}

// A table's tombstones by key, read in one index range scan: a statement
// deleting many rows then asks a hash per row, not the index (an index
// probe per row cost ~1.8 µs, a third of what recording a delete costs).
struct KnownTomb {
    bytea *key;
    ItemPointerData tid;
};
struct KnownEntry {
    uint32 hash; // of the key's bytes; the hash key
    List *tombs; // KnownTomb *, the keys with this hash
};

uint32
key_hash(bytea *key)
{
    return hash_bytes(reinterpret_cast<const unsigned char *>(VARDATA_ANY(key)),
                      static_cast<int>(VARSIZE_ANY_EXHDR(key)));
}

// The tombstones of `relid` (live, or being written), or nullptr when there
// are more than `limit` (probing the index per row is cheaper then, and
// the hash would hold them all in memory).
HTAB *
known_tombstones(Relation tomb, Oid pk, Oid relid, int64 limit)
{
    HASHCTL info;
    info.keysize = sizeof(uint32);
    info.entrysize = sizeof(KnownEntry);
    info.hcxt = CurrentMemoryContext;
    HTAB *known = hash_create("pymigrate tombstones of a table", 256, &info, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    ScanKeyData skey;
    ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
    SnapshotData dirty;
    InitDirtySnapshot(dirty);
    SysScanDesc scan = systable_beginscan(tomb, pk, true, &dirty, 1, &skey);
    int64 n = 0;
    while (HeapTuple tup = systable_getnext(scan)) {
        if (++n > limit) {
            hash_destroy(known);
            known = nullptr;
            break;
        }
        bool isnull = false;
        auto *t = static_cast<KnownTomb *>(palloc(sizeof(KnownTomb)));
        t->key = DatumGetByteaPCopy(heap_getattr(tup, 2, RelationGetDescr(tomb), &isnull));
        t->tid = tup->t_self;
        uint32 h = key_hash(t->key);
        bool found = false;
        auto *e = static_cast<KnownEntry *>(hash_search(known, &h, HASH_ENTER, &found));
        if (!found)
            e->tombs = NIL;
        e->tombs = lappend(e->tombs, t);
    }
    systable_endscan(scan);
    return known;
}

// The tids of `key`'s tombstones among those read by known_tombstones().
List *
known_tids(HTAB *known, bytea *key)
{
    uint32 h = key_hash(key);
    auto *e = static_cast<KnownEntry *>(hash_search(known, &h, HASH_FIND, nullptr));
    if (e == nullptr)
        return NIL;
    List *tids = NIL;
    ListCell *lc;
    foreach (lc, e->tombs) {
        auto *t = static_cast<KnownTomb *>(lfirst(lc));
        if (VARSIZE_ANY_EXHDR(t->key) == VARSIZE_ANY_EXHDR(key) &&
            memcmp(VARDATA_ANY(t->key), VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) == 0)
            tids = lappend(tids, &t->tid);
    }
    return tids;
}

// The tombstone of `key` in the open tombstone table, replacing the rows
// the key had (`old`, their tids): they are deleted (one that the trim
// task deletes meanwhile is gone anyway), then the new one inserted. Heap
// and index calls, not SQL: a trigger call must cost the application's
// DELETE little. No other session writes a tombstone of the key at the
// same time: it would have to delete the same row, which only one of them
// can; the unique key would refuse it otherwise.
void
put_tombstone(Relation tomb, CatalogIndexState indexes, Oid relid, bytea *key, List *old)
{
    ListCell *lc;
    foreach (lc, old) {
        TM_FailureData tmfd;
        (void)heap_delete(tomb, static_cast<ItemPointer>(lfirst(lc)), GetCurrentCommandId(true), InvalidSnapshot,
                          true, &tmfd, false);
    }
    Datum values[4] = {ObjectIdGetDatum(relid), PointerGetDatum(key), FullTransactionIdGetDatum(GetTopFullTransactionId()),
                       TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};
    bool nulls[4] = {false, false, false, false};
    HeapTuple tup = heap_form_tuple(RelationGetDescr(tomb), values, nulls);
    CatalogTupleInsertWithInfo(tomb, tup, indexes);
    heap_freetuple(tup);
}

// Records the keys of the deleted rows: the trigger's old-row transition
// table, or its one row (a row trigger).
void
record_deletes(TriggerData *td)
{
    Relation rel = td->tg_relation;
    CachedRel *cr = cached(rel);
    if (!cr->has_key)
        return; // REPLICA IDENTITY FULL without a primary key: rows have no key
    Relation tomb = table_open(tombstone_relid(), RowExclusiveLock);
    Oid pk = RelationGetPrimaryKeyIndex(tomb);
    CatalogIndexState indexes = CatalogOpenIndexes(tomb);
    Oid relid = RelationGetRelid(rel);
    if (TRIGGER_FIRED_FOR_ROW(td->tg_event)) {
        // A partition's row trigger (a delete through the partitioned table
        // fires no statement trigger of the partition).
        bytea *key = encode_key(cr->kc, td->tg_trigslot);
        put_tombstone(tomb, indexes, relid, key, tombstones_of(tomb, pk, relid, key));
    } else {
        Tuplestorestate *olds = td->tg_oldtable;
        if (olds == nullptr)
            ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                            errmsg("pymigrate._tombstone() needs the old rows (REFERENCING OLD TABLE)"),
                            errhint("Its triggers are made by pymigrate._tombstone_triggers().")));
        // A statement deleting many rows reads the table's tombstones into
        // a hash (trimming keeps them few: those of the last seconds),
        // unless there are far more of them than rows deleted, or more than
        // 100,000 (about 10 MB in memory); otherwise one index probe per row.
        int64 n = tuplestore_tuple_count(olds);
        HTAB *known = n >= 16 ? known_tombstones(tomb, pk, relid, Min(8 * n, 100000)) : nullptr;
        TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
        // Per row in a context of its own, reset each time: a statement may
        // delete millions.
        MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "pymigrate tombstone row",
                                                      ALLOCSET_SMALL_SIZES);
        tuplestore_rescan(olds);
        // The tuple read into the slot is the slot's (a tuplestore on disk
        // reads it into the current context): read outside row_cxt.
        while (tuplestore_gettupleslot(olds, true, false, slot)) {
            MemoryContext old = MemoryContextSwitchTo(row_cxt);
            bytea *key = encode_key(cr->kc, slot);
            put_tombstone(tomb, indexes, relid, key,
                          known != nullptr ? known_tids(known, key) : tombstones_of(tomb, pk, relid, key));
            MemoryContextSwitchTo(old);
            MemoryContextReset(row_cxt);
        }
        MemoryContextDelete(row_cxt);
        ExecDropSingleTupleTableSlot(slot);
        if (known != nullptr)
            hash_destroy(known);
    }
    CatalogCloseIndexes(indexes);
    table_close(tomb, NoLock);
}

Datum
trigger(FunctionCallInfo fcinfo)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pymigrate._tombstone() is a trigger function")));
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    TriggerEvent ev = td->tg_event;
    if (!TRIGGER_FIRED_AFTER(ev) || !TRIGGER_FIRED_BY_DELETE(ev))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("pymigrate._tombstone() must be an AFTER DELETE trigger")));
    // A delete applied by replication (an apply worker sets its origin) was
    // made elsewhere: the other node holds its tombstone.
    if (replorigin_session_origin == InvalidRepOriginId)
        record_deletes(td);
    return TRIGGER_FIRED_FOR_ROW(ev) ? PointerGetDatum(td->tg_trigtuple) : PointerGetDatum(nullptr);
}

} // namespace

bool
key_codec(Relation rel, MemoryContext cxt, KeyCodec *out)
{
    Oid index = RelationGetReplicaIndex(rel);
    if (!OidIsValid(index))
        index = RelationGetPrimaryKeyIndex(rel);
    if (!OidIsValid(index))
        return false;
    Relation idx = index_open(index, AccessShareLock);
    int n = idx->rd_index->indnkeyatts;
    MemoryContext old = MemoryContextSwitchTo(cxt);
    out->nkey = n;
    out->attnums = static_cast<AttrNumber *>(palloc(sizeof(AttrNumber) * n));
    out->how = static_cast<char *>(palloc(n));
    out->fn = static_cast<FmgrInfo *>(palloc(sizeof(FmgrInfo) * n));
    for (int c = 0; c < n; ++c) {
        AttrNumber attno = idx->rd_index->indkey.values[c];
        out->attnums[c] = attno;
        Oid type = getBaseType(TupleDescAttr(RelationGetDescr(rel), attno - 1)->atttypid);
        Oid fn = InvalidOid;
        bool varlena = false;
        if (type == NUMERICOID) {
            out->how[c] = 'n';
        } else {
            // getTypeBinaryOutputInfo() raises an ERROR for a type without
            // a send function (contrib's isn, say): ask pg_type first.
            HeapTuple t = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
            if (!HeapTupleIsValid(t))
                elog(ERROR, "cache lookup failed for type %u", type);
            bool has_send = OidIsValid(reinterpret_cast<Form_pg_type>(GETSTRUCT(t))->typsend);
            ReleaseSysCache(t);
            if (has_send) {
                getTypeBinaryOutputInfo(type, &fn, &varlena);
                out->how[c] = 'b';
            } else {
                getTypeOutputInfo(type, &fn, &varlena);
                out->how[c] = 't';
            }
            fmgr_info_cxt(fn, &out->fn[c], cxt);
        }
    }
    MemoryContextSwitchTo(old);
    index_close(idx, AccessShareLock);
    return true;
}

bytea *
encode_key(const KeyCodec &kc, TupleTableSlot *slot)
{
    StringInfoData buf;
    initStringInfo(&buf);
    appendStringInfoSpaces(&buf, VARHDRSZ);
    for (int c = 0; c < kc.nkey; ++c) {
        bool isnull = false;
        Datum v = slot_getattr(slot, kc.attnums[c], &isnull);
        if (isnull) {
            proto::put_u8(&buf, kNullTag);
            continue;
        }
        proto::put_u8(&buf, kValueTag);
        if (kc.how[c] == 'b') {
            bytea *b = SendFunctionCall(&kc.fn[c], v);
            proto::put_u32(&buf, VARSIZE(b) - VARHDRSZ);
            appendBinaryStringInfo(&buf, VARDATA(b), static_cast<int>(VARSIZE(b) - VARHDRSZ));
        } else {
            char *s = kc.how[c] == 'n' ? numeric_normalize(DatumGetNumeric(v)) : OutputFunctionCall(&kc.fn[c], v);
            uint32 len = static_cast<uint32>(strlen(s));
            proto::put_u32(&buf, len);
            appendBinaryStringInfo(&buf, s, static_cast<int>(len));
        }
    }
    SET_VARSIZE(buf.data, buf.len);
    return reinterpret_cast<bytea *>(buf.data);
}

bool
records_deletes(Relation rel)
{
    return cached(rel)->has_key;
}

bool
find(Relation rel, TupleTableSlot *slot, TransactionId *xid)
{
    CachedRel *cr = cached(rel);
    if (!cr->has_key)
        return false;
    bytea *key = encode_key(cr->kc, slot);
    // An index probe, not SPI: every remote INSERT of a key not present
    // here asks (the common case), so this is on the apply's hot path.
    Relation tomb = table_open(tombstone_relid(), AccessShareLock);
    Oid pk = RelationGetPrimaryKeyIndex(tomb);
    ScanKeyData skey[2];
    ScanKeyInit(&skey[0], 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(RelationGetRelid(rel)));
    ScanKeyInit(&skey[1], 2, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(key));
    // A dirty snapshot (what the row lookup uses too): it sees a delete
    // that committed while that lookup waited for it, and costs no
    // snapshot of the proc array.
    SnapshotData dirty;
    InitDirtySnapshot(dirty);
    SysScanDesc scan = systable_beginscan(tomb, pk, true, &dirty, 2, skey);
    HeapTuple tup = systable_getnext(scan);
    bool found = HeapTupleIsValid(tup);
    if (found) {
        bool isnull = false;
        FullTransactionId full = DatumGetFullTransactionId(heap_getattr(tup, 3, RelationGetDescr(tomb), &isnull));
        // A delete more than 2^31 transactions ago (a tombstone kept by a
        // subscription long disabled) would alias a newer 32-bit xid: it is
        // long applied on both sides, no tombstone for the rules.
        uint64 age = U64FromFullTransactionId(ReadNextFullTransactionId()) - U64FromFullTransactionId(full);
        found = age < (UINT64CONST(1) << 31);
        *xid = XidFromFullTransactionId(full);
    }
    systable_endscan(scan);
    table_close(tomb, AccessShareLock);
    pfree(key);
    return found;
}

} // namespace pymigrate::sync::tombstone

PYMIGRATE_FUNCTION(pymigrate_tombstone)
{
    return pymigrate::pg::pg_call([fcinfo] { return pymigrate::sync::tombstone::trigger(fcinfo); });
}

// pymigrate.tombstone_key(tbl regclass, row_key text[]): the key values as
// text, in key order, parsed by the columns' input functions.
PYMIGRATE_FUNCTION(pymigrate_tombstone_key)
{
    return pymigrate::pg::pg_call([fcinfo] {
        using namespace pymigrate::sync::tombstone;
        Oid relid = PG_GETARG_OID(0);
        ArrayType *arr = PG_GETARG_ARRAYTYPE_P(1);
        // Only for tables the caller may read (it locks the table).
        if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
            aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(relid));
        Relation rel = relation_open(relid, AccessShareLock);
        KeyCodec kc;
        if (!key_codec(rel, CurrentMemoryContext, &kc))
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("table %s has neither a replica identity index nor a primary key",
                                   RelationGetRelationName(rel))));
        Datum *elems = nullptr;
        bool *nulls = nullptr;
        int n = 0;
        deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
        if (ARR_NDIM(arr) > 1 || n != kc.nkey)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("the key of table %s has %d columns, not %d", RelationGetRelationName(rel),
                                   kc.nkey, n)));
        TupleDesc desc = RelationGetDescr(rel);
        TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
        ExecClearTuple(slot);
        for (int i = 0; i < desc->natts; ++i)
            slot->tts_isnull[i] = true;
        for (int c = 0; c < n; ++c) {
            int i = kc.attnums[c] - 1;
            if (nulls[c])
                continue;
            Oid in;
            Oid ioparam;
            getTypeInputInfo(TupleDescAttr(desc, i)->atttypid, &in, &ioparam);
            slot->tts_values[i] = OidInputFunctionCall(in, TextDatumGetCString(elems[c]), ioparam,
                                                       TupleDescAttr(desc, i)->atttypmod);
            slot->tts_isnull[i] = false;
        }
        ExecStoreVirtualTuple(slot);
        bytea *key = encode_key(kc, slot);
        ExecDropSingleTupleTableSlot(slot);
        relation_close(rel, AccessShareLock);
        PG_RETURN_BYTEA_P(key);
    });
}

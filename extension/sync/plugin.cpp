// The logical decoding output plugin `pymigrate` (PROTOCOL.md).
//
// Every callback runs in the error boundary; inside, the code is
// PostgreSQL-style (palloc, ereport) because decoding can raise ERRORs at
// any call. Per-change work allocates in a private context that is reset
// after each change (wal2json's habit), so a large transaction never grows
// the plugin's memory. Which tables are sent, and how each column is
// encoded, is worked out once per table and session and kept in a cache
// that relcache invalidations clear (pgoutput's RelationSyncCache).
#include "sync/plugin.hpp"

#include "pg/guard.hpp"
#include "sync/encode.hpp"
#include "sync/protocol.hpp"
#include "sync/types.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/rmgr.h"
#include "access/transam.h"
#include "access/xlogreader.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "nodes/bitmapset.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

namespace pymigrate::sync::plugin {
namespace {

using encode::Column;

struct RelEntry {
    Oid relid; // hash key
    bool valid;
    bool included;
    bool schema_sent;
    int ncols;
    Column *cols;
};

// Messages of a transaction collect in `batch` and go out as one write at
// its COMMIT (or whenever the batch passes kBatchBytes, so that a large
// transaction streams): one walsender send and one subscriber wake-up per
// small transaction instead of one per message.
constexpr int kBatchBytes = 64 * 1024;

struct Session {
    Options options;
    StringInfoData batch;
    MemoryContext change_cxt; // reset after every change
    MemoryContext cache_cxt;  // column info of RelEntry
    bool startup_sent;
    bool begin_sent; // BEGIN of the current transaction written
    int skipped;     // changes not sent since the last progress report
};

// One decoding session per process at a time, so the cache is static, as
// pgoutput's is: the invalidation callback has no other way to find it.
HTAB *rel_cache = nullptr;
bool callback_registered = false;

// Starts a message in the batch: its u32 length, filled in by end_message.
int
start_message(Session *s, char type)
{
    return encode::start_message(&s->batch, type);
}

void
end_message(Session *s, int at)
{
    encode::end_message(&s->batch, at);
}

void
flush_batch(LogicalDecodingContext *ctx, Session *s, bool last_write)
{
    if (s->batch.len == 0)
        return;
    OutputPluginPrepareWrite(ctx, last_write);
    appendBinaryStringInfo(ctx->out, s->batch.data, s->batch.len);
    OutputPluginWrite(ctx, last_write);
    resetStringInfo(&s->batch);
}

void
invalidate_rel(Datum, Oid relid)
{
    if (rel_cache == nullptr)
        return;
    if (OidIsValid(relid)) {
        auto *e = static_cast<RelEntry *>(hash_search(rel_cache, &relid, HASH_FIND, nullptr));
        if (e) {
            e->valid = false;
            e->schema_sent = false;
        }
        return;
    }
    HASH_SEQ_STATUS it;
    hash_seq_init(&it, rel_cache);
    while (auto *e = static_cast<RelEntry *>(hash_seq_search(&it))) {
        e->valid = false;
        e->schema_sent = false;
    }
}

bool
table_wanted(const Options &o, Relation rel)
{
    if (!is_publishable_relation(rel))
        return false;
    char *schema = get_namespace_name(RelationGetNamespace(rel));
    if (schema == nullptr || strcmp(schema, "pymigrate") == 0)
        return false; // our own catalog never travels
    if (!o.filter_tables)
        return true;
    const char *name = RelationGetRelationName(rel);
    for (int i = 0; i < o.ntables; ++i)
        if (strcmp(o.tables[i].schema, schema) == 0 && strcmp(o.tables[i].name, name) == 0)
            return true;
    return false;
}

RelEntry *
rel_entry(Session *s, Relation rel)
{
    Oid relid = RelationGetRelid(rel);
    bool found = false;
    auto *e = static_cast<RelEntry *>(hash_search(rel_cache, &relid, HASH_ENTER, &found));
    if (!found) {
        e->valid = false;
        e->schema_sent = false;
        e->ncols = 0;
        e->cols = nullptr;
    }
    if (e->valid)
        return e;
    if (e->cols)
        pfree(e->cols);
    e->cols = nullptr;
    e->ncols = 0;
    e->included = table_wanted(s->options, rel);
    if (e->included)
        e->ncols = encode::columns_of(rel, s->options.binary, s->cache_cxt, &e->cols);
    e->valid = true;
    return e;
}

void
write_startup(LogicalDecodingContext *ctx, Session *s)
{
    StringInfo out = &s->batch;
    int at = start_message(s, proto::kStartup);
    proto::put_u8(out, static_cast<uint8>(s->options.proto_version));
    proto::put_u32(out, PG_VERSION_NUM);
    proto::put_str(out, PYMIGRATE_VERSION);
    proto::put_u8(out, s->options.binary ? proto::kStartupBinary : 0);
    proto::put_str(out, get_database_name(MyDatabaseId));
    end_message(s, at);
    s->startup_sent = true;
}

// BEGIN goes out lazily, with the first change we send, so transactions
// with nothing for this subscriber cost nothing on the wire.
void
ensure_begin(LogicalDecodingContext *ctx, Session *s, ReorderBufferTXN *txn)
{
    if (s->begin_sent)
        return;
    if (!s->startup_sent)
        write_startup(ctx, s);
    char *origin_name = nullptr;
    if (txn->origin_id != InvalidRepOriginId)
        (void)replorigin_by_oid(txn->origin_id, true, &origin_name);
    StringInfo out = &s->batch;
    int at = start_message(s, proto::kBegin);
    proto::put_u64(out, txn->final_lsn);
    proto::put_i64(out, txn->xact_time.commit_time);
    proto::put_u32(out, txn->xid);
    proto::put_u16(out, txn->origin_id);
    proto::put_str(out, origin_name);
    proto::put_u64(out, txn->origin_id != InvalidRepOriginId ? txn->origin_lsn : InvalidXLogRecPtr);
    end_message(s, at);
    s->begin_sent = true;
}

void
ensure_relation(Session *s, RelEntry *e, Relation rel)
{
    if (e->schema_sent)
        return;
    int at = start_message(s, proto::kRelation);
    encode::relation_body(&s->batch, rel, e->cols, e->ncols);
    end_message(s, at);
    e->schema_sent = true;
}

void
write_tuple(StringInfo out, RelEntry *e, Relation rel, HeapTuple tuple)
{
    TupleDesc desc = RelationGetDescr(rel);
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * desc->natts));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * desc->natts));
    heap_deform_tuple(tuple, desc, values, nulls);
    encode::tuple(out, desc, e->cols, e->ncols, values, nulls, true);
}

// ---------------------------------------------------------------- callbacks

void
startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
    auto *s = static_cast<Session *>(MemoryContextAllocZero(ctx->context, sizeof(Session)));
    s->change_cxt = AllocSetContextCreate(ctx->context, "pymigrate change", ALLOCSET_DEFAULT_SIZES);
    s->cache_cxt = AllocSetContextCreate(ctx->context, "pymigrate relation cache", ALLOCSET_SMALL_SIZES);
    ctx->output_plugin_private = s;
    MemoryContext batch_old = MemoryContextSwitchTo(ctx->context);
    initStringInfo(&s->batch);
    MemoryContextSwitchTo(batch_old);
    opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
    opt->receive_rewrites = false;
    // Creating a slot passes no options; a session always does.
    MemoryContext old = MemoryContextSwitchTo(ctx->context);
    if (is_init) {
        s->options.proto_version = proto::kMaxVersion;
        s->options.binary = true;
    } else {
        parse_options(ctx->output_plugin_options, &s->options);
    }
    MemoryContextSwitchTo(old);

    HASHCTL info;
    memset(&info, 0, sizeof(info));
    info.keysize = sizeof(Oid);
    info.entrysize = sizeof(RelEntry);
    info.hcxt = ctx->context;
    rel_cache = hash_create("pymigrate relation cache", 64, &info, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    if (!callback_registered) {
        CacheRegisterRelcacheCallback(invalidate_rel, 0);
        callback_registered = true;
    }
}

void
shutdown(LogicalDecodingContext *)
{
    rel_cache = nullptr; // its memory goes with the decoding context
}

void
begin_txn(LogicalDecodingContext *ctx, ReorderBufferTXN *)
{
    static_cast<Session *>(ctx->output_plugin_private)->begin_sent = false;
}

void
commit_txn(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
    auto *s = static_cast<Session *>(ctx->output_plugin_private);
    if (!s->begin_sent) {
        // Nothing was sent (or only a SEEN, which stands alone): let the
        // walsender report progress anyway, so the slot advances past
        // transactions the subscriber never sees.
        OutputPluginUpdateProgress(ctx, true);
        flush_batch(ctx, s, true);
        return;
    }
    OutputPluginUpdateProgress(ctx, false);
    StringInfo out = &s->batch;
    int at = start_message(s, proto::kCommit);
    proto::put_u8(out, 0);
    proto::put_u64(out, commit_lsn);
    proto::put_u64(out, txn->end_lsn);
    proto::put_i64(out, txn->xact_time.commit_time);
    end_message(s, at);
    flush_batch(ctx, s, true);
    s->begin_sent = false;
}

void
change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel, ReorderBufferChange *chg)
{
    auto *s = static_cast<Session *>(ctx->output_plugin_private);
    RelEntry *e = rel_entry(s, rel);
    if (!e->included) {
        // A long run of changes we do not send must still keep the
        // walsender's keepalives going (pgoutput does the same in 15).
        if (++s->skipped >= 100) {
            OutputPluginUpdateProgress(ctx, false);
            s->skipped = 0;
        }
        return;
    }
    HeapTuple newtuple = chg->data.tp.newtuple ? &chg->data.tp.newtuple->tuple : nullptr;
    HeapTuple oldtuple = chg->data.tp.oldtuple ? &chg->data.tp.oldtuple->tuple : nullptr;
    char type;
    switch (chg->action) {
    case REORDER_BUFFER_CHANGE_INSERT:
        if (newtuple == nullptr)
            return;
        type = proto::kInsert;
        break;
    case REORDER_BUFFER_CHANGE_UPDATE:
        if (newtuple == nullptr)
            return;
        type = proto::kUpdate;
        break;
    case REORDER_BUFFER_CHANGE_DELETE:
        if (oldtuple == nullptr) {
            // REPLICA IDENTITY NOTHING: there is no key to find the row by.
            ereport(WARNING, (errmsg("pymigrate: DELETE on \"%s\" not sent: the table has REPLICA IDENTITY NOTHING",
                                     RelationGetRelationName(rel))));
            return;
        }
        type = proto::kDelete;
        break;
    default:
        return;
    }
    MemoryContext old = MemoryContextSwitchTo(s->change_cxt);
    ensure_begin(ctx, s, txn);
    ensure_relation(s, e, rel);
    StringInfo out = &s->batch;
    int at = start_message(s, type);
    proto::put_u32(out, RelationGetRelid(rel));
    bool full = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
    if (oldtuple != nullptr) {
        proto::put_u8(out, full ? proto::kOldTuple : proto::kKeyTuple);
        write_tuple(out, e, rel, oldtuple);
    }
    if (type != proto::kDelete) {
        proto::put_u8(out, proto::kNewTuple);
        write_tuple(out, e, rel, newtuple);
    }
    end_message(s, at);
    if (s->batch.len >= kBatchBytes)
        flush_batch(ctx, s, false);
    MemoryContextSwitchTo(old);
    MemoryContextReset(s->change_cxt);
}

void
truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations, Relation relations[],
         ReorderBufferChange *chg)
{
    auto *s = static_cast<Session *>(ctx->output_plugin_private);
    MemoryContext old = MemoryContextSwitchTo(s->change_cxt);
    Oid *relids = static_cast<Oid *>(palloc(sizeof(Oid) * Max(nrelations, 1)));
    int n = 0;
    for (int i = 0; i < nrelations; ++i) {
        RelEntry *e = rel_entry(s, relations[i]);
        if (!e->included)
            continue;
        ensure_begin(ctx, s, txn);
        ensure_relation(s, e, relations[i]);
        relids[n++] = RelationGetRelid(relations[i]);
    }
    if (n > 0) {
        StringInfo out = &s->batch;
        uint8 flags = 0;
        if (chg->data.truncate.cascade)
            flags |= proto::kTruncateCascade;
        if (chg->data.truncate.restart_seqs)
            flags |= proto::kTruncateRestartSeqs;
        int at = start_message(s, proto::kTruncate);
        proto::put_u8(out, flags);
        proto::put_u32(out, static_cast<uint32>(n));
        for (int i = 0; i < n; ++i)
            proto::put_u32(out, relids[i]);
        end_message(s, at);
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(s->change_cxt);
}

// A well-formed applied marker (PROTOCOL.md, SEEN): node_sysid u64,
// node_slot str, xid u32, commit_time i64, commit_lsn u64.
bool
applied_marker_ok(const char *m, Size size)
{
    if (size < 8 + 4)
        return false; // the reader below would raise an ERROR, not answer false
    proto::Reader r = proto::reader(m, static_cast<uint32>(size), "applied marker");
    (void)proto::get_u64(r);
    uint32 slot_len = proto::get_u32(r);
    return size == 8 + 4 + static_cast<Size>(slot_len) + 4 + 8 + 8;
}

// The marker an apply worker wrote in a transaction it applied (always a
// transaction of a foreign origin, so none of its row changes reach this
// callback) becomes a SEEN message of this stream, at the position of that
// transaction's commit. Protocol 2 only; other messages are not sent.
void
message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr, bool transactional, const char *prefix,
        Size size, const char *m)
{
    auto *s = static_cast<Session *>(ctx->output_plugin_private);
    if (s->options.proto_version < 2 || !transactional || strcmp(prefix, proto::kAppliedPrefix) != 0)
        return;
    if (!applied_marker_ok(m, size)) {
        ereport(WARNING,
                (errmsg("pymigrate: a \"%s\" message that is no applied marker was not sent", proto::kAppliedPrefix),
                 errdetail("Its content has %zu bytes; only pymigrate's apply worker writes this prefix.", size)));
        return;
    }
    if (!s->startup_sent)
        write_startup(ctx, s);
    int at = start_message(s, proto::kSeen);
    proto::put_u64(&s->batch, txn->final_lsn);
    appendBinaryStringInfo(&s->batch, m, static_cast<int>(size));
    end_message(s, at);
}

// Loop prevention: changes of a transaction that has a replication origin
// (applied by pymigrate or another replication) are not sent unless
// forward_origins is 'all'. decode.c asks this for every row change, for
// every logical message and at the commit record; with protocol 2 only row
// changes are filtered, so that the commit and the applied marker of such a
// transaction still reach message() and commit_txn() (a filtered commit
// makes the reorder buffer forget the whole transaction). The record being
// decoded is ctx->reader's current one (LogicalDecodingProcessRecord is
// given ctx->reader by both the walsender and the SQL functions).
bool
filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
    auto *s = static_cast<Session *>(ctx->output_plugin_private);
    if (s->options.forward_all_origins || origin_id == InvalidRepOriginId)
        return false;
    if (s->options.proto_version < 2)
        return true;
    RmgrId rmid = XLogRecGetRmid(ctx->reader);
    return rmid != RM_XACT_ID && rmid != RM_LOGICALMSG_ID;
}

// The boundary around each callback (CONVENTIONS.md): a C++ exception from
// anything above becomes an ordinary ERROR of the decoding session.
void
cb_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
    pg::boundary("pymigrate output plugin startup", [&] { startup(ctx, opt, is_init); });
}
void
cb_shutdown(LogicalDecodingContext *ctx)
{
    pg::boundary("pymigrate output plugin shutdown", [&] { shutdown(ctx); });
}
void
cb_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
    pg::boundary("pymigrate output plugin begin", [&] { begin_txn(ctx, txn); });
}
void
cb_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr lsn)
{
    pg::boundary("pymigrate output plugin commit", [&] { commit_txn(ctx, txn, lsn); });
}
void
cb_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel, ReorderBufferChange *chg)
{
    pg::boundary("pymigrate output plugin change", [&] { change(ctx, txn, rel, chg); });
}
void
cb_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int n, Relation rels[], ReorderBufferChange *chg)
{
    pg::boundary("pymigrate output plugin truncate", [&] { truncate(ctx, txn, n, rels, chg); });
}
void
cb_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr lsn, bool transactional, const char *prefix,
           Size size, const char *m)
{
    pg::boundary("pymigrate output plugin message", [&] { message(ctx, txn, lsn, transactional, prefix, size, m); });
}
bool
cb_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
    return pg::boundary("pymigrate output plugin origin filter", [&] { return filter_by_origin(ctx, origin_id); });
}

} // namespace
} // namespace pymigrate::sync::plugin

extern "C" {
PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
    using namespace pymigrate::sync::plugin;
    cb->startup_cb = cb_startup;
    cb->shutdown_cb = cb_shutdown;
    cb->begin_cb = cb_begin;
    cb->commit_cb = cb_commit;
    cb->change_cb = cb_change;
    cb->truncate_cb = cb_truncate;
    cb->message_cb = cb_message;
    cb->filter_by_origin_cb = cb_filter_by_origin;
}

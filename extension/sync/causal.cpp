// Applied markers and the set of our transactions the peer has seen
// (causal.hpp).
#include "sync/causal.hpp"

#include "sync/change_log.hpp"

extern "C" {
#include "access/transam.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "replication/slot.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

namespace pymigrate::sync::apply
{
namespace
{

// ---------------------------------------------------------------- writer

uint64 marker_sysid = 0;
char *marker_slot = nullptr; // in TopMemoryContext; null: no marker

// ---------------------------------------------------------------- reader

struct SeenEntry {
    TransactionId xid; // hash key
    TimestampTz commit_time;
};

// The set: a hash by xid, and the same entries in arrival order (a ring)
// to drop those that fall out of the window. SEENs arrive in the order the
// peer applied our transactions, our commit order, so the ring is in
// commit-time order but for the small disorder causal.hpp describes; an
// entry kept a little longer than needed costs nothing.
MemoryContext seen_cxt = nullptr;
HTAB *seen = nullptr;
SeenEntry *ring = nullptr;
int ring_cap = 0;
int ring_head = 0; // oldest
int ring_len = 0;
bool any_seen = false;
TimestampTz newest = 0;
// Our versions committed after this have their SEEN in the set if the peer
// applied them before the current position: the SEENs read since the
// worker started cover them (they arrive in our commit order, but for a
// disorder far below the window). DT_NOEND until the first SEEN.
TimestampTz known_after = DT_NOEND;

// The last slot name a SEEN named and whether it is one of ours.
char *last_slot = nullptr;
bool last_slot_mine = false;

void
ensure_set()
{
    if (seen != nullptr)
        return;
    if (seen_cxt == nullptr)
        seen_cxt = AllocSetContextCreate(TopMemoryContext, "pymigrate seen set", ALLOCSET_DEFAULT_SIZES);
    HASHCTL info{};
    info.keysize = sizeof(TransactionId);
    info.entrysize = sizeof(SeenEntry);
    info.hcxt = seen_cxt;
    seen = hash_create("pymigrate seen xids", 1024, &info, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    ring_cap = 1024;
    ring = static_cast<SeenEntry *>(MemoryContextAlloc(seen_cxt, sizeof(SeenEntry) * ring_cap));
    ring_head = 0;
    ring_len = 0;
}

void
ring_push(const SeenEntry &e)
{
    if (ring_len == ring_cap) {
        // Grow, unrolling the ring so that the oldest entry comes first.
        auto *bigger = static_cast<SeenEntry *>(MemoryContextAlloc(seen_cxt, sizeof(SeenEntry) * ring_cap * 2));
        for (int i = 0; i < ring_len; ++i)
            bigger[i] = ring[(ring_head + i) % ring_cap];
        pfree(ring);
        ring = bigger;
        ring_head = 0;
        ring_cap *= 2;
    }
    ring[(ring_head + ring_len) % ring_cap] = e;
    ++ring_len;
}

// Drops entries older than the window: the horizon stands for them.
void
prune()
{
    TimestampTz horizon = newest - kSeenWindow;
    while (ring_len > 0 && ring[ring_head].commit_time < horizon) {
        const SeenEntry &old = ring[ring_head];
        auto *e = static_cast<SeenEntry *>(hash_search(seen, &old.xid, HASH_FIND, nullptr));
        if (e != nullptr && e->commit_time == old.commit_time)
            (void)hash_search(seen, &old.xid, HASH_REMOVE, nullptr);
        ring_head = (ring_head + 1) % ring_cap;
        --ring_len;
    }
}

// Is `slot` a replication slot of this database, or this database's oid
// behind the capture prefix? The SEEN was then written by a subscriber that
// reads from us.
bool
slot_is_mine(const char *slot)
{
    if (last_slot != nullptr && strcmp(last_slot, slot) == 0)
        return last_slot_mine;
    bool mine = false;
    size_t plen = strlen(proto::kCaptureReaderPrefix);
    if (strncmp(slot, proto::kCaptureReaderPrefix, plen) == 0) {
        char *end = nullptr;
        unsigned long oid = strtoul(slot + plen, &end, 10);
        mine = end != slot + plen && *end == '\0' && oid == MyDatabaseId;
    } else {
        LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
        ReplicationSlot *s = SearchNamedReplicationSlot(slot, false);
        mine = s != nullptr && s->data.database == MyDatabaseId;
        LWLockRelease(ReplicationSlotControlLock);
    }
    if (last_slot != nullptr)
        pfree(last_slot);
    last_slot = MemoryContextStrdup(TopMemoryContext, slot);
    last_slot_mine = mine;
    return mine;
}

// Does a subscriber read this database by trigger capture? Asked again
// every few seconds (a consumer that starts meanwhile misses at most that
// many markers: hand-overs then count as conflicts, never the reverse).
bool
capture_consumers_present()
{
    static bool present = false;
    static TimestampTz checked = 0;
    TimestampTz now = GetCurrentTimestamp();
    if (checked != 0 && !TimestampDifferenceExceeds(checked, now, 5000))
        return present;
    checked = now;
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
    int rc = SPI_execute("SELECT 1 FROM pymigrate.capture_consumer LIMIT 1", true, 1);
    PopActiveSnapshot();
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "could not read pymigrate.capture_consumer: %s", SPI_result_code_string(rc));
    present = SPI_processed > 0;
    SPI_finish();
    return present;
}

// The marker as a SEEN message in the change log (relid 0: no table), in
// this transaction: the subscriber reading the log applies it as the
// logical stream's SEEN, at this transaction's place among the captured ones.
void
log_marker_to_change_log(const StringInfoData &marker)
{
    StringInfoData row;
    initStringInfo(&row);
    proto::put_u32(&row, static_cast<uint32>(1 + 8 + marker.len));
    proto::put_u8(&row, static_cast<uint8>(proto::kSeen));
    proto::put_u64(&row, 0); // the applying transaction's position: none in a log
    appendBinaryStringInfo(&row, marker.data, marker.len);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
    change_log_insert(InvalidOid, row.data, row.len);
    PopActiveSnapshot();
    SPI_finish();
}

} // namespace

void
set_applied_marker(uint64 provider_sysid, const char *provider_slot)
{
    marker_sysid = provider_sysid;
    if (marker_slot != nullptr)
        pfree(marker_slot);
    marker_slot = provider_slot && *provider_slot ? MemoryContextStrdup(TopMemoryContext, provider_slot) : nullptr;
}

void
log_applied_marker(uint32 xid, TimestampTz commit_time, XLogRecPtr commit_lsn)
{
    if (marker_slot == nullptr)
        return;
    // Read by logical decoding (below wal_level logical nothing decodes
    // this node's WAL), or by a subscriber that reads this node by trigger
    // capture.
    bool decoded = XLogLogicalInfoActive();
    bool captured = capture_consumers_present();
    if (!decoded && !captured)
        return;
    StringInfoData m;
    initStringInfo(&m);
    proto::put_u64(&m, marker_sysid);
    proto::put_str(&m, marker_slot);
    proto::put_u32(&m, xid);
    proto::put_i64(&m, commit_time);
    proto::put_u64(&m, commit_lsn);
    if (decoded)
        (void)LogLogicalMessage(proto::kAppliedPrefix, m.data, m.len, true);
    if (captured)
        log_marker_to_change_log(m);
    pfree(m.data);
}

void
note_seen(proto::Reader &r)
{
    (void)proto::get_u64(r); // the position of the peer's apply transaction
    uint64 sysid = proto::get_u64(r);
    char *slot = proto::get_cstring(r);
    uint32 xid = proto::get_u32(r);
    TimestampTz commit_time = proto::get_i64(r);
    (void)proto::get_u64(r); // our commit position of that transaction
    proto::expect_end(r);
    // The peer applies other providers' transactions too: only ours count.
    if (sysid != GetSystemIdentifier() || !slot_is_mine(slot))
        return;
    ensure_set();
    bool found = false;
    auto *e = static_cast<SeenEntry *>(hash_search(seen, &xid, HASH_ENTER, &found));
    e->commit_time = commit_time;
    ring_push(*e);
    if (!any_seen || commit_time > newest)
        newest = commit_time;
    if (known_after == DT_NOEND)
        known_after = commit_time + kSeenWindow;
    any_seen = true;
    prune();
}

Seen
seen_state(TransactionId xid, TimestampTz commit_time)
{
    if (!any_seen)
        return Seen::Unknown;
    if (commit_time < newest - kSeenWindow)
        return Seen::Yes;
    if (hash_search(seen, &xid, HASH_FIND, nullptr) != nullptr)
        return Seen::Yes;
    return commit_time > known_after ? Seen::No : Seen::Unknown;
}

TimestampTz
seen_horizon()
{
    return any_seen ? newest - kSeenWindow : 0;
}

bool
seen_by_peer(TransactionId xmin, TimestampTz commit_time)
{
    return seen_state(xmin, commit_time) == Seen::Yes;
}

void
forget_seen()
{
    if (seen_cxt != nullptr)
        MemoryContextReset(seen_cxt);
    seen = nullptr;
    ring = nullptr;
    ring_cap = ring_len = ring_head = 0;
    any_seen = false;
    newest = 0;
    known_after = DT_NOEND;
}

SeenState
export_seen()
{
    SeenState s{};
    s.any_seen = any_seen;
    s.newest = newest;
    s.known_after = known_after;
    s.n = ring_len;
    s.xids = static_cast<TransactionId *>(palloc(sizeof(TransactionId) * Max(ring_len, 1)));
    s.times = static_cast<TimestampTz *>(palloc(sizeof(TimestampTz) * Max(ring_len, 1)));
    for (int i = 0; i < ring_len; ++i) {
        const SeenEntry &e = ring[(ring_head + i) % ring_cap];
        s.xids[i] = e.xid;
        s.times[i] = e.commit_time;
    }
    return s;
}

void
import_seen(const SeenState &s, bool complete)
{
    forget_seen();
    if (!s.any_seen)
        return;
    ensure_set();
    for (int i = 0; i < s.n; ++i) {
        bool found = false;
        auto *e = static_cast<SeenEntry *>(hash_search(seen, &s.xids[i], HASH_ENTER, &found));
        e->commit_time = s.times[i];
        ring_push(*e);
    }
    any_seen = true;
    newest = s.newest;
    // A gap: versions around the SEENs missed are unknown again until the
    // next SEEN read places them.
    known_after = complete ? s.known_after : DT_NOEND;
    prune();
}

} // namespace pymigrate::sync::apply

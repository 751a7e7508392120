// Live state of subscriptions in shared memory: what the apply workers
// report (phase, positions, counters, copy progress, last error) and what
// the view pymigrate.subscription_status shows. One slot per subscription
// that has had a worker since the server started; reset by a restart (the
// durable state is in the catalog and the replication origin).
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "access/xlogdefs.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
}

namespace pymigrate::sync
{

enum class Phase : int32 {
    None = 0,  // no worker
    Starting,  // connecting, checking the provider, creating the slot
    Copying,   // initial copy
    Streaming, // START_REPLICATION running
};

constexpr int kErrorLen = 1024;

struct SubStatus {
    bool used;
    Oid database;
    int32 subid;
    int32 generation; // of the catalog row the worker runs with
    int pid;          // worker process, 0 when none
    Phase phase;
    bool in_txn;                  // applying a remote transaction now
    int32 failures;               // consecutive failed worker runs (back-off)
    TimestampTz started_at;       // worker start
    TimestampTz last_msg_time;    // last message from the provider (our clock)
    TimestampTz txn_commit_time;  // remote commit time of the transaction being applied
    TimestampTz last_commit_time; // remote commit time of the last applied transaction
    TimestampTz last_error_time;
    XLogRecPtr received_lsn; // highest provider position received
    XLogRecPtr applied_lsn;  // provider position applied and committed here
    XLogRecPtr flushed_lsn;  // provider position reported flushed
    uint64 changes_applied;  // rows inserted, updated, deleted (committed)
    uint64 txns_applied;
    uint64 not_found;    // rows an update/delete did not find
    uint64 conflicts;    // conflicts met (conflict.hpp), not_found included
    double apply_rate;   // changes per second, smoothed over a few seconds
    TimestampTz rate_at; // when apply_rate was last updated
    bool held;           // the last run stopped on a held conflict; cleared when a transaction applies
    // Our transactions committed before this had been applied by the
    // provider (SEEN markers, causal.hpp) at the position applied here: their
    // tombstones are no longer needed by this subscription. 0: not known.
    TimestampTz seen_horizon;
    int32 copy_tables_total;
    int32 copy_tables_done;
    uint64 copy_rows; // rows copied so far in the running copy
    char copy_table[2 * NAMEDATALEN + 2];
    char last_error[kErrorLen];
};

struct SyncShared {
    slock_t mutex;
    int nslots;
    SubStatus slots[FLEXIBLE_ARRAY_MEMBER];
};

// Null without shared_preload_libraries.
extern SyncShared *shared;

// Requests and attaches the shared memory (from _PG_init with preload).
void install_shmem_hooks();

// The slot of (MyDatabaseId, subid), created if `create`; null if none
// (or no shared memory). Call with shared->mutex held.
SubStatus *find_status(int32 subid, bool create);

// Copies the slot out under the lock; false when there is none.
bool read_status(int32 subid, SubStatus *out);

// Runs `f(SubStatus&)` on the slot (creating it) under the lock.
template <typename F>
void
update_status(int32 subid, F &&f)
{
    if (shared == nullptr)
        return;
    SpinLockAcquire(&shared->mutex);
    if (SubStatus *s = find_status(subid, true))
        f(*s);
    SpinLockRelease(&shared->mutex);
}

// Folds `changes` applied since the last call into s.apply_rate (an
// exponential average with a time constant of 2 s). Call under the lock.
void update_rate(SubStatus &s, uint64 changes, TimestampTz now);

// Adds what a worker applied since it last published to the slot's
// counters and rate (both kinds of apply worker publish alike).
void add_applied(SubStatus &s, uint64 changes, uint64 txns, uint64 not_found, uint64 conflicts,
                 TimestampTz last_commit_time, TimestampTz now);

// Forgets a dropped subscription's slot.
void forget_status(int32 subid);

} // namespace pymigrate::sync

// Causality between the two directions of a pair (PROTOCOL.md, SEEN): which
// of this node's transactions the peer had applied when it made a change,
// so that a remote UPDATE or DELETE of a row last written here counts as a
// conflict only when it is concurrent with that write, not when it was made
// on top of it (a hand-over of the row).
//
// Writer side (the peer, B): every transaction the apply worker applies
// carries a transactional logical message (log_applied_marker) naming the
// provider's transaction; B's output plugin turns it into a SEEN message of
// the B -> A stream, at the position of the apply transaction's commit.
//
// Reader side (this node, A): the apply worker of B -> A keeps the xids of
// the SEEN messages that name A (note_seen), and conflict.cpp asks
// seen_by_peer() for a local row's xmin. Why that is exact: B applies A's
// transactions under row locks, so a change X that B made to a row either
// locked the row before the apply of A's version did (the apply waited, so
// its commit, and with it the SEEN, comes after X in B's stream) or after
// that apply committed (X saw A's version). A SEEN that precedes X in the
// stream therefore means X was made on top of A's version. Commit
// timestamps alone would not do: they are not monotonic in commit (WAL)
// order across concurrent backends, so a timestamp watermark could call an
// unseen version seen; xids are exact, and a timestamp is used only for
// versions older than the window, by a margin (kSeenWindow) far beyond that
// disorder.
//
// The set lives in the worker's memory and is kept across restarts in a
// file (causal_store.hpp); what it cannot place counts as unseen (the
// origin-based rule), which can call a hand-over a conflict but never a
// concurrent write causal.
//
// PostgreSQL-style (palloc, ereport): called inside pg_call() by the apply
// code.
#pragma once

#include "pg/postgres.hpp"

#include "sync/protocol.hpp"

extern "C" {
#include "access/xlogdefs.h"
#include "utils/timestamp.h"
}

namespace pymigrate::sync::apply
{

// A SEEN older than the newest one by more than this stands for every
// older transaction of ours (microseconds).
constexpr TimestampTz kSeenWindow = 10 * USECS_PER_SEC;

// The provider this worker applies from: its system identifier and how
// it knows this subscription (the slot it reads, or for trigger capture
// "capture:<provider database oid>"; null or empty: write no marker).
void set_applied_marker(uint64 provider_sysid, const char *provider_slot);

// In the apply transaction of the provider's transaction `xid`: the
// marker (always, even when every change was skipped).
void log_applied_marker(uint32 xid, TimestampTz commit_time, XLogRecPtr commit_lsn);

// A SEEN message (after its type byte).
void note_seen(proto::Reader &r);

// Had the peer applied our transaction `xid` (committed at `commit_time`)
// before the change being applied now? Unknown for a version committed
// around the time of the first SEEN read since the worker started (its
// SEEN may have come before that), until the window has passed it.
enum class Seen { Yes, No, Unknown };
Seen seen_state(TransactionId xid, TimestampTz commit_time);

// seen_state() == Yes: unknown counts as not seen (a conflict, never a
// concurrent write taken for a hand-over).
bool seen_by_peer(TransactionId xmin, TimestampTz commit_time);

// Our transactions committed before this time had been applied by the
// peer at the current position (0: not known yet).
TimestampTz seen_horizon();

// Empties the set (a new stream).
void forget_seen();

// The set as plain data, to keep it across a restart of the worker
// (causal_store.hpp): what a restarted worker has not read again would
// otherwise count as unknown.
struct SeenState {
    bool any_seen;
    TimestampTz newest;
    TimestampTz known_after;
    int n;
    TransactionId *xids; // palloc'd, n of each
    TimestampTz *times;
};
SeenState export_seen();

// Replaces the set with `s`. `complete`: no SEEN was missed between the
// saved position and the one streaming resumes from.
void import_seen(const SeenState &s, bool complete);

} // namespace pymigrate::sync::apply

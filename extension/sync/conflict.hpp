// Conflicts met while applying a remote change: the one place where they
// are detected and decided, and where they are logged.
//
// Detection (as PostgreSQL 18's logical replication defines the kinds):
//   insert_exists          an INSERT finds its key present here;
//   update_origin_differs  an UPDATE finds the row last changed by someone
//   delete_origin_differs  other than this subscription's provider (the
//                          commit origin of the row's xmin, from
//                          track_commit_timestamp): another subscription,
//                          or this node in a write the provider had not
//                          applied when it made its change (a concurrent
//                          write; causal.hpp tells it from a hand-over);
//   insert_deleted         an INSERT or UPDATE finds no row, and this node
//   update_deleted         deleted the key in a transaction the provider had
//                          not applied when it made its change (the key's
//                          tombstone, tombstone.hpp: a concurrent delete);
//   update_missing         an UPDATE or DELETE finds no row (otherwise).
//   delete_missing
// A row whose origin is unknown (frozen, older than track_commit_timestamp,
// or the setting off) counts as replicated: no conflict.
//
// Decision: the table's ApplyRules (README "Conflicts" has the table of
// what each strategy does per kind, chosen so that both directions of a
// pair decide alike and converge). A delete is a write like the others:
// this node's version of a key is its row, else its tombstone, and a
// concurrent remote change is weighed against that version by the strategy
// (last_write_wins: the later commit, delete or not), so that whatever
// wins on one side wins on the other (test/model/sync_conflicts.py checks
// the rules over every interleaving of small workloads). Every conflict goes to
// pymigrate.conflict_log in the apply transaction. A conflict that must be
// held (strategy 'error', an update_missing / delete_missing action
// 'error', a custom resolver that fails or returns a malformed row) raises
// an ERROR after recording what it was (held_conflict()): the worker aborts
// the remote transaction, logs it as 'held' and stops; it is retried.
//
// PostgreSQL-style (palloc, ereport): called from apply_changes.cpp inside
// pg_call(), never with C++ objects alive across its calls.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "executor/tuptable.h"
#include "replication/origin.h"
#include "utils/rel.h"
}

#include "sync/apply_relmap.hpp"

namespace pymigrate::sync::apply {

// Who is who, for this subscription (set once by the worker).
struct NodeContext {
    const char *subscription;
    const char *local_node;
    const char *remote_node;
    RepOriginId my_origin; // this subscription's replication origin here
    // Other subscriptions of this database: their origin and remote node
    // (a local row last written by one of them belongs to that node).
    int norigins;
    RepOriginId *origin_ids;
    const char **origin_nodes;
    // When both node names are equal (a misconfiguration), ties are broken
    // by these, which both sides see the same.
    uint64 local_sysid;
    uint64 remote_sysid;
};

void set_node_context(const NodeContext &ctx);

// The remote transaction being applied.
struct RemoteTxnInfo {
    TimestampTz commit_time;
    XLogRecPtr commit_lsn;
    uint32 xid;
};

enum class ConflictKind {
    InsertExists,
    InsertDeleted,
    UpdateOriginDiffers,
    UpdateDeleted,
    UpdateMissing,
    DeleteOriginDiffers,
    DeleteMissing
};

enum class Decision {
    ApplyRemote, // apply the remote change (INSERT becomes an UPDATE of the local row)
    KeepLocal,   // leave the local row as it is
    Merged,      // write Conflict::resolved over the local row
    Insert,      // update_missing 'insert': insert the remote row
    Skip,        // nothing to do (a missing row)
};

struct Conflict {
    ConflictKind kind;
    RelMapEntry *rel;
    Relation localrel;
    TupleTableSlot *local;  // the local row (null when missing, also for *_deleted)
    TupleTableSlot *remote; // the remote row as it would be here (null for a DELETE)
    TupleTableSlot *key;    // the search key (values in the key columns)
    bool remote_complete;   // `remote` has every value (no unchanged TOAST): insertable
    // Filled by local_row_changed_elsewhere() (the row's version), or by
    // deleted_here_concurrently() (the delete's):
    TimestampTz local_ts;
    RepOriginId local_origin;
    TupleTableSlot *resolved; // out: the row to write for Decision::Merged
};

// Was `local` last changed by someone other than this subscription's
// provider (and not by the current transaction), in a write the provider
// had not seen when it made the change being applied? Fills c->local_ts
// and c->local_origin.
bool local_row_changed_elsewhere(TupleTableSlot *local, Conflict *c);

// No row has the key of `key` here: was it deleted here in a write the
// provider had not applied when it made the change being applied (or that
// cannot be placed: a worker that lost its SEENs)? Then the delete is this
// node's version of the key. Fills c->local_ts (the delete's commit time)
// and c->local_origin (this node). Call after the row lookup failed, so
// that a delete that committed while the lookup waited for it is seen.
bool deleted_here_concurrently(Relation rel, TupleTableSlot *key, Conflict *c);

// Decides, logs (in the current transaction) and returns what to do. May
// ERROR: held (see above).
Decision resolve_conflict(Conflict &c, const RemoteTxnInfo &txn);

// The two halves of resolve_conflict(), for a decision that is acted on
// before it is logged: an insert that finds its key taken meanwhile (a
// concurrent local insert) is not logged but met again as the conflict
// with that row. `detail` goes from the one to the other.
Decision decide_conflict(Conflict &c, const RemoteTxnInfo &txn, const char **detail);
void record_conflict(const Conflict &c, const RemoteTxnInfo &txn, Decision d, const char *detail);

// Conflicts met in the current remote transaction (reset at its BEGIN), and
// the missing-row ones among them (the status view's rows_not_found).
extern uint64 conflicts_in_txn;
extern uint64 missing_in_txn;

// A held conflict recorded before the ERROR that holds it: the worker reads
// it after the abort to log it (in TopMemoryContext; null when none).
struct HeldConflict {
    char *subscription;
    char *table_name;
    char *kind;
    char *key;        // JSON text
    char *local_row;  // JSON text or null
    char *remote_row; // JSON text or null
    TimestampTz local_ts;
    char *local_node;
    TimestampTz remote_ts;
    char *remote_node;
    char *strategy;
    XLogRecPtr remote_lsn;
    uint32 remote_xid;
    char *reason; // why it is held, before the error's own message
};
const HeldConflict *held_conflict();
void clear_held_conflict();

} // namespace pymigrate::sync::apply

// Conflicts met while applying a remote change: the one place where they
// are decided. Part 1 of sync (one direction) knows only rows that an
// update or delete does not find, and skips them, counting and logging each
// as PostgreSQL's own apply worker does. Part 2 (both directions) adds
// detection of concurrent local changes (commit timestamp and origin of the
// local row, from track_commit_timestamp) and the user's strategies here:
// every call site already passes the local row (when found) and the remote
// one.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "executor/tuptable.h"
}

#include "sync/apply_relmap.hpp"

namespace pymigrate::sync::apply {

enum class ConflictKind {
    UpdateMissing, // an UPDATE found no local row with its key
    DeleteMissing, // a DELETE found no local row with its key
};

enum class Resolution {
    Skip,  // leave the local table as it is
    Apply, // apply the remote change
};

// Conflicts met in the current remote transaction (reset at its BEGIN,
// reported with its COMMIT as rows_not_found).
extern uint64 conflicts_in_txn;

// PostgreSQL-style (may ereport). `local` is null when no row was found.
Resolution resolve_conflict(ConflictKind kind, RelMapEntry *rel, TupleTableSlot *local, TupleTableSlot *remote);

} // namespace pymigrate::sync::apply

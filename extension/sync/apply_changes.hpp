// Applying the change stream: one message at a time, each remote
// transaction as one local transaction through the executor
// (ExecSimpleRelationInsert/Update/Delete and RelationFindReplTupleByIndex,
// as PostgreSQL's logical/worker.c), with the replication origin's position
// and timestamp set just before the local commit.
//
// PostgreSQL-style code: the apply loop (apply_worker.cpp) calls
// apply_message() inside pg_call(), so an ERROR here aborts nothing by
// itself: the loop's exception ends the worker, whose exit aborts the open
// local transaction. Nothing of a remote transaction is visible before its
// COMMIT message is applied.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "access/xlogdefs.h"
#include "utils/timestamp.h"
}

namespace pymigrate::sync::apply {

// What applying one message did, for the loop's bookkeeping.
struct Outcome {
    bool began;              // a BEGIN: a remote transaction started
    bool committed;          // a COMMIT: the local transaction committed
    XLogRecPtr end_lsn;      // COMMIT: the provider position after the transaction
    XLogRecPtr local_end;    // COMMIT: end of our commit record (invalid if nothing was written)
    TimestampTz commit_time; // BEGIN/COMMIT: the provider's commit time
    uint64 changes;          // COMMIT: rows inserted, updated, deleted
    uint64 not_found;        // COMMIT: updates/deletes that found no row
    uint64 conflicts;        // COMMIT: conflicts met (conflict.hpp), not_found included
};

// Called before the first message of a stream: the newest protocol
// version asked for (the provider may choose an older one).
void start(int max_proto_version);

void apply_message(const char *data, uint32 len, Outcome *out);

// True between a BEGIN and its COMMIT.
bool in_remote_transaction();

// Called in the local transaction of each remote one just before it
// commits (trigger capture records its position there); null: none.
void set_pre_commit(void (*fn)(void *), void *arg);

} // namespace pymigrate::sync::apply

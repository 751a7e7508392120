// Tombstones (sql/install/23_sync_tombstone.sql): the keys of subscribed
// tables that this node's own sessions deleted, with the deleting
// transaction, kept until the other side is known to have applied the
// delete. Conflict handling (conflict.cpp) asks for them when a remote
// INSERT or UPDATE finds no row here: if the key was deleted here in a
// transaction the provider had not applied when it made its change, the
// delete is this node's version of the key and is weighed against the
// change (insert_deleted, update_deleted); and, under `custom`, when a
// remote change meets a row inserted here after such a delete.
//
// The key encoding: per key column (replica identity index, else primary
// key, in index order) a tag, a u32 length and the bytes of the type's
// binary send output (numeric: its normalized text, so that 1.0 and 1.00,
// equal in the index, are one key; types without a send function: their
// text output); NULL is the tag alone.
//
// PostgreSQL-style (palloc, ereport): call inside pg_call().
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "access/transam.h"
#include "executor/tuptable.h"
#include "utils/rel.h"
}

namespace pymigrate::sync::tombstone {

// How the key of a table's rows is encoded.
struct KeyCodec {
    int nkey;
    AttrNumber *attnums; // of the key columns, in index order
    char *how;           // per key column: 'n' numeric, 'b' send, 't' text output
    FmgrInfo *fn;        // per key column: the send or output function
};

// The codec of `rel`'s key (replica identity index, else primary key),
// allocated in `cxt`; false when the table has neither.
bool key_codec(Relation rel, MemoryContext cxt, KeyCodec *out);

// The tombstone key of the row in `slot` (the table's layout).
bytea *encode_key(const KeyCodec &kc, TupleTableSlot *slot);

// Are deletes of `rel` recorded (it has a replica identity index or a
// primary key)?
bool records_deletes(Relation rel);

// The tombstone of the key of `slot`'s row in `rel`, if there is one: the
// deleting transaction (its 32-bit xid, what row headers and SEEN markers
// carry). Reads with a dirty snapshot: it sees a delete that committed
// while the row lookup before it waited for the deleter. A delete more than
// 2^31 transactions old counts as none.
bool find(Relation rel, TupleTableSlot *slot, TransactionId *xid);

} // namespace pymigrate::sync::tombstone

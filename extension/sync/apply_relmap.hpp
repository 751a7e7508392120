// The apply worker's map from the provider's tables (RELATION messages) to
// local tables: which local table, which local column each remote column
// lands in (the subscription's mapping: renamed tables and columns, remote
// columns ignored, local columns left to their defaults), how its values are
// read, the index that finds a local row, and the conflict rules of the
// table. `resolve` is the one place a remote table and column meet a local
// one.
//
// PostgreSQL-style code (palloc, ereport): called from apply_changes.cpp
// inside pg_call(), never with C++ objects alive across its calls.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "access/xlogdefs.h"
#include "utils/rel.h"
}

namespace pymigrate::sync::apply {

// How a table's conflicts are decided (options.hpp's ConflictRules in
// PostgreSQL-style memory). Enum values are sync::Strategy / MissingAction.
struct ApplyRules {
    int strategy;
    const char *strategy_name;
    int npriority;
    char **priority; // node names, first wins
    int ncolprio;
    char **colprio_column; // local column names ...
    char **colprio_node;   // ... and the node whose value wins each
    char *resolver;        // regprocedure text (custom)
    Oid resolver_oid;      // resolved by set_routes
    int update_missing;    // MissingAction, or -1: by strategy
    int delete_missing;
};

// A subscribed table as the worker loaded it from the catalog.
struct TableRoute {
    char *remote_schema;
    char *remote_table;
    char *local_schema;
    char *local_table;
    char state;          // 'r' ready; anything else: not applied yet
    XLogRecPtr sync_lsn; // apply transactions committing at or after it
    int ncolmap;
    char **map_local;  // local column ...
    char **map_remote; // ... and the provider column it takes its values from
    int nignore;
    char **ignore; // provider columns not applied here
    ApplyRules rules;
};

// What a RELATION message said about a provider table.
struct RemoteRelation {
    Oid relid;
    char *schema;
    char *name;
    char replident;
    int natts;
    char **attnames;
    Oid *atttypes;
    int32 *typmods;
    char **typnames;
    uint8 *flags; // proto::kColumnKey, kColumnBinary
};

struct RelMapEntry {
    Oid remote_relid; // hash key
    RemoteRelation remote;
    MemoryContext remote_cxt;

    // Local side, rebuilt after a RELATION message or a local relcache
    // invalidation of the table.
    bool local_valid;
    Oid local_relid;
    char *local_name; // "schema.table" for messages
    const TableRoute *route;
    MemoryContext local_cxt;
    int local_natts;
    int *attrmap;         // local attribute index -> remote column index, or -1
    FmgrInfo *in_funcs;   // per local attribute: type input function
    FmgrInfo *recv_funcs; // per local attribute: type receive function
    Oid *typioparams;
    // Per local attribute: the provider's type differs (a compatible one,
    // e.g. int4 to int8). Binary values are read with the provider type's
    // receive function (conv_recv, conv_ioparam) and converted through its
    // text form (conv_out) to the local type's input.
    bool *convert;
    FmgrInfo *conv_recv;
    FmgrInfo *conv_out;
    Oid *conv_ioparam;
    Oid index_oid;    // replica identity index or primary key; invalid: scan (REPLICA IDENTITY FULL)
    bool key_covered; // the remote key carries every column of index_oid
    int nkey;         // columns of index_oid (local attribute numbers), for conflict logs
    AttrNumber *key_attnums;
    int *colprio_attr; // per route->rules.colprio_column: local attribute index, or -1

    void *txn_target; // apply_changes.cpp's per-transaction state, or null
};

// The subscribed tables (copied into long-lived memory). Resolves each
// custom resolver to its function (ERROR naming it when it is gone).
void set_routes(const TableRoute *routes, int n);

// Allocates the per-column arrays of `rel` for `natts` columns (palloc).
void allocate_columns(RemoteRelation *rel, int natts);

// Records a RELATION message (the local side is resolved again on next
// use); false when it repeats what is stored.
bool store_relation(const RemoteRelation &rel);

// True when `rel` repeats the RELATION stored for its table.
bool relation_is_current(const RemoteRelation &rel);

// The entry of a provider table; ERROR if no RELATION message came for it.
RelMapEntry *lookup(Oid remote_relid);

// The subscription's route for a provider table, or null.
const TableRoute *route_of(const RemoteRelation &rel);

// Opens the local table of `e` with `lockmode` (in the current transaction)
// and makes its column map current. ERROR naming the table when it does not
// exist here or does not fit the provider's columns.
Relation open_local(RelMapEntry *e, LOCKMODE lockmode);

// ERROR unless updates and deletes can find their local row.
void check_updatable(const RelMapEntry *e);

} // namespace pymigrate::sync::apply

// The output plugin's session state (plugin.cpp) and its options
// (plugin_options.cpp). PostgreSQL-style data: palloc'd in the decoding
// context, no C++ objects, because decoding callbacks can raise ERRORs.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "nodes/pg_list.h"
}

namespace pymigrate::sync::plugin {

// One table of the `tables` option.
struct TableName {
    char *schema;
    char *name;
};

struct Options {
    int proto_version;        // negotiated
    bool binary;              // values in binary send format where portable
    bool forward_all_origins; // false: drop changes that carry a replication origin
    bool filter_tables;       // false: every publishable table
    int ntables;
    TableName *tables;
};

// Parses the plugin options (a List of DefElem) the wal2json way: defaults
// first, each name matched exactly, unknown or repeated options rejected by
// name, protocol version negotiated. Raises ERROR with a SQLSTATE.
void parse_options(List *defelems, Options *out);

// Splits "s1.t1, \"My Schema\".\"T\"" into names; raises ERROR naming the
// bad part. Unquoted names are folded to lower case, as in SQL.
void parse_table_list(const char *value, Options *out);

} // namespace pymigrate::sync::plugin

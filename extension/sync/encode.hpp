// Writing RELATION messages and tuples of the change stream (PROTOCOL.md):
// shared by the output plugin (plugin.cpp) and the capture trigger
// (capture_trigger.cpp), so that trigger-captured changes are the same
// bytes the apply worker reads from a slot. PostgreSQL-style: may ereport.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "lib/stringinfo.h"
#include "utils/rel.h"
}

namespace pymigrate::sync::encode {

// A column that travels: which attribute, and how its values are written.
struct Column {
    AttrNumber attnum;
    bool binary;
    FmgrInfo out; // send function when binary, else output function
};

// The columns of `rel` that travel (not dropped, not generated), allocated
// in `cxt`; returns how many. `binary`: send portable types in binary.
int columns_of(Relation rel, bool binary, MemoryContext cxt, Column **out);

// A message in `out`: its u32 length (filled in by end_message) and type.
int start_message(StringInfo out, char type);
void end_message(StringInfo out, int at);

// The body of a RELATION message for `rel` (after start_message).
void relation_body(StringInfo out, Relation rel, const Column *cols, int ncols);

// A tuple (ncolumns, then per column its kind and bytes) of deformed values.
// With `toast_markers`, a TOASTed value stored out of line is written as
// "unchanged" (logical decoding does not have it); without, it is read.
void tuple(StringInfo out, TupleDesc desc, const Column *cols, int ncols, Datum *values, bool *nulls,
           bool toast_markers);

} // namespace pymigrate::sync::encode

// Type facts both ends of the stream agree on (PROTOCOL.md, "Tuples").
// PostgreSQL-style: may ereport.
#pragma once

#include "pg/postgres.hpp"

namespace pymigrate::sync {

// Can a value of this type travel in its binary send format to another
// server? Only if the format embeds no type oids that differ between
// servers: base types and enums with a send function, domains over such,
// arrays and ranges of built-in types. Not composites (record_send writes
// column type oids).
bool binary_portable(Oid type);

// "schema.typname" (palloc'd): the name both sides compare column types by.
char *qualified_type_name(Oid type);

} // namespace pymigrate::sync

// Writing pymigrate.change_log (sql/install/22_sync_capture.sql), the log
// trigger capture appends to: the capture trigger's rows (a table's
// messages) and the apply worker's markers (relid 0), one INSERT for both.
//
// PostgreSQL-style (palloc, ereport): call inside pg_call().
#pragma once

#include "pg/postgres.hpp"

namespace pymigrate::sync {

// Appends one row to the change log in this transaction: `relid` (0 for a
// row that belongs to no table) and `len` bytes of encoded messages. Writes
// as the log's owner (the application's role has no rights on it). SPI must
// be connected, with an active snapshot.
void change_log_insert(Oid relid, const char *data, int len);

} // namespace pymigrate::sync

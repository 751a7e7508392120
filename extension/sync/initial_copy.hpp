// The initial copy of subscribed tables: every table read from the
// provider in one exported snapshot (the one its replication slot was
// created with), written here with COPY FROM fed by a data-source callback
// (as PostgreSQL's tablesync.c does), binary where both sides' types allow.
//
// Runs inside the caller's local transaction, so a copy interrupted by an
// error or a crash leaves nothing behind and simply starts over.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pg/remote.hpp"
#include "sync/catalog.hpp"

namespace pymigrate::sync {

// Copies `tables` (of subscription `sub`) in the provider snapshot
// `snapshot`; returns the rows copied per table. Progress goes to the
// status view.
std::vector<int64_t> copy_tables(const Subscription &sub, const std::vector<SubscribedTable> &tables,
                                 const std::string &snapshot);

// The same over `conn`, which is in a REPEATABLE READ transaction on the
// provider already (trigger capture: the snapshot it shows is the copy's).
std::vector<int64_t> copy_tables_in(pg::RemoteConnection &conn, const Subscription &sub,
                                    const std::vector<SubscribedTable> &tables);

} // namespace pymigrate::sync

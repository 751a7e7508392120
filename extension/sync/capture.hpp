// Trigger capture, subscriber side (sql/install/22_sync_capture.sql has the
// provider side): the apply worker of a subscription with capture
// 'trigger' reads the provider's pymigrate.change_log over libpq in
// batches between two provider snapshots (the PgQ rule), applies each
// provider transaction like a logical one (apply_changes.hpp: the same
// mapping and conflict handling), records its position in
// pymigrate.capture_progress in the same local transaction, and confirms
// what is applied and flushed so that the provider trims its log.
#pragma once

#include <string>

#include "pg/remote.hpp"
#include "sync/catalog.hpp"

namespace pymigrate::sync {

// The name a subscription reads a provider's change log under: unique per
// subscriber cluster, database and subscription.
std::string capture_consumer(const Subscription &sub);
std::string capture_consumer(const std::string &subscription_name);

// Throws pg::Error unless the provider has the change log (the extension,
// recent enough).
void check_capture_provider(pg::RemoteConnection &conn);

// Stops capture for the subscription on the provider (drop_subscription).
void capture_stop_remote(pg::RemoteConnection &conn, const Subscription &sub);

// The apply worker of a trigger-capture subscription (after the common
// start-up in apply_worker.cpp); returns when the subscription no longer
// wants the worker, throws on errors.
// `start`: its origin's position (the largest change log seq applied).
void run_capture(Subscription &sub, uint64_t start);

} // namespace pymigrate::sync

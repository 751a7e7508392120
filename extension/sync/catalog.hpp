// The subscription catalog (sql/install/20_sync.sql) as C++ values, read
// and written through SPI. Call inside a transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/pg_fwd.hpp"

namespace pymigrate::sync {

struct SubscribedTable {
    std::string local_schema;
    std::string local_table;
    std::string remote_schema;
    std::string remote_table;
    char state = 'i';      // 'i' needs its initial copy, 'r' ready
    uint64_t sync_lsn = 0; // apply its changes from transactions committed at or after this
    std::string options = "{}"; // mapping and conflict rules (options.hpp), JSON
    std::string sync_snapshot;  // trigger capture: the copy's provider snapshot ("" if none)
};

struct Subscription {
    int32_t id = 0;
    std::string name;
    std::string provider_dsn;
    bool enabled = true;
    std::string slot_name;
    std::string origin_name;
    bool copy_data = true;
    std::string synchronous_commit;
    std::string forward_origins;
    std::string options = "{}"; // node names, conflict rules, capture (options.hpp), JSON
    int32_t generation = 0;
    std::vector<SubscribedTable> tables;
};

// Origin and remote node of every subscription of this database (conflict
// handling names the node a local row came from).
struct OriginNode {
    std::string origin_name;
    std::string remote_node;
};
std::vector<OriginNode> origin_nodes();

struct SubscriptionSummary {
    int32_t id;
    std::string name;
    bool enabled;
    int32_t generation;
};

// Every subscription of this database (the manager's view).
std::vector<SubscriptionSummary> list_subscriptions();

// One subscription with its tables, by id or name; nullopt if none.
std::optional<Subscription> load_subscription(int32_t id);
std::optional<Subscription> load_subscription(const std::string &name);

// The subscription as worker `generation` runs it is still there, enabled
// and unchanged, and the extension too (a worker that finds otherwise
// leaves).
bool subscription_still_wanted(int32_t id, int32_t generation);

// Marks tables copied (state 'r') with their start position and row counts
// (and, for trigger capture, the snapshot of the copy).
void mark_tables_ready(int32_t subid, const std::vector<SubscribedTable> &tables, uint64_t sync_lsn,
                       const std::vector<int64_t> &rows_copied, const std::string &snapshot = "");

// The oid of pymigrate.subscription: the class id of the lock that
// serializes drop_subscription with a starting worker.
Oid subscription_class_oid();

// "\"schema\".\"table\"", quoted as SQL identifiers.
std::string qualified_name(const std::string &schema, const std::string &table);

// "0/16B3748" <-> a WAL position.
std::string lsn_to_string(uint64_t lsn);
uint64_t lsn_from_string(const std::string &text);

} // namespace pymigrate::sync

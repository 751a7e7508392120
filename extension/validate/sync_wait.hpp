// What a re-check waits for when the two sides are kept in sync by pymigrate
// subscriptions (extension/sync): the subscriptions connecting them, in
// either direction, and their apply position against the WAL position each
// side had when a snapshot was taken.
//
// Why positions and not time: a snapshot sees every transaction committed
// before it, and each such commit record lies before the side's WAL insert
// position read right after the snapshot. Once a subscription on the other
// side has applied the stream up to that position, everything the snapshot
// saw has reached the subscriber. The subscription's lag_seconds cannot say
// that: it is 0 between remote transactions while changes are still on
// their way.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "validate/remote_side.hpp"

namespace pymigrate::validate {

// The query both sides run right after taking a snapshot: the WAL insert
// position as pg_lsn text, NULL on a standby (which cannot be a provider).
// Not pg_current_wal_lsn(): that is the write position, which can be behind
// commits already visible (synchronous_commit = off, the apply workers'
// default). A position just after a page header is moved back to the page
// boundary, where the last record ended: a decoder never reports the header
// as read, so a subscription could otherwise wait for WAL that never comes.
extern const char *const kWalPositionSql;

// This server's position (kWalPositionSql through SPI).
std::optional<std::string> local_wal_position();

// WAL positions of both sides, read right after their snapshots.
struct WalPositions {
    std::optional<std::string> local, remote;
};

// A pymigrate subscription between the two sides: on `local_subscriber`'s
// side, reading from a slot of the same name on the other side.
struct SyncLink {
    std::string subscription;
    bool local_subscriber = true;
};

// The subscriptions of each side whose slot_name is a pymigrate logical slot
// of the other side's database (slot names are unique per server; the
// connection strings are not compared: one server has many spellings).
std::vector<SyncLink> find_sync_links(RemoteSide &remote);

// Where a link stood when the wait ended.
struct LinkProgress {
    SyncLink link;
    std::string state;   // subscription_status.state, "dropped" when gone
    std::string applied; // applied_lsn, "" when unknown
    std::string target;  // the provider's position it had to reach
    bool reached = false;
};

struct SyncWait {
    std::vector<LinkProgress> links;
    double seconds = 0;
    bool caught_up() const;
    // Some link short of its target is not streaming (disabled, failing,
    // stuck connecting, dropped): it will not bring the changes in flight.
    bool broken() const;
    // Some link short of its target is streaming but behind.
    bool lagging() const;
    // "s1 (on the remote side, disabled)", for messages.
    std::string describe(bool only_unreached) const;
};

// Waits until every link has applied up to the other side's position in
// `targets`, or until `timeout_seconds` passed, or at once when the only
// links still short are disabled. Interruptible (cancel, terminate).
SyncWait wait_for_sync(const std::vector<SyncLink> &links, RemoteSide &remote, const WalPositions &targets,
                       double timeout_seconds);

} // namespace pymigrate::validate

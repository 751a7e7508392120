// Settling the differences a comparison found on a live pair: which were
// only in flight (resolved), which are real (confirmed), which cannot be told
// yet (pending, with the reason).
//
// A key is read again in rounds, each in fresh snapshots of both sides taken
// after the wait: until every subscription between the sides has applied up
// to the other side's WAL position at the previous read (sync_wait.hpp), or
// for recheck_delay when no subscription connects them. A key is confirmed
// only when neither side's row changed since the previous read (same
// presence, hash and tuple version) and they still differ: the previous
// read's changes have all arrived, and nothing new is on its way for that
// key. A key that changed is read again in the next round (at most
// kMaxRounds); one that agrees is resolved.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "validate/catalog.hpp"
#include "validate/column_plan.hpp"
#include "validate/remote_side.hpp"
#include "validate/sync_wait.hpp"

namespace pymigrate::validate {

inline constexpr int kMaxRounds = 4;

// One table's differences to settle. Those with status Pending are settled;
// their `diff` holds what the previous read saw (hashes and versions), or
// nothing useful when the caller has no previous read (`SettleOptions`).
struct SettleTable {
    const TablePlan *plan;
    const RemoteTable *remote;
    std::vector<RecordedDifference> *differences;
};

struct SettleOptions {
    double delay = 2.0;    // between reads when no subscription connects the sides
    double timeout = 30.0; // the longest wait for the subscriptions, over all rounds
    bool with_images = false;
    // The differences come from a read in snapshots whose WAL positions are
    // `positions` (validate()); otherwise (recheck()) a first read now sets
    // the baseline, and keys that agree at once are resolved.
    std::optional<WalPositions> positions;
};

struct SettleReport {
    std::vector<SyncLink> links; // empty: recheck_delay was used
    int rounds = 0;
    double waited_seconds = 0;
    std::optional<SyncWait> last_wait; // with links
    bool sync_not_streaming = false;   // some difference was confirmed while a link was broken
    size_t confirmed = 0, resolved = 0, pending = 0;
};

// Settles the Pending differences of `tables` in place (status, reason,
// and the row state of the last read).
SettleReport settle(RemoteSide &remote, std::vector<SettleTable> &tables, const SettleOptions &options);

} // namespace pymigrate::validate

#include "validate/recheck.hpp"

#include "pg/guard.hpp"

#include <algorithm>
#include <utility>

#include "validate/compare.hpp"
#include "validate/snapshot.hpp"

namespace pymigrate::validate {

namespace {

// The same rows on both sides as at the previous read: present or absent
// alike, same hashes, same tuple versions (so not even changed and changed
// back in between).
bool
unchanged(const Difference &before, const Difference &now)
{
    return before.local_hash == now.local_hash && before.remote_hash == now.remote_hash &&
           before.local_xmin == now.local_xmin && before.remote_xmin == now.remote_xmin;
}

// Keeps the key, takes everything else from the new read.
void
take(Difference &d, Difference now)
{
    d.kind = now.kind;
    d.local_hash = now.local_hash;
    d.remote_hash = now.remote_hash;
    d.local_xmin = now.local_xmin;
    d.remote_xmin = now.remote_xmin;
    d.local_image = std::move(now.local_image);
    d.remote_image = std::move(now.remote_image);
}

size_t
count(const std::vector<SettleTable> &tables, DiffStatus status)
{
    size_t n = 0;
    for (const auto &t : tables)
        for (const auto &d : *t.differences)
            n += d.status == status;
    return n;
}

// Reads every Pending key again in fresh snapshots of both sides (the
// remote one first, as in the comparison) and calls decide(difference,
// recheck) for each; returns the WAL positions of those snapshots.
template <typename Decide>
WalPositions
read_again(RemoteSide &remote, std::vector<SettleTable> &tables, bool with_images, Decide &&decide)
{
    WalPositions positions;
    positions.remote = remote.begin_snapshot();
    {
        HeldSnapshot fresh = HeldSnapshot::latest();
        positions.local = local_wal_position();
        for (auto &t : tables) {
            std::vector<size_t> which;
            std::vector<Difference> keys;
            for (size_t i = 0; i < t.differences->size(); ++i)
                if ((*t.differences)[i].status == DiffStatus::Pending) {
                    which.push_back(i);
                    keys.push_back((*t.differences)[i].diff);
                }
            if (which.empty())
                continue;
            auto checks = recheck_keys(*t.plan, *t.remote, remote, fresh.get(), keys, with_images);
            for (size_t k = 0; k < which.size(); ++k)
                decide((*t.differences)[which[k]], checks[k]);
        }
    }
    remote.end_snapshot();
    return positions;
}

} // namespace

SettleReport
settle(RemoteSide &remote, std::vector<SettleTable> &tables, const SettleOptions &options)
{
    SettleReport report;
    report.links = find_sync_links(remote);
    WalPositions positions;
    if (options.positions) {
        positions = *options.positions;
    } else {
        positions = read_again(remote, tables, options.with_images, [](RecordedDifference &d, Recheck &c) {
            take(d.diff, std::move(c.now));
            if (c.resolved)
                d.status = DiffStatus::Resolved;
        });
    }

    for (int round = 1; round <= kMaxRounds && count(tables, DiffStatus::Pending) > 0; ++round) {
        std::optional<SyncWait> wait;
        if (!report.links.empty()) {
            wait =
                wait_for_sync(report.links, remote, positions, std::max(0.0, options.timeout - report.waited_seconds));
            report.waited_seconds += wait->seconds;
            report.last_wait = wait;
        } else {
            sleep_interruptibly(options.delay);
            report.waited_seconds += options.delay;
        }
        report.rounds = round;
        bool caught_up = !wait || wait->caught_up();
        // Every subscription still short of the position is not streaming:
        // nothing more will arrive, so what still differs is real drift.
        bool broken = wait && !caught_up && !wait->lagging();
        positions = read_again(remote, tables, options.with_images, [&](RecordedDifference &d, Recheck &c) {
            bool same = unchanged(d.diff, c.now);
            take(d.diff, std::move(c.now));
            if (c.resolved) {
                d.status = DiffStatus::Resolved;
                d.reason.clear();
            } else if (!same) {
                d.reason = "the row changed between every two re-checks (" + std::to_string(round) + " rounds)";
            } else if (caught_up) {
                d.status = DiffStatus::Confirmed;
                d.reason.clear();
            } else if (broken) {
                d.status = DiffStatus::Confirmed;
                d.reason = "confirmed while sync was not streaming: " + wait->describe(true);
                report.sync_not_streaming = true;
            } else {
                d.reason =
                    "sync had not applied the other side's changes within recheck_timeout: " + wait->describe(true);
            }
        });
        // Out of time with sync behind: another round could not wait for it.
        if (wait && wait->lagging())
            break;
    }
    report.confirmed = count(tables, DiffStatus::Confirmed);
    report.resolved = count(tables, DiffStatus::Resolved);
    report.pending = count(tables, DiffStatus::Pending);
    return report;
}

} // namespace pymigrate::validate

#include "validate/sync_wait.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
}

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>

#include "validate/snapshot.hpp"

namespace pymigrate::validate {

// SizeOfXLogLongPHD (40) at the start of a segment, SizeOfXLogShortPHD (24)
// at the start of any other page (access/xlog_internal.h).
const char *const kWalPositionSql =
    "SELECT CASE WHEN (p.l OPERATOR(pg_catalog.-) '0/0'::pg_catalog.pg_lsn) % s.seg = 40 "
    "THEN p.l OPERATOR(pg_catalog.-) 40::numeric "
    "WHEN (p.l OPERATOR(pg_catalog.-) '0/0'::pg_catalog.pg_lsn) % s.blk = 24 "
    "THEN p.l OPERATOR(pg_catalog.-) 24::numeric ELSE p.l END::text "
    "FROM (SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL "
    "ELSE pg_catalog.pg_current_wal_insert_lsn() END AS l) p, "
    "(SELECT max(setting::numeric) FILTER (WHERE name = 'wal_segment_size') AS seg, "
    "max(setting::numeric) FILTER (WHERE name = 'wal_block_size') AS blk FROM pg_catalog.pg_settings "
    "WHERE name IN ('wal_segment_size', 'wal_block_size')) s";

namespace {

constexpr const char *kHasSyncSql = "SELECT pg_catalog.to_regclass('pymigrate.subscription_status') IS NOT NULL";
constexpr const char *kSubscriptionsSql =
    "SELECT name, slot_name::text FROM pymigrate.subscription_status WHERE slot_name IS NOT NULL";
constexpr const char *kSlotsSql =
    "SELECT slot_name::text FROM pg_catalog.pg_replication_slots WHERE slot_name::text OPERATOR(pg_catalog.=) "
    "ANY ($1::text[]) AND plugin OPERATOR(pg_catalog.=) 'pymigrate' AND database OPERATOR(pg_catalog.=) "
    "pg_catalog.current_database()";
constexpr const char *kProgressSql =
    "SELECT name, state, applied_lsn::text, coalesce(applied_lsn OPERATOR(pg_catalog.>=) $2::pg_catalog.pg_lsn, "
    "false) FROM pymigrate.subscription_status WHERE name OPERATOR(pg_catalog.=) ANY ($1::text[])";
constexpr double kPollSeconds = 0.05;

using Rows = std::vector<std::vector<std::optional<std::string>>>;

Rows
local_rows(const char *sql, const std::vector<pg::SpiParam> &params = {})
{
    pg::Spi spi;
    return spi.query(sql, params, true);
}

Rows
remote_rows(RemoteSide &remote, const char *sql, const std::vector<pq::Param> &params = {})
{
    pq::Result r = remote.query(sql, params);
    Rows out;
    for (int i = 0; i < r.rows(); ++i) {
        std::vector<std::optional<std::string>> row;
        for (int j = 0; j < r.columns(); ++j)
            row.push_back(r.is_null(i, j) ? std::nullopt : std::optional<std::string>(std::string(r.value(i, j))));
        out.push_back(std::move(row));
    }
    return out;
}

// name -> slot of the subscriptions on one side.
std::vector<std::pair<std::string, std::string>>
subscriptions(const Rows &has_sync, const std::function<Rows()> &list)
{
    std::vector<std::pair<std::string, std::string>> out;
    if (has_sync.empty() || has_sync[0][0] != "t")
        return out;
    for (const auto &row : list())
        out.emplace_back(*row[0], *row[1]);
    return out;
}

std::string
slot_array(const std::vector<std::pair<std::string, std::string>> &subs)
{
    std::vector<std::optional<std::string>> slots;
    for (const auto &s : subs)
        slots.emplace_back(s.second);
    return pq::array_literal(slots);
}

bool
not_streaming(const std::string &state)
{
    return state == "disabled" || state == "error" || state == "initializing" || state == "dropped";
}

// Reads the progress of the links whose subscriber is on one side.
void
read_progress(std::vector<LinkProgress> &links, bool local, RemoteSide &remote,
              const std::optional<std::string> &target)
{
    std::vector<std::optional<std::string>> names;
    for (const auto &l : links)
        if (l.link.local_subscriber == local && !l.reached)
            names.emplace_back(l.link.subscription);
    if (names.empty())
        return;
    std::string array = pq::array_literal(names);
    Rows rows = local ? local_rows(kProgressSql, {{TEXTARRAYOID, array}, {TEXTOID, target}})
                      : remote_rows(remote, kProgressSql, {array, target});
    for (auto &l : links) {
        if (l.link.local_subscriber != local || l.reached)
            continue;
        l.state = "dropped";
        for (const auto &row : rows)
            if (*row[0] == l.link.subscription) {
                l.state = row[1].value_or("");
                l.applied = row[2].value_or("");
                l.reached = row[3] == "t";
            }
    }
}

} // namespace

std::optional<std::string>
local_wal_position()
{
    Rows rows = local_rows(kWalPositionSql);
    return rows.empty() ? std::nullopt : rows[0][0];
}

std::vector<SyncLink>
find_sync_links(RemoteSide &remote)
{
    auto local_subs = subscriptions(local_rows(kHasSyncSql), [] { return local_rows(kSubscriptionsSql); });
    auto remote_subs =
        subscriptions(remote_rows(remote, kHasSyncSql), [&remote] { return remote_rows(remote, kSubscriptionsSql); });
    std::vector<SyncLink> out;
    if (!local_subs.empty()) {
        std::set<std::string> there;
        for (const auto &row : remote_rows(remote, kSlotsSql, {slot_array(local_subs)}))
            there.insert(*row[0]);
        for (const auto &[name, slot] : local_subs)
            if (there.count(slot))
                out.push_back({name, true});
    }
    if (!remote_subs.empty()) {
        std::set<std::string> here;
        for (const auto &row : local_rows(kSlotsSql, {{TEXTARRAYOID, slot_array(remote_subs)}}))
            here.insert(*row[0]);
        for (const auto &[name, slot] : remote_subs)
            if (here.count(slot))
                out.push_back({name, false});
    }
    return out;
}

bool
SyncWait::caught_up() const
{
    return std::all_of(links.begin(), links.end(), [](const LinkProgress &l) { return l.reached; });
}

bool
SyncWait::broken() const
{
    return std::any_of(links.begin(), links.end(),
                       [](const LinkProgress &l) { return !l.reached && not_streaming(l.state); });
}

bool
SyncWait::lagging() const
{
    return std::any_of(links.begin(), links.end(),
                       [](const LinkProgress &l) { return !l.reached && !not_streaming(l.state); });
}

std::string
SyncWait::describe(bool only_unreached) const
{
    std::string out;
    for (const auto &l : links) {
        if (only_unreached && l.reached)
            continue;
        out += (out.empty() ? "" : ", ") + l.link.subscription + " (on the " +
               (l.link.local_subscriber ? "local" : "remote") + " side, " + l.state;
        if (!l.reached)
            out += ", applied " + (l.applied.empty() ? std::string("nothing yet") : l.applied) + " of " + l.target;
        out += ")";
    }
    return out;
}

SyncWait
wait_for_sync(const std::vector<SyncLink> &links, RemoteSide &remote, const WalPositions &targets,
              double timeout_seconds)
{
    auto start = std::chrono::steady_clock::now();
    auto elapsed = [start] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    SyncWait w;
    for (const auto &l : links) {
        LinkProgress p;
        p.link = l;
        // A local subscriber applies the remote side's stream, and back.
        const auto &target = l.local_subscriber ? targets.remote : targets.local;
        p.target = target.value_or("");
        p.reached = !target; // a standby's snapshot: nothing of it can be in flight through a slot
        w.links.push_back(std::move(p));
    }
    for (;;) {
        read_progress(w.links, true, remote, targets.remote);
        read_progress(w.links, false, remote, targets.local);
        bool waiting_for_progress = std::any_of(w.links.begin(), w.links.end(), [](const LinkProgress &l) {
            return !l.reached && l.state != "disabled" && l.state != "dropped";
        });
        if (w.caught_up() || !waiting_for_progress || elapsed() >= timeout_seconds)
            break;
        sleep_interruptibly(std::min(kPollSeconds, timeout_seconds - elapsed()));
    }
    w.seconds = elapsed();
    return w;
}

} // namespace pymigrate::validate

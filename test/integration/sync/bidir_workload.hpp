// The concurrent-writers workload of the two-way sync tests: writers on the
// monolith and the service at once, on overlapping keys of one table, so
// that both directions meet every kind of conflict. Shared by the logical
// (sync_bidir_test.cpp) and trigger-capture (sync_capture_test.cpp) runs, so
// that both capture modes pass the same correctness test.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/integration/sync/sync_helpers.hpp"

namespace pymigrate::testing::sync
{

// Table acct: rows 1-300 and 401-600 seeded on the monolith.
inline const char *const kAcctDdl =
    "CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL DEFAULT 0, note text, touched_by text)";
inline const char *const kAcctSeed = "INSERT INTO acct SELECT g, 0, 'seed', 'seed' FROM generate_series(1, 300) g "
                                     "UNION ALL SELECT g, 0, 'seed', 'seed' FROM generate_series(401, 600) g";

// Whether the writers also delete a key and insert it again.
enum class Reinsert { No, Yes };

// Writers on both sides on the same keys for `duration`: single-row
// updates of 1-600, upserts of 1-400 (rows appear), deletes of 401-600,
// updates of six rows in one statement (one capture trigger call for all)
// and transactions of two updates. With Reinsert::Yes also, on keys
// 1-600: a DELETE and an INSERT of the same key in one transaction, and
// the same as two autocommit statements (what tombstones are for: a
// delete is weighed against the other side's concurrent writes like any
// write). Returns the number of statements written.
inline long
run_overlapping_writers(Cluster &monolith, Cluster &service, const std::string &db, std::chrono::milliseconds duration,
                        Reinsert reinsert = Reinsert::No)
{
    std::atomic<bool> stop{false};
    std::atomic<long> writes{0};
    auto writer = [&](Cluster &c, const std::string &me, unsigned seed) {
        pq::Connection w = c.connect(db);
        std::mt19937 rng(seed);
        while (!stop) {
            int op = static_cast<int>(rng() % (reinsert == Reinsert::Yes ? 14 : 12));
            int k = op < 6 || op >= 12 ? static_cast<int>(rng() % 600) + 1
                    : op < 9           ? static_cast<int>(rng() % 400) + 1
                                       : static_cast<int>(rng() % 200) + 401;
            std::string key = std::to_string(k);
            std::string other = std::to_string(static_cast<int>(rng() % 600) + 1);
            try {
                if (op < 5)
                    w.exec("UPDATE acct SET balance = balance + 1, note = $2 || ' ' || clock_timestamp(), "
                           "touched_by = $2 WHERE id = $1",
                           {key, me});
                else if (op < 6)
                    w.exec("UPDATE acct SET balance = balance + 1, touched_by = $2 WHERE id BETWEEN $1 AND $1 + 5",
                           {key, me});
                else if (op < 9)
                    w.exec("INSERT INTO acct VALUES ($1, 1, $2, $2) ON CONFLICT (id) DO UPDATE SET balance = "
                           "acct.balance + 10, touched_by = $2",
                           {key, me});
                else if (op < 11)
                    w.exec("BEGIN; UPDATE acct SET balance = balance + 2, touched_by = '" + me + "' WHERE id = " + key +
                           "; UPDATE acct SET balance = balance + 3, note = '" + me + " pair' WHERE id = " + other +
                           "; COMMIT");
                else if (op < 12)
                    w.exec("DELETE FROM acct WHERE id = $1", {key});
                else if (op < 13)
                    w.exec("BEGIN; DELETE FROM acct WHERE id = " + key + "; INSERT INTO acct VALUES (" + key +
                           ", 0, '" + me + " reinserted', '" + me + "'); COMMIT");
                else {
                    w.exec("DELETE FROM acct WHERE id = $1", {key});
                    w.exec("INSERT INTO acct VALUES ($1, 0, $2 || ' reinserted', $2)", {key, me});
                }
            } catch (const pq::Error &e) {
                // Row locks taken in different orders (by two statements of
                // one side, or by a writer and the apply worker): PostgreSQL
                // cancels one of them, which changes nothing. An INSERT after
                // a DELETE finds the key back when the apply worker inserted
                // it in between (the other side's insert of a key absent
                // here): that statement fails, as an application's would.
                if (e.sqlstate() != "40P01" && !(op >= 12 && e.sqlstate() == "23505"))
                    throw;
                if (op == 9 || op == 10 || op == 12)
                    w.exec("ROLLBACK");
            }
            ++writes;
        }
    };
    std::thread a(writer, std::ref(monolith), "monolith", 1);
    std::thread b(writer, std::ref(service), "service", 2);
    std::this_thread::sleep_for(duration);
    stop = true;
    a.join();
    b.join();
    return writes.load();
}

// When `table` (key column id) differs between the sides: prints the rows
// that differ on each side (with their commit time and origin), the
// tombstones and the conflict log rows of those keys on both sides, for a
// report of the divergence.
inline void
report_differences(pq::Connection &m, pq::Connection &s, const std::string &table, int max_keys = 20)
{
    if (checksum(m, table) == checksum(s, table))
        return;
    const std::string rows = "SELECT id::text, t::text || ' xmin ' || xmin || ' committed ' || "
                             "coalesce((pg_xact_commit_timestamp_origin(xmin)).timestamp::text, '?') || ' origin ' || "
                             "coalesce((pg_xact_commit_timestamp_origin(xmin)).roident::text, '?') FROM " +
                             table + " t ORDER BY id";
    auto read = [&](pq::Connection &c) {
        std::map<std::string, std::string> out;
        auto r = c.exec(rows);
        for (int i = 0; i < r.rows(); ++i)
            out[std::string(r.value(i, 0))] = std::string(r.value(i, 1));
        return out;
    };
    auto on_m = read(m), on_s = read(s);
    std::vector<std::string> keys;
    for (const auto &[k, v] : on_m)
        if (auto it = on_s.find(k);
            it == on_s.end() || it->second.substr(0, it->second.find(" xmin ")) != v.substr(0, v.find(" xmin ")))
            keys.push_back(k);
    for (const auto &[k, v] : on_s)
        if (!on_m.count(k))
            keys.push_back(k);
    std::string report = std::to_string(keys.size()) + " keys differ\n";
    std::string list = "{";
    for (size_t i = 0; i < keys.size() && static_cast<int>(i) < max_keys; ++i) {
        const auto &k = keys[i];
        list += (i ? "," : "") + k;
        report += "key " + k + "\n  monolith: " + (on_m.count(k) ? on_m[k] : "(no row)") +
                  "\n  service:  " + (on_s.count(k) ? on_s[k] : "(no row)") + "\n";
    }
    list += "}";
    for (auto [side, c] : {std::pair<const char *, pq::Connection *>{"monolith", &m}, {"service", &s}}) {
        auto r = c->exec("SELECT l.key->>'id', l.id, l.subscription, l.kind, l.outcome, l.local_row, l.remote_row, "
                         "l.resolved_row, l.local_commit_ts, l.remote_commit_ts, l.remote_xid, l.detail "
                         "FROM pymigrate.conflict_log l WHERE l.key->>'id' = ANY ($1::text[]) ORDER BY 1, 2",
                         {list});
        report += std::string("conflict_log on the ") + side + ":\n";
        for (int i = 0; i < r.rows(); ++i) {
            report += " ";
            for (int j = 0; j < 12; ++j)
                report += " " + std::string(r.value(i, j));
            report += "\n";
        }
        report += std::string("tombstones on the ") + side + ":\n";
        try {
            auto t = c->exec("SELECT k, b.xid::text, b.deleted_at::text, "
                             "coalesce(pg_xact_commit_timestamp(xid(b.xid))::text, '?') FROM unnest($1::text[]) k "
                             "JOIN pymigrate.tombstone b ON b.relid = $2::regclass AND "
                             "b.key = pymigrate.tombstone_key($2::regclass, ARRAY[k]) ORDER BY 1",
                             {list, table});
            for (int i = 0; i < t.rows(); ++i)
                report += "  key " + std::string(t.value(i, 0)) + " xid " + std::string(t.value(i, 1)) +
                          " deleted at " + std::string(t.value(i, 2)) + " committed " + std::string(t.value(i, 3)) +
                          "\n";
        } catch (const pq::Error &e) {
            report += std::string("  (not read: ") + e.what() + ")\n";
        }
    }
    ADD_FAILURE() << "the two sides differ:\n" << report;
}

// Every conflict subscription `sub` counted on `c` is in the conflict log,
// none held, each with both commit times, nodes and the strategy.
inline void
expect_every_conflict_logged(pq::Connection &c, const std::string &sub)
{
    SCOPED_TRACE("subscription " + sub);
    auto logged = c.scalar("SELECT count(*) FROM pymigrate.conflict_log WHERE subscription = $1", {sub});
    EXPECT_EQ(logged, status(c, sub, "conflicts"));
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pymigrate.conflict_log WHERE outcome = 'held'"), "0");
    // A local version (row, or for *_deleted our delete: no row, its time
    // and node) for every kind but *_missing.
    const std::string incomplete = "FROM pymigrate.conflict_log WHERE remote_commit_ts IS NULL "
                                   "OR remote_node IS NULL OR strategy <> 'last_write_wins' OR key IS NULL "
                                   "OR (kind NOT LIKE '%missing' AND (local_commit_ts IS NULL OR local_node IS NULL)) "
                                   "OR (kind NOT LIKE '%missing' AND kind NOT LIKE '%deleted' AND local_row IS NULL) "
                                   "OR (kind LIKE '%deleted' AND local_row IS NOT NULL)";
    EXPECT_EQ(c.scalar("SELECT count(*) " + incomplete), "0")
        << "per kind and outcome, with the columns missing: "
        << c.scalar("SELECT string_agg(format('%s:%s%s%s%s (%s)', kind, outcome, CASE WHEN no_row THEN ' no local_row' "
                    "ELSE '' END, CASE WHEN no_ts THEN ' no local_commit_ts' ELSE '' END, CASE WHEN no_node THEN "
                    "' no local_node' ELSE '' END, n), ', ') FROM (SELECT kind, outcome, local_row IS NULL AS no_row, "
                    "local_commit_ts IS NULL AS no_ts, local_node IS NULL AS no_node, count(*) AS n " +
                    incomplete + " GROUP BY 1, 2, 3, 4, 5) g")
               .value_or("")
        << "; e.g. "
        << c.scalar("SELECT string_agg(format('%s %s %s local %s at %s %s, remote %s at %s %s, detail %s', kind, "
                    "outcome, key, local_row, local_commit_ts, local_node, remote_row, remote_commit_ts, remote_node, "
                    "detail), E'\\n') FROM (SELECT * " +
                    incomplete + " ORDER BY id LIMIT 5) e")
               .value_or("");
}

// Prints the conflicts each side logged, per kind and outcome (what the
// workload exercised).
inline void
print_conflict_counts(pq::Connection &m, pq::Connection &s)
{
    for (auto [side, c] : {std::pair<const char *, pq::Connection *>{"monolith", &m}, {"service", &s}})
        std::cout << "[ conflicts] on the " << side << ": "
                  << c->scalar("SELECT string_agg(kind || ':' || outcome || ' ' || n, ', ' ORDER BY kind, outcome) "
                               "FROM (SELECT kind, outcome, count(*) AS n FROM pymigrate.conflict_log GROUP BY 1, 2) g")
                         .value_or("none")
                  << "\n";
}

// After run_overlapping_writers() and once both directions have applied
// everything (`m2s` on the service, `s2m` on the monolith): both sides hold
// the same rows, both directions stream, conflicts happened and every one
// is logged, and nothing loops (once quiet, neither side applies anything).
inline void
expect_converged_every_conflict_logged_no_loop(pq::Connection &m, pq::Connection &s, const std::string &m2s,
                                               const std::string &s2m)
{
    EXPECT_EQ(checksum(s, "acct"), checksum(m, "acct"));
    EXPECT_EQ(status(s, m2s, "state"), "streaming");
    EXPECT_EQ(status(m, s2m, "state"), "streaming");
    expect_every_conflict_logged(m, s2m);
    expect_every_conflict_logged(s, m2s);
    long total = std::stol(m.scalar("SELECT count(*) FROM pymigrate.conflict_log").value()) +
                 std::stol(s.scalar("SELECT count(*) FROM pymigrate.conflict_log").value());
    EXPECT_GT(total, 0) << "overlapping writers on both sides should have met conflicts";
    EXPECT_NE(s.scalar("SELECT count(*) FROM pymigrate.conflict_summary"), "0");

    std::string applied_m = status(m, s2m, "changes_applied");
    std::string applied_s = status(s, m2s, "changes_applied");
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(status(m, s2m, "changes_applied"), applied_m);
    EXPECT_EQ(status(s, m2s, "changes_applied"), applied_s);
    EXPECT_EQ(checksum(s, "acct"), checksum(m, "acct"));
}

} // namespace pymigrate::testing::sync

// The concurrent-writers workload of the two-way sync tests: writers on the
// monolith and the service at once, on overlapping keys of one table, so
// that both directions meet every kind of conflict. Shared by the logical
// (sync_bidir_test.cpp) and trigger-capture (sync_capture_test.cpp) runs, so
// that both capture modes pass the same correctness test.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>

#include "test/integration/sync/sync_helpers.hpp"

namespace pymigrate::testing::sync
{

// Table acct: rows 1-300 and 401-600 seeded on the monolith.
inline const char *const kAcctDdl =
    "CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL DEFAULT 0, note text, touched_by text)";
inline const char *const kAcctSeed = "INSERT INTO acct SELECT g, 0, 'seed', 'seed' FROM generate_series(1, 300) g "
                                     "UNION ALL SELECT g, 0, 'seed', 'seed' FROM generate_series(401, 600) g";

// Writers on both sides on the same keys for `duration`: single-row
// updates of 1-600, upserts of 1-400 (rows appear), deletes of 401-600,
// updates of six rows in one statement (one capture trigger call for all)
// and transactions of two updates. A key is never deleted and inserted
// again: without tombstones, a delete and re-insert on one side racing an
// update on the other can diverge (README, Limitations). Returns the number
// of statements written.
inline long
run_overlapping_writers(Cluster &monolith, Cluster &service, const std::string &db, std::chrono::milliseconds duration)
{
    std::atomic<bool> stop{false};
    std::atomic<long> writes{0};
    auto writer = [&](Cluster &c, const std::string &me, unsigned seed) {
        pq::Connection w = c.connect(db);
        std::mt19937 rng(seed);
        while (!stop) {
            int op = static_cast<int>(rng() % 12);
            int k = op < 6   ? static_cast<int>(rng() % 600) + 1
                    : op < 9 ? static_cast<int>(rng() % 400) + 1
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
                else
                    w.exec("DELETE FROM acct WHERE id = $1", {key});
            } catch (const pq::Error &e) {
                // Row locks taken in different orders (by two statements of
                // one side, or by a writer and the apply worker): PostgreSQL
                // cancels one of them, which changes nothing.
                if (e.sqlstate() != "40P01")
                    throw;
                if (op == 9 || op == 10)
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

// Every conflict subscription `sub` counted on `c` is in the conflict log,
// none held, each with both commit times, nodes and the strategy.
inline void
expect_every_conflict_logged(pq::Connection &c, const std::string &sub)
{
    SCOPED_TRACE("subscription " + sub);
    auto logged = c.scalar("SELECT count(*) FROM pymigrate.conflict_log WHERE subscription = $1", {sub});
    EXPECT_EQ(logged, status(c, sub, "conflicts"));
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pymigrate.conflict_log WHERE outcome = 'held'"), "0");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pymigrate.conflict_log WHERE remote_commit_ts IS NULL "
                       "OR remote_node IS NULL OR strategy <> 'last_write_wins' OR key IS NULL "
                       "OR (kind NOT LIKE '%missing' AND (local_row IS NULL OR local_commit_ts IS NULL "
                       "OR local_node IS NULL))"),
              "0");
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

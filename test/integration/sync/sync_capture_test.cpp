// Trigger capture on live clusters: a monolith without logical decoding
// (wal_level replica) synced both ways with a service, concurrent writers
// converging, a transaction that commits late not skipped, kill -9 of the
// subscriber losing and repeating nothing, the change log trimmed.
#include "test/integration/sync/bidir_workload.hpp"
#include "test/integration/sync/sync_helpers.hpp"

#include <atomic>
#include <random>
#include <thread>

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

class SyncCapture : public SyncPair<SyncCapture>
{
  public:
    static ClusterOptions
    options(int i)
    {
        return i == 0 ? without_logical_decoding(sync_cluster("monolith")) : sync_cluster("service");
    }

  protected:
    // service <- monolith by trigger capture (with the initial copy), and
    // monolith <- service by logical decoding. `options` (a JSON object
    // without braces) is given to both.
    static void
    pair(const std::string &db, const std::string &ddl, const std::string &seed, const std::string &tables = "{t}",
         const std::string &options = "")
    {
        std::string extra = options.empty() ? "" : ", " + options;
        make_databases(db);
        auto m = provider().connect(db);
        auto s = subscriber().connect(db);
        m.exec(ddl);
        s.exec(ddl);
        if (!seed.empty())
            m.exec(seed);
        s.exec("SELECT pymigrate.create_subscription($2, $1, $3::text[], options => ('{\"capture\": "
               "\"trigger\", \"local_node\": \"service\", \"remote_node\": \"monolith\"" +
                   extra + "}')::jsonb)",
               {provider().dsn(db), db + "_from_monolith", tables});
        ASSERT_TRUE(wait_state(s, db + "_from_monolith", "streaming"));
        m.exec("SELECT pymigrate.create_subscription($2, $1, $3::text[], copy_data => false, options => "
               "('{\"local_node\": \"monolith\", \"remote_node\": \"service\"" +
                   extra + "}')::jsonb)",
               {subscriber().dsn(db), db + "_from_service", tables});
        ASSERT_TRUE(wait_state(m, db + "_from_service", "streaming"));
    }

    // Everything the monolith has committed is applied on the service: a
    // marker written now (row -1 of `table`, text column `column`) arrives,
    // and batches are applied in commit order.
    static ::testing::AssertionResult
    capture_caught_up(Connection &m, Connection &s, const std::string &db, std::chrono::milliseconds timeout = 60s,
                      const std::string &table = "t", const std::string &column = "v")
    {
        std::string marker = std::to_string(std::random_device{}());
        m.exec("INSERT INTO " + table + " (id, " + column + ") VALUES (-1, $1) ON CONFLICT (id) DO UPDATE SET " +
                   column + " = excluded." + column,
               {marker});
        if (eventually([&] { return s.scalar("SELECT " + column + " FROM " + table + " WHERE id = -1") == marker; },
                       timeout, 50ms))
            return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure()
               << "the service did not apply the monolith's marker: state " << status(s, db + "_from_monolith", "state")
               << ", last_error " << status(s, db + "_from_monolith", "last_error");
    }
};

TEST_F(SyncCapture, ConcurrentWritersOnTheMonolithConvergeAndTheLogIsTrimmed)
{
    pair("conv", "CREATE TABLE t (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0)",
         "INSERT INTO t SELECT g, 'seed', 0 FROM generate_series(1, 200) g");
    auto m = provider().connect("conv");
    auto s = subscriber().connect("conv");
    EXPECT_EQ(s.scalar("SELECT count(*) FROM t"), "200");

    std::atomic<bool> stop{false};
    auto writer = [&](Cluster &c, const std::string &me, unsigned seed, bool multi_row) {
        Connection w = c.connect("conv");
        std::mt19937 rng(seed);
        while (!stop) {
            int k = static_cast<int>(rng() % 300) + 1;
            std::string key = std::to_string(k);
            try {
                switch (rng() % 4) {
                case 0:
                    w.exec("INSERT INTO t VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET n = t.n + 1, v = $2",
                           {key, me});
                    break;
                case 1:
                    w.exec("DELETE FROM t WHERE id = $1", {key});
                    break;
                default:
                    // Several rows in one statement: one trigger call per statement.
                    w.exec(multi_row ? "UPDATE t SET n = n + 1, v = $2 WHERE id BETWEEN $1 AND $1 + 5"
                                     : "UPDATE t SET n = n + 1, v = $2 WHERE id = $1",
                           {key, me});
                }
            } catch (const pymigrate::pq::Error &e) {
                // Two writers' multi-row updates may deadlock; PostgreSQL cancels one.
                if (e.sqlstate() != "40P01")
                    throw;
            }
        }
    };
    std::thread a(writer, std::ref(provider()), "monolith-a", 1, true);
    std::thread b(writer, std::ref(provider()), "monolith-b", 2, false);
    // Writers on the monolith only (two of them, so that the capture
    // batches interleave); both sides write in
    // ConcurrentWritersOnBothSidesConvergeEveryConflictLoggedNoLoop and, with
    // keys deleted and inserted again as here,
    // ConcurrentWritersThatAlsoDeleteAndInsertAgainConvergeEveryConflictLoggedNoLoop.
    std::this_thread::sleep_for(8s);
    stop = true;
    a.join();
    b.join();

    ASSERT_TRUE(capture_caught_up(m, s, "conv"));
    ASSERT_TRUE(wait_caught_up(s, m, "conv_from_service"));
    ASSERT_TRUE(capture_caught_up(m, s, "conv"));
    EXPECT_EQ(checksum(s, "t"), checksum(m, "t"));
    EXPECT_EQ(status(s, "conv_from_monolith", "capture"), "trigger");
    // What the service has applied is trimmed from the monolith's log.
    EXPECT_TRUE(eventually([&] { return m.scalar("SELECT count(*) < 50 FROM pymigrate.change_log") == "t"; }, 30s))
        << m.scalar("SELECT count(*) FROM pymigrate.change_log").value_or("?") << " rows left in the change log";
    // No loop: the monolith's applied changes are not captured again.
    std::string applied = status(s, "conv_from_monolith", "changes_applied");
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(status(s, "conv_from_monolith", "changes_applied"), applied);
}

// The concurrent-writers test of both directions (sync_bidir_test.cpp) with
// the monolith read by trigger capture: writers on both sides on the same
// keys converge under last_write_wins, every conflict is logged, no loop.
TEST_F(SyncCapture, ConcurrentWritersOnBothSidesConvergeEveryConflictLoggedNoLoop)
{
    pair("busy", kAcctDdl, kAcctSeed, "{acct}");
    auto m = provider().connect("busy");
    auto s = subscriber().connect("busy");
    const std::string m2s = "busy_from_monolith", s2m = "busy_from_service";
    // A minute, as in logical mode (sync_bidir_test.cpp).
    ASSERT_GT(run_overlapping_writers(provider(), subscriber(), "busy", 60s), 100);

    for (int round = 0; round < 2; ++round) {
        ASSERT_TRUE(capture_caught_up(m, s, "busy", 60s, "acct", "note"));
        ASSERT_TRUE(wait_caught_up(s, m, s2m));
    }
    EXPECT_EQ(status(s, m2s, "capture"), "trigger");
    expect_converged_every_conflict_logged_no_loop(m, s, m2s, s2m);
}

// The concurrent-writers test above, with writers that also delete a key
// and insert it again (in one transaction, and as two statements): with
// tombstones (a delete weighed like any write) that converges too.
TEST_F(SyncCapture, ConcurrentWritersThatAlsoDeleteAndInsertAgainConvergeEveryConflictLoggedNoLoop)
{
    pair("reins", kAcctDdl, kAcctSeed, "{acct}");
    auto m = provider().connect("reins");
    auto s = subscriber().connect("reins");
    const std::string m2s = "reins_from_monolith", s2m = "reins_from_service";
    long writes = run_overlapping_writers(provider(), subscriber(), "reins", 60s, Reinsert::Yes);
    std::cout << "[ workload ] " << writes << " statements\n";
    ASSERT_GT(writes, 100);

    for (int round = 0; round < 2; ++round) {
        ASSERT_TRUE(capture_caught_up(m, s, "reins", 60s, "acct", "note"));
        ASSERT_TRUE(wait_caught_up(s, m, s2m));
    }
    print_conflict_counts(m, s);
    report_differences(m, s, "acct");
    expect_converged_every_conflict_logged_no_loop(m, s, m2s, s2m);
}

// A row handed over from the monolith (trigger capture) to the service: the
// service's apply worker writes markers naming "capture:<the monolith's
// database oid>", which reach the monolith as SEENs, so the service's later
// update of the row is no conflict there. Without them the monolith took it
// for one and, ranking itself first, kept its older value.
TEST_F(SyncCapture, AHandOverFromTheMonolithIsNoConflictUnderPriority)
{
    const std::string db = "handover";
    pair(db, "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t VALUES (1, 'seed')", "{t}",
         R"("strategy": "priority", "priority": ["monolith", "service"])");
    auto m = provider().connect(db);
    auto s = subscriber().connect(db);
    const std::string s2m = db + "_from_service";
    m.exec("UPDATE t SET v = 'monolith' WHERE id = 1");
    ASSERT_TRUE(capture_caught_up(m, s, db));
    ASSERT_EQ(s.scalar("SELECT v FROM t WHERE id = 1"), "monolith");
    ASSERT_TRUE(wait_caught_up(s, m, s2m)); // the service's markers have reached the monolith
    s.exec("UPDATE t SET v = 'service' WHERE id = 1");
    ASSERT_TRUE(wait_caught_up(s, m, s2m));
    ASSERT_TRUE(capture_caught_up(m, s, db));
    for (auto *c : {&m, &s})
        EXPECT_EQ(c->scalar("SELECT v FROM t WHERE id = 1"), "service");
    for (auto *c : {&m, &s})
        EXPECT_EQ(c->scalar("SELECT count(*) FROM pymigrate.conflict_log"), "0")
            << (c == &m ? "on the monolith: " : "on the service: ")
            << c->scalar("SELECT string_agg(kind || ':' || outcome || ' key ' || key || ' local ' || "
                         "coalesce(local_row::text, '-') || ' at ' || coalesce(local_commit_ts::text, '-') || ' ' "
                         "|| coalesce(local_node, '-') || ', remote ' || coalesce(remote_row::text, '-') || ' at ' "
                         "|| remote_commit_ts || ' ' || remote_node || ', detail ' || coalesce(detail, '-'), "
                         "'; ') FROM pymigrate.conflict_log")
                   .value_or("");
    EXPECT_EQ(checksum(s, "t"), checksum(m, "t"));
}

// The other way: a row the service wrote, applied on the monolith and then
// changed there, is no conflict on the service either. The monolith's WAL is
// not decoded (wal_level replica), so its apply worker's markers travel in
// the change log, among the captured transactions. The service ranks first:
// taking the hand-over for a concurrent write would keep its older value.
TEST_F(SyncCapture, AHandOverBackToTheServiceIsNoConflictUnderPriority)
{
    const std::string db = "handback";
    pair(db, "CREATE TABLE t (id int PRIMARY KEY, v text)", "", "{t}",
         R"("strategy": "priority", "priority": ["service", "monolith"])");
    auto m = provider().connect(db);
    auto s = subscriber().connect(db);
    const std::string s2m = db + "_from_service";
    // The row starts on the service (a row of the initial copy could still
    // count as unseen: README, Limitations).
    s.exec("INSERT INTO t VALUES (1, 'service start')");
    ASSERT_TRUE(wait_caught_up(s, m, s2m));
    for (int round = 0; round < 3; ++round) {
        std::string sv = "service " + std::to_string(round), mv = "monolith " + std::to_string(round);
        s.exec("UPDATE t SET v = $1 WHERE id = 1", {sv});
        ASSERT_TRUE(wait_caught_up(s, m, s2m));
        ASSERT_EQ(m.scalar("SELECT v FROM t WHERE id = 1"), sv);
        // The monolith's marker of that apply reaches the service first.
        ASSERT_TRUE(capture_caught_up(m, s, db));
        m.exec("UPDATE t SET v = $1 WHERE id = 1", {mv});
        ASSERT_TRUE(capture_caught_up(m, s, db));
        ASSERT_TRUE(wait_caught_up(s, m, s2m));
        for (auto *c : {&m, &s})
            EXPECT_EQ(c->scalar("SELECT v FROM t WHERE id = 1"), mv) << (c == &m ? "monolith" : "service");
    }
    for (auto *c : {&m, &s})
        EXPECT_EQ(c->scalar("SELECT string_agg(kind || ':' || outcome, ', ') FROM pymigrate.conflict_log"),
                  std::nullopt)
            << (c == &m ? "on the monolith" : "on the service");
    EXPECT_EQ(checksum(s, "t"), checksum(m, "t"));
}

// An application role that is no superuser and has rights on its own
// table only writes a captured table: the capture trigger writes the
// change log (and the tombstone trigger the tombstones) as their owner.
TEST_F(SyncCapture, AnApplicationRoleWritesACapturedTableAndItsChangesReachTheService)
{
    const std::string db = "approle";
    pair(db, "CREATE TABLE t (id int PRIMARY KEY, v text)",
         "INSERT INTO t SELECT g, 'seed' FROM generate_series(1, 4) g");
    auto m = provider().connect(db);
    auto s = subscriber().connect(db);
    m.exec("CREATE ROLE app LOGIN");
    m.exec("GRANT USAGE ON SCHEMA public TO app");
    m.exec("GRANT SELECT, INSERT, UPDATE, DELETE ON t TO app");
    Connection app(provider().dsn(db) + " user=app");
    EXPECT_EQ(app.scalar("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"), "false");

    app.exec("INSERT INTO t VALUES (10, 'app insert')");
    app.exec("UPDATE t SET v = 'app update' WHERE id = 1");
    app.exec("DELETE FROM t WHERE id = 2");
    app.exec("BEGIN; DELETE FROM t WHERE id = 3; INSERT INTO t VALUES (3, 'app reinserted'); COMMIT");
    ASSERT_TRUE(capture_caught_up(m, s, db));
    for (auto *c : {&m, &s})
        EXPECT_EQ(c->scalar("SELECT string_agg(id || ' ' || v, ', ' ORDER BY id) FROM t WHERE id > 0"),
                  "1 app update, 3 app reinserted, 4 seed, 10 app insert");
    EXPECT_EQ(checksum(s, "t"), checksum(m, "t"));
    // Its deletes left tombstones (the monolith subscribes to the service).
    EXPECT_EQ(m.scalar("SELECT count(*) FROM pymigrate.tombstone WHERE relid = 't'::regclass"), "2");
    // The role itself can read neither the log nor the tombstones.
    expect_sql_error(app, "SELECT count(*) FROM pymigrate.change_log", {}, "42501",
                     "permission denied for table change_log");
    expect_sql_error(app, "SELECT count(*) FROM pymigrate.tombstone", {}, "42501",
                     "permission denied for table tombstone");
}

TEST_F(SyncCapture, ATransactionThatCommitsLateIsNotSkipped)
{
    pair("late", "CREATE TABLE t (id int PRIMARY KEY, v text)", "");
    auto m = provider().connect("late");
    auto s = subscriber().connect("late");
    // Transaction A takes its id and writes first, but commits last.
    auto late = provider().connect("late");
    late.exec("BEGIN");
    late.exec("INSERT INTO t VALUES (1, 'early id, late commit')");
    for (int i = 2; i <= 20; ++i)
        m.exec("INSERT INTO t VALUES ($1, 'later id, early commit')", {std::to_string(i)});
    ASSERT_TRUE(eventually([&] { return s.scalar("SELECT count(*) FROM t") == "19"; }))
        << s.scalar("SELECT count(*) FROM t").value_or("?");
    late.exec("COMMIT");
    ASSERT_TRUE(capture_caught_up(m, s, "late"));
    EXPECT_EQ(s.scalar("SELECT v FROM t WHERE id = 1"), "early id, late commit");
    EXPECT_EQ(checksum(s, "t"), checksum(m, "t"));
}

TEST_F(SyncCapture, Kill9OfTheSubscriberLosesAndRepeatsNothing)
{
    pair("crash", "CREATE TABLE t (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0)", "");
    auto m = provider().connect("crash");
    std::atomic<bool> stop{false};
    std::atomic<int> next{1};
    // Inserts of fresh keys and increments of earlier ones: a change applied
    // twice shows in n, a lost one in the count.
    std::thread writer([&] {
        Connection w = provider().connect("crash");
        while (!stop) {
            int k = next++;
            w.exec("BEGIN; INSERT INTO t VALUES (" + std::to_string(k) +
                   ", 'x'); UPDATE t SET n = n + 1 WHERE id = " + std::to_string(k / 2 + 1) + "; COMMIT");
        }
    });
    for (int round = 0; round < 3; ++round) {
        std::this_thread::sleep_for(1500ms);
        subscriber().kill9();
        subscriber().start();
    }
    stop = true;
    writer.join();
    auto s = subscriber().connect("crash");
    ASSERT_TRUE(capture_caught_up(m, s, "crash", 120s));
    EXPECT_EQ(checksum(s, "t"), checksum(m, "t"));
    EXPECT_GT(std::stoi(m.scalar("SELECT count(*) FROM t").value()), 10);
}

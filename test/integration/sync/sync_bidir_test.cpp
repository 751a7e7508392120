// Sync in both directions on live clusters: a subscription on each side to
// the other (origins keep applied changes from going back), conflict
// detection and every strategy, the conflict log, held changes.
#include "test/integration/sync/bidir_workload.hpp"
#include "test/integration/sync/sync_bidir_fixture.hpp"

#include <thread>

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

class SyncBidir : public BidirPair<SyncBidir>
{
};

TEST_F(SyncBidir, ConcurrentWritersOnBothSidesConvergeEveryConflictLoggedNoLoop)
{
    pair("busy", kAcctDdl, kAcctSeed);
    auto m = monolith().connect("busy");
    auto s = service().connect("busy");
    const std::string m2s = "busy_from_monolith", s2m = "busy_from_service";
    // A minute, as the issue asks: long enough for many conflicts of each kind.
    ASSERT_GT(run_overlapping_writers(monolith(), service(), "busy", 60s), 100);

    ASSERT_TRUE(settle(m, s, "busy"));
    expect_converged_every_conflict_logged_no_loop(m, s, m2s, s2m);
}

// The same with writers that also delete a key and insert it again (in one
// transaction, and as two statements) on the overlapping keys: with
// tombstones a delete is weighed like any write, and the sides converge
// (sync_tombstone_test.cpp has the orders one by one).
TEST_F(SyncBidir, ConcurrentWritersThatAlsoDeleteAndInsertAgainConvergeEveryConflictLoggedNoLoop)
{
    pair("reins", kAcctDdl, kAcctSeed);
    auto m = monolith().connect("reins");
    auto s = service().connect("reins");
    const std::string m2s = "reins_from_monolith", s2m = "reins_from_service";
    long writes = run_overlapping_writers(monolith(), service(), "reins", 60s, Reinsert::Yes);
    std::cout << "[ workload ] " << writes << " statements\n";
    ASSERT_GT(writes, 100);

    ASSERT_TRUE(settle(m, s, "reins"));
    print_conflict_counts(m, s);
    report_differences(m, s, "acct");
    expect_converged_every_conflict_logged_no_loop(m, s, m2s, s2m);
}

TEST_F(SyncBidir, LastWriteWinsConvergesWhicheverDirectionArrivesFirst)
{
    pair("lww", "CREATE TABLE u (id int PRIMARY KEY, v text)", "INSERT INTO u VALUES (1, 'seed'), (2, 'seed')");
    auto m = monolith().connect("lww");
    auto s = service().connect("lww");
    const std::string m2s = "lww_from_monolith", s2m = "lww_from_service";
    ASSERT_TRUE(settle(m, s, "lww"));
    pause(m, s, "lww");
    // Row 1: the service writes last; row 2: the monolith writes last.
    m.exec("UPDATE u SET v = 'monolith early' WHERE id = 1");
    s.exec("UPDATE u SET v = 'service early' WHERE id = 2");
    std::this_thread::sleep_for(20ms);
    s.exec("UPDATE u SET v = 'service late' WHERE id = 1");
    m.exec("UPDATE u SET v = 'monolith late' WHERE id = 2");
    // An insert of the same new key on both sides: the later one wins.
    m.exec("INSERT INTO u VALUES (3, 'monolith insert')");
    std::this_thread::sleep_for(20ms);
    s.exec("INSERT INTO u VALUES (3, 'service insert')");

    // The monolith's changes arrive at the service first, then the other way.
    resume(s, m2s);
    ASSERT_TRUE(wait_caught_up(m, s, m2s));
    resume(m, s2m);
    ASSERT_TRUE(settle(m, s, "lww"));
    for (auto *c : {&m, &s}) {
        EXPECT_EQ(row(*c, "SELECT v FROM u WHERE id = 1"), "service late");
        EXPECT_EQ(row(*c, "SELECT v FROM u WHERE id = 2"), "monolith late");
        EXPECT_EQ(row(*c, "SELECT v FROM u WHERE id = 3"), "service insert");
    }
    // The winner's commit time travelled with it.
    EXPECT_EQ(row(m, "SELECT pg_xact_commit_timestamp(xmin)::text FROM u WHERE id = 1"),
              row(s, "SELECT pg_xact_commit_timestamp(xmin)::text FROM u WHERE id = 1"));
    EXPECT_EQ(row(s, "SELECT string_agg(kind || ':' || outcome, ',' ORDER BY id) FROM pymigrate.conflict_log"),
              "update_origin_differs:keep_local,update_origin_differs:apply_remote,insert_exists:keep_local");
    EXPECT_EQ(row(m, "SELECT string_agg(kind || ':' || outcome, ',' ORDER BY id) FROM pymigrate.conflict_log"),
              "update_origin_differs:keep_local,update_origin_differs:apply_remote,insert_exists:apply_remote");

    // The same with the other arrival order.
    pause(m, s, "lww");
    m.exec("UPDATE u SET v = 'monolith early 2' WHERE id = 1");
    std::this_thread::sleep_for(20ms);
    s.exec("UPDATE u SET v = 'service late 2' WHERE id = 1");
    resume(m, s2m);
    ASSERT_TRUE(wait_caught_up(s, m, s2m));
    resume(s, m2s);
    ASSERT_TRUE(settle(m, s, "lww"));
    EXPECT_EQ(row(m, "SELECT v FROM u WHERE id = 1"), "service late 2");
    EXPECT_EQ(row(s, "SELECT v FROM u WHERE id = 1"), "service late 2");
    EXPECT_EQ(checksum(s, "u"), checksum(m, "u"));
}

TEST_F(SyncBidir, PriorityPerColumnMonolithWinsEmailServiceWinsLastLogin)
{
    pair("prio", "CREATE TABLE users (id int PRIMARY KEY, email text, last_login timestamptz, name text)",
         "INSERT INTO users VALUES (1, 'old@example.com', '2020-01-01', 'Ann')",
         R"("strategy": "priority", "priority": ["service", "monolith"],
            "column_priority": {"email": "monolith", "last_login": "service"})");
    auto m = monolith().connect("prio");
    auto s = service().connect("prio");
    const std::string m2s = "prio_from_monolith", s2m = "prio_from_service";
    ASSERT_TRUE(settle(m, s, "prio"));
    pause(m, s, "prio");
    m.exec("UPDATE users SET email = 'monolith@example.com', last_login = '2021-01-01', name = 'Ann M' "
           "WHERE id = 1");
    s.exec("UPDATE users SET email = 'service@example.com', last_login = '2022-02-02', name = 'Ann S' "
           "WHERE id = 1");
    resume(s, m2s);
    resume(m, s2m);
    ASSERT_TRUE(settle(m, s, "prio"));
    // email from the monolith, last_login from the service, the rest from
    // the node ranked first (the service).
    for (auto *c : {&m, &s})
        EXPECT_EQ(row(*c, "SELECT email || ' ' || last_login::date || ' ' || name FROM users"),
                  "monolith@example.com 2022-02-02 Ann S");
    EXPECT_EQ(row(s, "SELECT outcome || ' ' || strategy FROM pymigrate.conflict_log"), "merged priority");
    EXPECT_EQ(row(m, "SELECT outcome || ' ' || (resolved_row->>'email') FROM pymigrate.conflict_log"),
              "merged monolith@example.com");
}

TEST_F(SyncBidir, CustomResolverMergesEmailAndLastLoginAndUpdateDeleteHasADefinedOutcome)
{
    std::string ddl = R"SQL(
CREATE TABLE users (id int PRIMARY KEY, email text, last_login timestamptz);
-- The monolith owns email, the service last_login: keep both.
CREATE FUNCTION merge_user(tbl regclass, local jsonb, remote jsonb, info jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT CASE WHEN info->>'remote_node' = 'monolith' THEN remote ELSE local END
         || jsonb_build_object('last_login',
                               (CASE WHEN info->>'remote_node' = 'service' THEN remote ELSE local END)->'last_login')
$$;
)SQL";
    pair("custom", ddl, "INSERT INTO users VALUES (1, 'a@old', '2020-01-01'), (2, 'b@old', '2020-01-01')",
         R"("strategy": "custom", "resolver": "merge_user")");
    auto m = monolith().connect("custom");
    auto s = service().connect("custom");
    const std::string m2s = "custom_from_monolith", s2m = "custom_from_service";
    ASSERT_TRUE(settle(m, s, "custom"));
    pause(m, s, "custom");
    m.exec("UPDATE users SET email = 'a@monolith', last_login = '2021-01-01' WHERE id = 1");
    s.exec("UPDATE users SET email = 'a@service', last_login = '2023-03-03' WHERE id = 1");
    // Row 2: updated on the monolith, deleted on the service.
    m.exec("UPDATE users SET email = 'b@monolith' WHERE id = 2");
    s.exec("DELETE FROM users WHERE id = 2");
    resume(s, m2s);
    resume(m, s2m);
    ASSERT_TRUE(settle(m, s, "custom"));
    for (auto *c : {&m, &s}) {
        EXPECT_EQ(row(*c, "SELECT email || ' ' || last_login::date FROM users WHERE id = 1"), "a@monolith 2023-03-03");
        // The delete, the later write, wins on both sides (deletes are
        // weighed as under last_write_wins: README "Conflicts").
        EXPECT_EQ(row(*c, "SELECT count(*) FROM users WHERE id = 2"), "0");
    }
    EXPECT_EQ(row(s, "SELECT string_agg(kind || ':' || outcome, ',' ORDER BY id) FROM pymigrate.conflict_log"),
              "update_origin_differs:merged,update_deleted:skipped");
    EXPECT_EQ(row(m, "SELECT string_agg(kind || ':' || outcome, ',' ORDER BY id) FROM pymigrate.conflict_log"),
              "update_origin_differs:merged,delete_origin_differs:apply_remote");
    EXPECT_EQ(status(s, m2s, "state"), "streaming");
    EXPECT_EQ(status(m, s2m, "state"), "streaming");
}

TEST_F(SyncBidir, FailingResolverHoldsTheChangeUntilItIsFixed)
{
    std::string ddl = R"SQL(
CREATE TABLE users (id int PRIMARY KEY, email text, last_login timestamptz);
-- Converges: the larger email wins on both sides.
CREATE FUNCTION pick(tbl regclass, local jsonb, remote jsonb, info jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN CASE WHEN remote->>'email' > local->>'email' THEN remote ELSE local END; END $$;
)SQL";
    const std::string fixed = "CREATE OR REPLACE FUNCTION pick(tbl regclass, local jsonb, remote jsonb, info jsonb) "
                              "RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN RETURN CASE WHEN remote->>'email' > "
                              "local->>'email' THEN remote ELSE local END; END $$";
    pair("held", ddl, "INSERT INTO users VALUES (1, 'a', NULL), (2, 'b', NULL)",
         R"("strategy": "custom", "resolver": "pick")");
    auto m = monolith().connect("held");
    auto s = service().connect("held");
    const std::string m2s = "held_from_monolith", s2m = "held_from_service";
    ASSERT_TRUE(settle(m, s, "held"));

    // The resolver raises.
    s.exec("CREATE OR REPLACE FUNCTION pick(tbl regclass, local jsonb, remote jsonb, info jsonb) RETURNS jsonb "
           "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'resolver is broken'; END $$");
    // Both sides change row 1 before either sees the other's change (the
    // monolith's worker is held back until both have written).
    m.exec("SELECT pymigrate.disable_subscription($1)", {s2m});
    ASSERT_TRUE(eventually([&] { return status(m, s2m, "worker_pid") == "(null)"; }));
    s.exec("UPDATE users SET email = 'service' WHERE id = 1");
    m.exec("BEGIN; UPDATE users SET email = 'monolith' WHERE id = 1; UPDATE users SET email = 'b2' WHERE id = 2; "
           "COMMIT");
    m.exec("SELECT pymigrate.enable_subscription($1)", {s2m});
    ASSERT_TRUE(wait_state(s, m2s, "error", 30s));
    EXPECT_EQ(status(s, m2s, "held"), "true");
    EXPECT_NE(status(s, m2s, "last_error").find("resolver is broken"), std::string::npos)
        << status(s, m2s, "last_error");
    // Nothing of the remote transaction is applied, the local row stays.
    EXPECT_EQ(row(s, "SELECT string_agg(email, ',' ORDER BY id) FROM users"), "service,b");
    ASSERT_TRUE(eventually(
        [&] { return row(s, "SELECT count(*) FROM pymigrate.conflict_log WHERE outcome = 'held'") == "1"; }));
    EXPECT_NE(row(s, "SELECT detail FROM pymigrate.conflict_log WHERE outcome = 'held'").find("resolver is broken"),
              std::string::npos);

    // Now it returns a malformed row: still held, with that reason.
    s.exec("CREATE OR REPLACE FUNCTION pick(tbl regclass, local jsonb, remote jsonb, info jsonb) RETURNS jsonb "
           "LANGUAGE plpgsql AS $$ BEGIN RETURN '{\"no_such_column\": 1}'; END $$");
    ASSERT_TRUE(
        eventually([&] { return status(s, m2s, "last_error").find("no_such_column") != std::string::npos; }, 30s))
        << status(s, m2s, "last_error");
    EXPECT_EQ(status(s, m2s, "state"), "error");
    EXPECT_EQ(row(s, "SELECT string_agg(email, ',' ORDER BY id) FROM users"), "service,b");

    // Fixed: the held transaction is applied, whole.
    s.exec(fixed);
    ASSERT_TRUE(wait_state(s, m2s, "streaming", 60s));
    ASSERT_TRUE(settle(m, s, "held"));
    EXPECT_EQ(status(s, m2s, "held"), "false");
    EXPECT_EQ(row(s, "SELECT string_agg(email, ',' ORDER BY id) FROM users"), "service,b2");
    EXPECT_EQ(checksum(s, "users"), checksum(m, "users"));
    EXPECT_EQ(row(s, "SELECT outcome FROM pymigrate.conflict_log ORDER BY id DESC LIMIT 1"), "keep_local");
}

TEST_F(SyncBidir, BadStrategyAndOptionsAreRejectedWithSqlstate)
{
    make_databases("bad");
    auto m = monolith().connect("bad");
    auto s = service().connect("bad");
    for (auto *c : {&m, &s})
        c->exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
    auto expect_error = [&](const std::string &options, const std::string &table_options, const std::string &state,
                            const std::string &text) {
        expect_sql_error(s,
                         "SELECT pymigrate.create_subscription('bad', $1, '{t}', options => $2::jsonb, "
                         "table_options => $3::jsonb)",
                         {monolith().dsn("bad"), options, table_options}, state, text);
    };
    expect_error(R"({"strategy": "newest_wins"})", "{}", "22023", "newest_wins");
    expect_error(R"({"strategy": "custom"})", "{}", "22023", "resolver");
    expect_error(R"({"strategy": "custom", "resolver": "no_such_function"})", "{}", "42883", "no_such_function");
    expect_error("{}", R"({"t": {"strategy": "first_wins"}})", "22023", "first_wins");
    expect_error(R"({"update_missing": "sometimes"})", "{}", "22023", "sometimes");
    // Nothing was left behind.
    EXPECT_EQ(s.scalar("SELECT count(*) FROM pymigrate.subscription"), "0");
    EXPECT_EQ(s.scalar("SELECT count(*) FROM pg_replication_origin WHERE roname = 'pymigrate_bad'"), "0");
}

TEST_F(SyncBidir, ConflictLogRetentionIsTrimmedByTheManager)
{
    make_databases("retain");
    auto s = service().connect("retain");
    auto insert = [&](const std::string &age) {
        s.exec("INSERT INTO pymigrate.conflict_log (logged_at, subscription, table_name, kind, key, remote_commit_ts, "
               "remote_node, strategy, outcome) VALUES (now() - $1::interval, 'x', 't', 'update_missing', "
               "'{\"id\": 1}', now(), 'monolith', 'last_write_wins', 'skipped')",
               {age});
    };
    insert("10 days");
    insert("2 hours");
    insert("1 minute");
    service().connect().exec("ALTER SYSTEM SET pymigrate.conflict_log_retention = '1h'");
    service().connect().exec("SELECT pg_reload_conf()");
    s.exec("SELECT pymigrate._wake_manager()"); // the task runs at once instead of within the minute
    EXPECT_TRUE(eventually([&] { return s.scalar("SELECT count(*) FROM pymigrate.conflict_log") == "1"; }, 30s))
        << s.scalar("SELECT count(*) FROM pymigrate.conflict_log").value_or("?") << " rows left";
    EXPECT_EQ(s.scalar("SELECT count(*) FROM pymigrate.conflict_log WHERE logged_at > now() - interval '1 hour'"), "1");
    service().connect().exec("ALTER SYSTEM RESET pymigrate.conflict_log_retention");
    service().connect().exec("SELECT pg_reload_conf()");
}

// update_missing 'insert': an UPDATE of a row this side does not have is
// inserted, unless the row is absent by a delete made here concurrently
// with the update (its tombstone): then the later of the two wins, on both
// sides, as for any delete.
TEST_F(SyncBidir, UpdateMissingInsertKeepsTheUpdatedRowOnBothSides)
{
    pair("ins", "CREATE TABLE t (id int PRIMARY KEY, v text)",
         "INSERT INTO t VALUES (1, 'seed'), (2, 'seed'), (3, 'seed')", R"("update_missing": "insert")");
    auto m = monolith().connect("ins");
    auto s = service().connect("ins");
    const std::string m2s = "ins_from_monolith", s2m = "ins_from_service";
    ASSERT_TRUE(settle(m, s, "ins"));
    pause(m, s, "ins");
    // Row 1: deleted on the service, then updated on the monolith: the
    // update is the later write. Row 2: the other way round.
    s.exec("DELETE FROM t WHERE id = 1");
    m.exec("UPDATE t SET v = 'updated on the monolith' WHERE id = 2");
    std::this_thread::sleep_for(20ms);
    m.exec("UPDATE t SET v = 'updated on the monolith' WHERE id = 1");
    s.exec("DELETE FROM t WHERE id = 2");
    // Row 3: gone from the service by no delete of its own (a change with
    // the subscription's origin: not sent back, no tombstone), then
    // updated on the monolith: update_missing inserts it.
    s.exec("SELECT pg_replication_origin_session_setup('pymigrate_ins_from_monolith'); DELETE FROM t WHERE id = 3; "
           "SELECT pg_replication_origin_session_reset()");
    m.exec("UPDATE t SET v = 'updated on the monolith' WHERE id = 3");
    resume(s, m2s);
    resume(m, s2m);
    ASSERT_TRUE(settle(m, s, "ins"));
    for (auto *c : {&m, &s})
        EXPECT_EQ(row(*c, "SELECT string_agg(id || ' ' || v, ', ' ORDER BY id) FROM t"),
                  "1 updated on the monolith, 3 updated on the monolith");
    EXPECT_EQ(row(s, "SELECT string_agg((key->>'id') || ' ' || kind || ':' || outcome, ', ' ORDER BY key->>'id') "
                     "FROM pymigrate.conflict_log"),
              "1 update_deleted:inserted, 2 update_deleted:skipped, 3 update_missing:inserted");
    EXPECT_EQ(row(m, "SELECT string_agg((key->>'id') || ' ' || kind || ':' || outcome, ', ' ORDER BY key->>'id') "
                     "FROM pymigrate.conflict_log"),
              "1 delete_origin_differs:keep_local, 2 delete_origin_differs:apply_remote");
    EXPECT_EQ(checksum(s, "t"), checksum(m, "t"));
}

// A row frozen by VACUUM (written long ago, e.g. by the load both sides
// started from) counts as replicated: a remote update of it is no conflict.
// An unfrozen local write in its place that the other side had not received
// when it wrote is (a concurrent write).
TEST_F(SyncBidir, AFrozenLocalRowIsNoConflictAnUnfrozenLocalWriteIs)
{
    pair("frz", "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t VALUES (1, 'seed'), (2, 'seed')");
    auto m = monolith().connect("frz");
    auto s = service().connect("frz");
    ASSERT_TRUE(settle(m, s, "frz"));
    m.exec("VACUUM (FREEZE) t");
    pause(m, s, "frz");
    m.exec("UPDATE t SET v = 'written on the monolith' WHERE id = 2"); // a new, unfrozen local version
    std::this_thread::sleep_for(20ms);
    s.exec("UPDATE t SET v = 'from the service' WHERE id IN (1, 2)");
    resume(s, "frz_from_monolith");
    resume(m, "frz_from_service");
    ASSERT_TRUE(settle(m, s, "frz"));
    for (auto *c : {&m, &s})
        EXPECT_EQ(row(*c, "SELECT string_agg(v, ',' ORDER BY id) FROM t"), "from the service,from the service");
    EXPECT_EQ(row(m, "SELECT string_agg(key::text || ':' || kind, ',') FROM pymigrate.conflict_log"),
              "{\"id\": 2}:update_origin_differs");
}

// A row handed over: written on one side, applied on the other, then
// written there on top of it. The second write is causally after the
// first, not concurrent: no conflict, and both sides keep it, whatever the
// strategy (origin-based detection called it a conflict, and priority or a
// resolver favouring the first writer then kept the older value on its
// side: divergence).
TEST_F(SyncBidir, AHandOverIsNoConflictUnderPriorityColumnPriorityAndCustom)
{
    std::string ddl = R"SQL(
CREATE TABLE by_table (id int PRIMARY KEY, v text);
CREATE TABLE by_column (id int PRIMARY KEY, v text, w text);
CREATE TABLE by_resolver (id int PRIMARY KEY, v text);
-- The monolith's row always wins.
CREATE FUNCTION monolith_wins(tbl regclass, local jsonb, remote jsonb, info jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT CASE WHEN info->>'remote_node' = 'monolith' THEN remote ELSE local END $$;
)SQL";
    pair("handover", ddl,
         "INSERT INTO by_table VALUES (1, 'seed'); INSERT INTO by_column VALUES (1, 'seed', 'seed'); "
         "INSERT INTO by_resolver VALUES (1, 'seed')",
         "",
         R"({"by_table": {"strategy": "priority", "priority": ["monolith", "service"]},
             "by_column": {"strategy": "priority", "priority": ["service", "monolith"],
                           "column_priority": {"v": "monolith", "w": "service"}},
             "by_resolver": {"strategy": "custom", "resolver": "monolith_wins"}})");
    auto m = monolith().connect("handover");
    auto s = service().connect("handover");
    ASSERT_TRUE(settle(m, s, "handover"));
    // Waits until `c` has row 1 of `table` with v = `v`.
    auto arrives = [&](Connection &c, const std::string &table, const std::string &v) {
        return eventually([&] { return row(c, "SELECT v FROM " + table + " WHERE id = 1") == v; }, 30s, 20ms);
    };
    for (std::string table : {"by_table", "by_column", "by_resolver"}) {
        SCOPED_TRACE(table);
        std::string set_w = table == "by_column" ? ", w = v" : "";
        for (int round = 0; round < 2; ++round) {
            std::string n = std::to_string(round);
            // Monolith first, then the service on top of it, and back.
            m.exec("UPDATE " + table + " SET v = 'monolith " + n + "'" + set_w + " WHERE id = 1");
            ASSERT_TRUE(arrives(s, table, "monolith " + n));
            s.exec("UPDATE " + table + " SET v = 'service " + n + "'" + set_w + " WHERE id = 1");
            ASSERT_TRUE(arrives(m, table, "service " + n));
            m.exec("UPDATE " + table + " SET v = 'monolith again " + n + "'" + set_w + " WHERE id = 1");
            ASSERT_TRUE(arrives(s, table, "monolith again " + n));
            s.exec("UPDATE " + table + " SET v = 'service last " + n + "'" + set_w + " WHERE id = 1");
            ASSERT_TRUE(settle(m, s, "handover"));
            for (auto *c : {&m, &s})
                EXPECT_EQ(row(*c, "SELECT v FROM " + table + " WHERE id = 1"), "service last " + n);
            EXPECT_EQ(checksum(s, table), checksum(m, table));
        }
        // A delete handed over the same way is no conflict either.
        m.exec("UPDATE " + table + " SET v = 'before delete' WHERE id = 1");
        ASSERT_TRUE(arrives(s, table, "before delete"));
        s.exec("DELETE FROM " + table + " WHERE id = 1");
        ASSERT_TRUE(settle(m, s, "handover"));
        for (auto *c : {&m, &s})
            EXPECT_EQ(row(*c, "SELECT count(*) FROM " + table), "0");
    }
    for (auto *c : {&m, &s})
        EXPECT_EQ(row(*c, "SELECT count(*) FROM pymigrate.conflict_log"), "0") << row(
            *c, "SELECT string_agg(table_name || ' ' || kind || ' ' || outcome, ', ') FROM pymigrate.conflict_log");
    // The markers of applied transactions travel in the stream but are no
    // changes: nothing is applied back and forth once quiet.
    std::string applied = status(m, "handover_from_service", "changes_applied") + "/" +
                          status(s, "handover_from_monolith", "changes_applied");
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(status(m, "handover_from_service", "changes_applied") + "/" +
                  status(s, "handover_from_monolith", "changes_applied"),
              applied);
}

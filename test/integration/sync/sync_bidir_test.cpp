// Sync in both directions on live clusters: a subscription on each side to
// the other (origins keep applied changes from going back), conflict
// detection and every strategy, the conflict log, held changes.
#include "test/integration/sync/bidir_workload.hpp"
#include "test/integration/sync/sync_helpers.hpp"

#include <thread>

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

class SyncBidir : public MonolithService<SyncBidir>
{
  protected:
    static Cluster &
    monolith()
    {
        return provider();
    }
    static Cluster &
    service()
    {
        return subscriber();
    }

    // Database `db` on both sides with `ddl`, rows `seed` on the monolith,
    // then service <- monolith (with the initial copy) and, once that
    // streams, monolith <- service (without). `options` (a JSON object
    // without braces) and `table_options` are given to both.
    static void
    pair(const std::string &db, const std::string &ddl, const std::string &seed, const std::string &options = "",
         const std::string &table_options = "{}")
    {
        make_databases(db);
        auto m = monolith().connect(db);
        auto s = service().connect(db);
        m.exec(ddl);
        s.exec(ddl);
        if (!seed.empty())
            m.exec(seed);
        std::string extra = options.empty() ? "" : ", " + options;
        s.exec("SELECT pymigrate.create_subscription($4, $1, $2::text[], options => "
               "('{\"local_node\": \"service\", \"remote_node\": \"monolith\"" +
                   extra + "}')::jsonb, table_options => $3::jsonb)",
               {monolith().dsn(db), tables_of(s), table_options, db + "_from_monolith"});
        ASSERT_TRUE(wait_state(s, db + "_from_monolith", "streaming"));
        m.exec("SELECT pymigrate.create_subscription($4, $1, $2::text[], copy_data => false, options => "
               "('{\"local_node\": \"monolith\", \"remote_node\": \"service\"" +
                   extra + "}')::jsonb, table_options => $3::jsonb)",
               {service().dsn(db), tables_of(m), table_options, db + "_from_service"});
        ASSERT_TRUE(wait_state(m, db + "_from_service", "streaming"));
    }

    static std::string
    tables_of(Connection &c)
    {
        std::string list = "{";
        for (const auto &t : user_tables(c))
            list += (list.size() > 1 ? "," : "") + t;
        return list + "}";
    }

    // Both directions have applied everything written so far.
    static ::testing::AssertionResult
    settle(Connection &m, Connection &s, const std::string &db)
    {
        for (int round = 0; round < 2; ++round) { // a change applied one way may cause none back, but check twice
            if (auto r = wait_caught_up(m, s, db + "_from_monolith"); !r)
                return r;
            if (auto r = wait_caught_up(s, m, db + "_from_service"); !r)
                return r;
        }
        return ::testing::AssertionSuccess();
    }

    // Stops both directions; changes wait in the slots.
    static void
    pause(Connection &m, Connection &s, const std::string &db)
    {
        s.exec("SELECT pymigrate.disable_subscription($1)", {db + "_from_monolith"});
        m.exec("SELECT pymigrate.disable_subscription($1)", {db + "_from_service"});
        ASSERT_TRUE(eventually([&] { return status(s, db + "_from_monolith", "worker_pid") == "(null)"; }));
        ASSERT_TRUE(eventually([&] { return status(m, db + "_from_service", "worker_pid") == "(null)"; }));
    }

    static void
    resume(Connection &c, const std::string &name)
    {
        c.exec("SELECT pymigrate.enable_subscription($1)", {name});
        ASSERT_TRUE(wait_state(c, name, "streaming"));
    }

    static std::string
    row(Connection &c, const std::string &sql)
    {
        return c.scalar(sql).value_or("(no row)");
    }
};

TEST_F(SyncBidir, ConcurrentWritersOnBothSidesConvergeEveryConflictLoggedNoLoop)
{
    pair("busy", kAcctDdl, kAcctSeed);
    auto m = monolith().connect("busy");
    auto s = service().connect("busy");
    const std::string m2s = "busy_from_monolith", s2m = "busy_from_service";
    ASSERT_GT(run_overlapping_writers(monolith(), service(), "busy", 10s), 100);

    ASSERT_TRUE(settle(m, s, "busy"));
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
        // The delete wins on both sides (no tombstones: README "Conflicts").
        EXPECT_EQ(row(*c, "SELECT count(*) FROM users WHERE id = 2"), "0");
    }
    EXPECT_EQ(row(s, "SELECT string_agg(kind || ':' || outcome, ',' ORDER BY id) FROM pymigrate.conflict_log"),
              "update_origin_differs:merged,update_missing:skipped");
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

TEST_F(SyncBidir, UpdateMissingInsertKeepsTheUpdatedRowOnBothSides)
{
    pair("ins", "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t VALUES (1, 'seed')",
         R"("update_missing": "insert")");
    auto m = monolith().connect("ins");
    auto s = service().connect("ins");
    const std::string m2s = "ins_from_monolith", s2m = "ins_from_service";
    ASSERT_TRUE(settle(m, s, "ins"));
    pause(m, s, "ins");
    m.exec("UPDATE t SET v = 'updated on the monolith' WHERE id = 1");
    s.exec("DELETE FROM t WHERE id = 1");
    resume(s, m2s);
    resume(m, s2m);
    ASSERT_TRUE(settle(m, s, "ins"));
    for (auto *c : {&m, &s})
        EXPECT_EQ(row(*c, "SELECT v FROM t WHERE id = 1"), "updated on the monolith");
    EXPECT_EQ(row(s, "SELECT kind || ':' || outcome FROM pymigrate.conflict_log"), "update_missing:inserted");
    EXPECT_EQ(row(m, "SELECT kind || ':' || outcome FROM pymigrate.conflict_log"), "delete_origin_differs:keep_local");
}

// A row frozen by VACUUM (written long ago, e.g. by the load both sides
// started from) counts as replicated: a remote update of it is no conflict.
// An unfrozen local write in its place is (origin-based detection).
TEST_F(SyncBidir, AFrozenLocalRowIsNoConflictAnUnfrozenLocalWriteIs)
{
    pair("frz", "CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t VALUES (1, 'seed'), (2, 'seed')");
    auto m = monolith().connect("frz");
    auto s = service().connect("frz");
    ASSERT_TRUE(settle(m, s, "frz"));
    m.exec("VACUUM (FREEZE) t");
    m.exec("UPDATE t SET v = 'written on the monolith' WHERE id = 2"); // a new, unfrozen local version
    ASSERT_TRUE(settle(m, s, "frz"));
    s.exec("UPDATE t SET v = 'from the service' WHERE id IN (1, 2)");
    ASSERT_TRUE(settle(m, s, "frz"));
    for (auto *c : {&m, &s})
        EXPECT_EQ(row(*c, "SELECT string_agg(v, ',' ORDER BY id) FROM t"), "from the service,from the service");
    EXPECT_EQ(row(m, "SELECT string_agg(key::text || ':' || kind, ',') FROM pymigrate.conflict_log"),
              "{\"id\": 2}:update_origin_differs");
}

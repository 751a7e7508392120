// Sync when things go wrong: a provider that is down, lacks the extension,
// has wal_level below logical, lacks a table, or crashes mid-stream; a
// table missing here. Each is a clear error in the status view and the
// log, the worker retries, nothing is half-applied, and it recovers once
// the cause is gone.
#include "test/integration/sync/sync_helpers.hpp"

#include <fstream>
#include <sstream>
#include <thread>

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

class SyncFaults : public SyncPair<SyncFaults>
{
  protected:
    static std::string
    log_of(const Cluster &c)
    {
        std::ifstream in(c.log_file());
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    // The subscription is in 'error' with `text` in last_error, and has
    // been retried since.
    static void
    expect_failing_with(Connection &s, const std::string &name, const std::string &text)
    {
        ASSERT_TRUE(wait_state(s, name, "error", 30s));
        EXPECT_NE(status(s, name, "last_error").find(text), std::string::npos) << status(s, name, "last_error");
        EXPECT_TRUE(eventually([&] { return std::stoi(status(s, name, "retries")) >= 2; }, 30s))
            << "no retry: retries " << status(s, name, "retries");
    }
};

TEST_F(SyncFaults, ProviderDownIsReportedAndRetriedUntilItComesBack)
{
    make_databases("down");
    auto s = subscriber().connect("down");
    {
        auto p = provider().connect("down");
        p.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)");
    }
    s.exec("CREATE TABLE t (id int PRIMARY KEY)");
    provider().stop();
    // Created while the provider is down: with connect (the default) that
    // is an error now; without, the worker reports it.
    try {
        create_subscription(s, "down", provider().dsn("down"), "{t}");
        ADD_FAILURE() << "create_subscription reached a provider that is down";
    } catch (const pymigrate::pq::Error &e) {
        EXPECT_EQ(e.sqlstate(), "08001") << e.what();
    }
    create_subscription(s, "down", provider().dsn("down"), "{t}", "connect => false");
    expect_failing_with(s, "down", "could not connect to provider of subscription down");
    EXPECT_NE(log_of(subscriber()).find("could not connect to provider of subscription down"), std::string::npos)
        << subscriber().log_tail(20);
    EXPECT_EQ(s.scalar("SELECT count(*) FROM t"), "0");

    provider().start();
    ASSERT_TRUE(wait_state(s, "down", "streaming", 60s));
    auto p = provider().connect("down");
    p.exec("INSERT INTO t VALUES (1000)");
    ASSERT_TRUE(wait_caught_up(p, s, "down"));
    EXPECT_EQ(checksum(s, "t"), checksum(p, "t"));
}

TEST_F(SyncFaults, ProviderWithoutTheExtension)
{
    make_databases("noext", false);
    auto p = provider().connect("noext");
    auto s = subscriber().connect("noext");
    for (auto *c : {&p, &s})
        c->exec("CREATE TABLE t (id int PRIMARY KEY)");
    try {
        create_subscription(s, "noext", provider().dsn("noext"), "{t}");
        ADD_FAILURE() << "create_subscription accepted a provider without the extension";
    } catch (const pymigrate::pq::Error &e) {
        EXPECT_EQ(e.sqlstate(), "55000");
        EXPECT_NE(std::string(e.what()).find("has no pymigrate extension"), std::string::npos) << e.what();
    }
    create_subscription(s, "noext", provider().dsn("noext"), "{t}", "connect => false");
    expect_failing_with(s, "noext", "the provider database has no pymigrate extension");
    p.exec("CREATE EXTENSION pymigrate");
    p.exec("INSERT INTO t VALUES (1)");
    ASSERT_TRUE(wait_state(s, "noext", "streaming", 60s));
    ASSERT_TRUE(wait_caught_up(p, s, "noext"));
    EXPECT_EQ(s.scalar("SELECT count(*) FROM t"), "1");
}

TEST_F(SyncFaults, ProviderWithWalLevelReplica)
{
    ClusterOptions o = sync_cluster("replica_level");
    o.settings.emplace_back("wal_level", "replica");
    Cluster plain(o);
    auto p = plain.connect();
    p.exec("CREATE EXTENSION pymigrate; CREATE TABLE t (id int PRIMARY KEY)");
    make_databases("walrep");
    auto s = subscriber().connect("walrep");
    s.exec("CREATE TABLE t (id int PRIMARY KEY)");
    try {
        create_subscription(s, "walrep", plain.dsn(), "{t}");
        ADD_FAILURE() << "create_subscription accepted wal_level replica";
    } catch (const pymigrate::pq::Error &e) {
        EXPECT_EQ(e.sqlstate(), "55000");
        EXPECT_NE(std::string(e.what()).find("wal_level is \"replica\""), std::string::npos) << e.what();
    }
    create_subscription(s, "walrep", plain.dsn(), "{t}", "connect => false");
    expect_failing_with(s, "walrep", "wal_level is \"replica\"; pymigrate needs \"logical\"");
    s.exec("SELECT pymigrate.drop_subscription('walrep', drop_slot => false)");
}

TEST_F(SyncFaults, TableMissingOnEitherSide)
{
    make_databases("missing");
    auto p = provider().connect("missing");
    auto s = subscriber().connect("missing");
    s.exec("CREATE TABLE only_here (id int PRIMARY KEY)");
    try {
        create_subscription(s, "m1", provider().dsn("missing"), "{only_here}");
        ADD_FAILURE() << "create_subscription accepted a table the provider lacks";
    } catch (const pymigrate::pq::Error &e) {
        EXPECT_EQ(e.sqlstate(), "42P01") << e.what();
    }
    create_subscription(s, "m1", provider().dsn("missing"), "{only_here}", "connect => false");
    expect_failing_with(s, "m1", "table \"public\".\"only_here\" does not exist on the provider");
    s.exec("SELECT pymigrate.drop_subscription('m1')");

    // A table dropped here after the subscription started: the remote
    // transaction that touches it and another table fails whole, is
    // retried, and applies whole once the table is back.
    for (auto *c : {&p, &s})
        c->exec("CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text)");
    create_subscription(s, "m2", provider().dsn("missing"), "{a,b}");
    ASSERT_TRUE(wait_state(s, "m2", "streaming"));
    s.exec("DROP TABLE b");
    p.exec("BEGIN; INSERT INTO a VALUES (1, 'a'); INSERT INTO b VALUES (1, 'b'); COMMIT");
    expect_failing_with(s, "m2", "table public.b of this subscription does not exist here");
    EXPECT_EQ(s.scalar("SELECT count(*) FROM a"), "0") << "half of the remote transaction was applied";
    s.exec("CREATE TABLE b (id int PRIMARY KEY, v text)");
    ASSERT_TRUE(wait_state(s, "m2", "streaming", 60s));
    ASSERT_TRUE(wait_caught_up(p, s, "m2"));
    EXPECT_EQ(checksum(s, "a"), checksum(p, "a"));
    EXPECT_EQ(checksum(s, "b"), checksum(p, "b"));
}

TEST_F(SyncFaults, ProviderCrashMidStreamResumesWithoutAGap)
{
    make_databases("crashp");
    auto s = subscriber().connect("crashp");
    {
        auto p = provider().connect("crashp");
        for (auto *c : {&p, &s})
            c->exec("CREATE TABLE t (id int PRIMARY KEY, v int)");
    }
    create_subscription(s, "crashp", provider().dsn("crashp"), "{t}");
    ASSERT_TRUE(wait_state(s, "crashp", "streaming"));
    // A stream of small transactions, committed by the provider while its
    // changes are still on their way; then the provider crashes.
    {
        auto p = provider().connect("crashp");
        p.exec("CREATE PROCEDURE fill(a int, b int) LANGUAGE plpgsql AS $$ BEGIN "
               "FOR i IN a..b LOOP INSERT INTO t VALUES (i, i); IF i % 10 = 0 THEN COMMIT; END IF; END LOOP; END $$");
        p.exec("CALL fill(1, 30000)");
    }
    provider().stop(StopMode::Immediate);
    provider().start();
    auto p = provider().connect("crashp");
    p.exec("CALL fill(30001, 31000)");
    p.exec("UPDATE t SET v = -v WHERE id % 100 = 0");
    ASSERT_TRUE(wait_state(s, "crashp", "streaming", 60s));
    ASSERT_TRUE(wait_caught_up(p, s, "crashp", 120s));
    EXPECT_EQ(checksum(s, "t"), checksum(p, "t"));
    EXPECT_EQ(s.scalar("SELECT count(*) FROM t"), "31000");
}

// DROP EXTENSION ... CASCADE drops subscriptions without drop_subscription(),
// and the identity restarts with the extension: the next subscription gets
// an id whose status (last error, failures, a worker still running the old
// provider) must not carry over to it.
TEST_F(SyncFaults, ARecreatedExtensionStartsItsSubscriptionsWithACleanStatus)
{
    make_databases("again");
    auto s = subscriber().connect("again");
    s.exec("CREATE TABLE t (id int PRIMARY KEY)");
    {
        auto p = provider().connect("again");
        p.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)");
    }
    std::string nowhere = "host=/nonexistent port=1 dbname=again";
    create_subscription(s, "again", nowhere, "{t}", "connect => false");
    expect_failing_with(s, "again", "could not connect to provider of subscription again");
    std::string old_id = status(s, "again", "subscription_id");

    s.exec("DROP EXTENSION pymigrate CASCADE");
    s.exec("CREATE EXTENSION pymigrate");
    // A new name: replication origins are not the extension's objects and
    // outlive it (create_subscription refuses a left-over one, tested elsewhere).
    create_subscription(s, "again2", provider().dsn("again"), "{t}");
    ASSERT_EQ(status(s, "again2", "subscription_id"), old_id) << "the test needs the id to be reused";
    EXPECT_EQ(status(s, "again2", "last_error"), "(null)") << "the dropped subscription's error carried over";
    ASSERT_TRUE(wait_state(s, "again2", "streaming", 60s));
    EXPECT_EQ(status(s, "again2", "retries"), "0");
    auto p = provider().connect("again");
    ASSERT_TRUE(wait_caught_up(p, s, "again2"));
    EXPECT_EQ(s.scalar("SELECT count(*) FROM t"), "10");
}

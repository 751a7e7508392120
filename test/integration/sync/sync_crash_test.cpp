// Crash safety of the apply side: the subscriber's postmaster is killed
// with SIGKILL ten times while more than 100,000 changes stream in; after
// catch-up both sides hold the same rows and no change was applied twice.
// And an initial copy interrupted the same way starts over cleanly.
#include "test/integration/sync/pgbench_load.hpp"
#include "test/integration/sync/sync_helpers.hpp"

#include <random>
#include <thread>

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

class SyncCrash : public SyncPair<SyncCrash>
{
  protected:
    void
    crash_and_restart_subscriber()
    {
        subscriber().kill9();
        subscriber().start();
    }
};

TEST_F(SyncCrash, TenKill9sOfTheSubscriberDuringAWorkloadLoseAndRepeatNothing)
{
    make_databases("crash");
    for (Cluster *cl : {&provider(), &subscriber()}) {
        auto c = cl->connect("crash");
        c.exec("CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL, version int NOT NULL);"
               "CREATE TABLE hist (id bigserial PRIMARY KEY, acct_id int NOT NULL, delta int NOT NULL,"
               "                   at timestamptz NOT NULL DEFAULT now());"
               "CREATE TABLE kv (k int PRIMARY KEY, v int NOT NULL)");
    }
    auto p = provider().connect("crash");
    p.exec("INSERT INTO acct SELECT g, 0, 0 FROM generate_series(1, 2000) g");
    {
        // Every UPDATE of acct that the subscriber applies is logged by an
        // ALWAYS trigger with the row's version: a change applied twice
        // would log the same (id, version) twice.
        auto s = subscriber().connect("crash");
        s.exec("CREATE TABLE applied (acct_id int NOT NULL, version int NOT NULL);"
               "CREATE FUNCTION log_applied() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "  INSERT INTO applied VALUES (NEW.id, NEW.version); RETURN NEW; END $$;"
               "CREATE TRIGGER log_applied AFTER UPDATE ON acct FOR EACH ROW EXECUTE FUNCTION log_applied();"
               "ALTER TABLE acct ENABLE ALWAYS TRIGGER log_applied");
        create_subscription(s, "crash", provider().dsn("crash"), "{acct,hist,kv}");
        ASSERT_TRUE(wait_state(s, "crash", "streaming"));
    }

    // 4 clients, transactions of 3 to 4 changes each, until the crashes are
    // over and at least 100,000 changes were made.
    PgbenchLoad load(provider().dsn("crash"),
                     "\\set id random(1, 2000)\n"
                     "\\set k random(1, 5000)\n"
                     "\\set d random(1, 5000)\n"
                     "BEGIN;\n"
                     "UPDATE acct SET balance = balance + 1, version = version + 1 WHERE id = :id;\n"
                     "INSERT INTO hist (acct_id, delta) VALUES (:id, 1);\n"
                     "INSERT INTO kv VALUES (:k, 1) ON CONFLICT (k) DO UPDATE SET v = kv.v + 1;\n"
                     "END;\n"
                     "DELETE FROM kv WHERE k = :d AND v > 2;\n",
                     4, 1000);

    // Ten crashes at random moments, each once the worker is applying again.
    std::mt19937 rng(20240229);
    std::uniform_int_distribution<int> pause_ms(100, 1200);
    auto changes = [&] {
        return std::stol(p.scalar("SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables "
                                  "WHERE relname IN ('acct', 'hist', 'kv')")
                             .value_or("0"));
    };
    for (int round = 0; round < 10; ++round) {
        {
            auto s = subscriber().connect("crash");
            ASSERT_TRUE(wait_state(s, "crash", "streaming", 60s)) << "round " << round;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
        crash_and_restart_subscriber();
    }
    // Statistics reach the view with a delay of up to a second.
    EXPECT_TRUE(eventually([&] { return changes() >= 100000; }, 300s, 200ms)) << "only " << changes() << " changes";
    int rc = load.stop();
    ASSERT_EQ(rc, 0) << load.log();

    auto s = subscriber().connect("crash");
    ASSERT_TRUE(wait_caught_up(p, s, "crash", 180s));
    expect_same_tables(p, s, {"acct", "hist", "kv"});
    // Exactly once: every update applied, none twice.
    EXPECT_EQ(s.scalar("SELECT count(*) FROM applied"), p.scalar("SELECT sum(version) FROM acct"));
    EXPECT_EQ(s.scalar("SELECT count(*) FROM (SELECT 1 FROM applied GROUP BY acct_id, version HAVING count(*) > 1) d"),
              "0");
    EXPECT_EQ(status(s, "crash", "state"), "streaming");
}

TEST_F(SyncCrash, InitialCopyInterruptedByAKill9StartsOverCleanly)
{
    make_databases("copycrash");
    for (Cluster *cl : {&provider(), &subscriber()}) {
        auto c = cl->connect("copycrash");
        c.exec("CREATE TABLE small (id int PRIMARY KEY, v text);"
               "CREATE TABLE large (id int PRIMARY KEY, v text)");
    }
    auto p = provider().connect("copycrash");
    p.exec("INSERT INTO small SELECT g, md5(g::text) FROM generate_series(1, 1000) g;"
           "INSERT INTO large SELECT g, md5(g::text) FROM generate_series(1, 200000) g");
    {
        // A slow local table, so that the copy is still running when the
        // server dies (ALWAYS triggers fire for the apply worker's COPY).
        auto s = subscriber().connect("copycrash");
        s.exec("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "  IF NEW.id % 5000 = 0 THEN PERFORM pg_sleep(0.1); END IF; RETURN NEW; END $$;"
               "CREATE TRIGGER slow BEFORE INSERT ON large FOR EACH ROW EXECUTE FUNCTION slow();"
               "ALTER TABLE large ENABLE ALWAYS TRIGGER slow");
        create_subscription(s, "copycrash", provider().dsn("copycrash"), "{small,large}");
        ASSERT_TRUE(eventually(
            [&] {
                return status(s, "copycrash", "state") == "copying" &&
                       status(s, "copycrash", "copy_table") == "\"public\".\"large\"" &&
                       std::stol(status(s, "copycrash", "copy_rows")) > 10000;
            },
            60s, 20ms))
            << "never saw the copy of large in progress: " << status(s, "copycrash", "state");
        EXPECT_EQ(status(s, "copycrash", "copy_tables_total"), "2");
    }
    // Changed while the subscriber is down, so that the copy's new attempt
    // surely starts after the change (after the restart it could start first).
    subscriber().kill9();
    p.exec("UPDATE large SET v = 'changed after the crash' WHERE id % 1000 = 0; DELETE FROM small WHERE id <= 10");
    subscriber().start();

    auto s = subscriber().connect("copycrash");
    ASSERT_TRUE(wait_state(s, "copycrash", "streaming", 120s));
    ASSERT_TRUE(wait_caught_up(p, s, "copycrash", 60s));
    expect_same_tables(p, s, {"small", "large"});
    // The copy started over after the crash, in a new snapshot: it already
    // saw the ten deleted rows of small.
    EXPECT_EQ(s.scalar("SELECT string_agg(local_table || ' ' || rows_copied, ', ' ORDER BY local_table) "
                       "FROM pymigrate.subscription_table"),
              "large 200000, small 990");
    // The slot of the interrupted attempt was replaced, not left behind.
    EXPECT_EQ(p.scalar("SELECT string_agg(slot_name, ',') FROM pg_replication_slots WHERE database = 'copycrash'"),
              "pymigrate_copycrash");
}

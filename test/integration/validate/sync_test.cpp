// Validation of a live, really synced pair: the monolith streams to the
// service through a pymigrate subscription while a writer keeps changing
// rows. The re-check waits until the subscription has applied what the
// first snapshots saw (WAL positions, not lag seconds), so rows in flight
// are never reported, and a difference the sync cannot explain still is,
// from either side. A subscription that is not streaming does not hide
// drift; one that is behind leaves differences pending, with the reason,
// for pymigrate.recheck().
#include <chrono>
#include <thread>

#include "test/integration/sync/sync_helpers.hpp"
#include "test/integration/validate/writer_thread.hpp"

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using namespace std::chrono_literals;

namespace {

class ValidateWithSync : public SyncPair<ValidateWithSync> {
  protected:
    // Database `db` on both sides with table accounts (50,000 rows on the
    // monolith), subscribed by the service (subscription `db`: replication
    // origins are per server) and streaming.
    static void
    synced_accounts(const std::string &db)
    {
        make_databases(db);
        auto mono = provider().connect(db);
        auto svc = subscriber().connect(db);
        for (auto *c : {&mono, &svc})
            c->exec("CREATE TABLE accounts (id int PRIMARY KEY, balance numeric(12,2) NOT NULL, note text)");
        mono.exec("INSERT INTO accounts SELECT i, i * 1.5, 'n' || i FROM generate_series(1, 50000) i");
        create_subscription(svc, db, provider().dsn(db), "{public.accounts}");
        ASSERT_TRUE(wait_state(svc, db, "streaming"));
    }

    // (key, kind) of a run's discrepancies with `status`, in key order.
    static std::vector<std::pair<std::string, std::string>>
    discrepancies(pymigrate::pq::Connection &c, const std::string &run, const std::string &status)
    {
        auto r = c.exec("SELECT key::text, kind FROM pymigrate.discrepancy WHERE run_id = $1 AND status = $2 "
                        "ORDER BY key",
                        {run, status});
        std::vector<std::pair<std::string, std::string>> out;
        for (int i = 0; i < r.rows(); ++i)
            out.emplace_back(r.value(i, 0), r.value(i, 1));
        return out;
    }
};

// Keeps updating balances of the monolith's accounts (ids 100 to 49,120,
// 21 rows a transaction) until stopped.
class Writer : public WriterThread {
  public:
    Writer(Cluster &mono, const std::string &db)
    {
        start([this, &mono, db] {
            auto w = mono.connect(db);
            for (int i = 100; !stopping(); i = i % 49000 + 100) {
                w.exec("UPDATE accounts SET balance = balance + 1 WHERE id BETWEEN $1 AND $1 + 20",
                       {std::to_string(i)});
                i += 21;
                wrote();
            }
        });
    }
};

using Keys = std::vector<std::pair<std::string, std::string>>;

} // namespace

TEST_F(ValidateWithSync, RowsInFlightArePendingThenResolvedAndRealDifferencesAreConfirmed)
{
    ASSERT_NO_FATAL_FAILURE(synced_accounts("vs"));
    auto mono = provider().connect("vs");
    auto svc = subscriber().connect("vs");

    // A difference no sync explains: the service changed a row on its own.
    svc.exec("UPDATE accounts SET note = 'edited on the service only' WHERE id = 7");

    Writer writer(provider(), "vs");
    std::this_thread::sleep_for(300ms);

    // From the service: the local side is the subscriber. Whether rows are
    // in flight between the two snapshots is up to timing: validate until a
    // run has seen some (at most 5 runs); every run reports row 7 only.
    int in_flight = 0;
    for (int attempt = 0; attempt < 5 && in_flight == 0; ++attempt) {
        auto run = svc.scalar("SELECT pymigrate.validate(ARRAY['accounts'], $1)", {provider().dsn("vs")});
        ASSERT_TRUE(run);
        EXPECT_EQ(svc.scalar("SELECT options ->> 'recheck_delay_from' FROM pymigrate.validation_run WHERE id = $1",
                             {*run}),
                  "pymigrate.subscription_status");
        EXPECT_EQ(svc.scalar("SELECT options -> 'sync' -> 0 ->> 'subscription' FROM pymigrate.validation_run "
                             "WHERE id = $1",
                             {*run}),
                  "vs");
        EXPECT_EQ(discrepancies(svc, *run, "confirmed"), (Keys{{"[7]", "changed"}}))
            << "rows in flight were reported, or the real difference was missed";
        in_flight = std::stoi(*svc.scalar("SELECT count(*) FROM pymigrate.discrepancy WHERE run_id = $1", {*run})) - 1;
    }
    writer.stop();
    ASSERT_EQ(writer.error(), "");
    EXPECT_GT(writer.writes(), 0);
    EXPECT_GT(in_flight, 0) << "no row was in flight in 5 validations: the test proves nothing";

    // Once caught up, the only difference left is the service's own edit.
    ASSERT_TRUE(wait_caught_up(mono, svc, "vs"));
    auto last =
        svc.scalar("SELECT pymigrate.validate(ARRAY['accounts'], $1, recheck => false)", {provider().dsn("vs")});
    EXPECT_EQ(svc.scalar("SELECT count(*) FROM pymigrate.discrepancy WHERE run_id = $1", {*last}), "1");
}

// Changes made on the monolith in a replication-origin session are not
// forwarded (forward_origins 'none'): real drift, made while the writer runs,
// found from the monolith's side (the subscription is on the remote side).
TEST_F(ValidateWithSync, ADifferenceBypassingSyncIsFoundWhileTheWriterRuns)
{
    ASSERT_NO_FATAL_FAILURE(synced_accounts("vs_bypass"));
    auto mono = provider().connect("vs_bypass");
    auto svc = subscriber().connect("vs_bypass");

    Writer writer(provider(), "vs_bypass");
    std::this_thread::sleep_for(300ms);
    auto bypass = provider().connect("vs_bypass");
    bypass.exec("SELECT pg_replication_origin_create('bypass_sync')");
    bypass.exec("SELECT pg_replication_origin_session_setup('bypass_sync')");
    bypass.exec("UPDATE accounts SET note = 'not synced' WHERE id = 3");
    bypass.exec("DELETE FROM accounts WHERE id = 5");
    bypass.exec("INSERT INTO accounts VALUES (60001, 1, 'not synced')");

    auto run = mono.scalar("SELECT pymigrate.validate(ARRAY['accounts'], $1)", {subscriber().dsn("vs_bypass")});
    writer.stop();
    ASSERT_EQ(writer.error(), "");
    ASSERT_TRUE(run);
    EXPECT_EQ(mono.scalar("SELECT options -> 'sync' -> 0 ->> 'subscriber' FROM pymigrate.validation_run WHERE id = $1",
                          {*run}),
              "remote");
    Keys drift{{"[3]", "changed"}, {"[5]", "extra"}, {"[60001]", "missing"}};
    EXPECT_EQ(discrepancies(mono, *run, "confirmed"), drift)
        << "rows in flight were reported, or a real difference was missed";

    ASSERT_TRUE(wait_caught_up(mono, svc, "vs_bypass"));
    auto last = mono.scalar("SELECT pymigrate.validate(ARRAY['accounts'], $1)", {subscriber().dsn("vs_bypass")});
    EXPECT_EQ(discrepancies(mono, *last, "confirmed"), drift);
}

// A disabled subscription brings nothing more: the re-check does not wait for
// it, confirms what differs (drift while sync is down is real) and says so.
TEST_F(ValidateWithSync, DriftWhileSyncIsDisabledIsConfirmedAndTheRunSaysSyncWasNotStreaming)
{
    ASSERT_NO_FATAL_FAILURE(synced_accounts("vs_broken"));
    auto mono = provider().connect("vs_broken");
    auto svc = subscriber().connect("vs_broken");
    ASSERT_TRUE(wait_caught_up(mono, svc, "vs_broken"));
    svc.exec("SELECT pymigrate.disable_subscription('vs_broken')");
    ASSERT_TRUE(wait_state(svc, "vs_broken", "disabled"));
    {
        Writer writer(provider(), "vs_broken");
        std::this_thread::sleep_for(500ms);
        writer.stop();
        ASSERT_EQ(writer.error(), "");
        ASSERT_GT(writer.writes(), 0);
    }
    auto truth = svc.scalar("SELECT pymigrate.validate(ARRAY['accounts'], $1, recheck => false)",
                            {provider().dsn("vs_broken")});
    auto run = svc.scalar("SELECT pymigrate.validate(ARRAY['accounts'], $1, recheck_timeout => '20 s')",
                          {provider().dsn("vs_broken")});
    ASSERT_TRUE(truth && run);
    Keys drift = discrepancies(svc, *truth, "confirmed");
    EXPECT_GT(drift.size(), 0u);
    EXPECT_EQ(discrepancies(svc, *run, "confirmed"), drift);
    EXPECT_EQ(svc.scalar("SELECT options ->> 'sync_caught_up' FROM pymigrate.validation_run WHERE id = $1", {*run}),
              "false");
    EXPECT_EQ(svc.scalar("SELECT options -> 'sync' -> 0 ->> 'state' FROM pymigrate.validation_run WHERE id = $1",
                         {*run}),
              "disabled");
    // Not the 20 s timeout: a disabled subscription is not waited for.
    EXPECT_LT(std::stod(*svc.scalar(
                  "SELECT options ->> 'recheck_waited_seconds' FROM pymigrate.validation_run WHERE id = $1", {*run})),
              20.0);
    EXPECT_EQ(svc.scalar("SELECT count(*) FROM pymigrate.discrepancy WHERE run_id = $1 AND status = 'confirmed' "
                         "AND reason LIKE 'confirmed while sync was not streaming: vs_broken (on the local side, "
                         "disabled%'",
                         {*run}),
              std::to_string(drift.size()));
}

// A subscription stuck behind (its worker waits for a row lock on the
// service) cannot vouch for anything: differences stay pending with the
// reason, even the real one, and pymigrate.recheck() settles them once sync
// has caught up.
TEST_F(ValidateWithSync, DifferencesStayPendingWhileSyncIsBehindAndRecheckSettlesThemLater)
{
    ASSERT_NO_FATAL_FAILURE(synced_accounts("vs_behind"));
    auto mono = provider().connect("vs_behind");
    auto svc = subscriber().connect("vs_behind");
    svc.exec("UPDATE accounts SET note = 'edited on the service only' WHERE id = 7");
    auto locker = subscriber().connect("vs_behind");
    locker.exec("BEGIN");
    locker.exec("SELECT 1 FROM accounts WHERE id = 200 FOR UPDATE");
    mono.exec("UPDATE accounts SET note = 'blocked' WHERE id = 200");
    mono.exec("UPDATE accounts SET note = 'queued' WHERE id BETWEEN 300 AND 309");

    auto run = mono.scalar("SELECT pymigrate.validate(ARRAY['accounts'], $1, recheck_timeout => '1 s')",
                           {subscriber().dsn("vs_behind")});
    ASSERT_TRUE(run);
    EXPECT_EQ(discrepancies(mono, *run, "confirmed"), Keys{});
    EXPECT_EQ(discrepancies(mono, *run, "pending").size(), 12u);
    EXPECT_EQ(mono.scalar("SELECT count(*) FROM pymigrate.discrepancy WHERE run_id = $1 AND status = 'pending' AND "
                          "reason LIKE 'sync had not applied the other side''s changes within recheck_timeout: "
                          "vs_behind (on the remote side, %'",
                          {*run}),
              "12");
    EXPECT_EQ(mono.scalar("SELECT status FROM pymigrate.validation_run WHERE id = $1", {*run}), "pending");

    locker.exec("COMMIT");
    ASSERT_TRUE(wait_caught_up(mono, svc, "vs_behind"));
    EXPECT_EQ(mono.scalar("SELECT pymigrate.recheck($1, recheck_timeout => '30 s')", {*run}), "1");
    EXPECT_EQ(discrepancies(mono, *run, "confirmed"), (Keys{{"[7]", "changed"}}));
    EXPECT_EQ(mono.scalar("SELECT count(*) FROM pymigrate.discrepancy WHERE run_id = $1 AND status = 'resolved'",
                          {*run}),
              "11");
    EXPECT_EQ(mono.scalar("SELECT status FROM pymigrate.validation_run WHERE id = $1", {*run}), "inconsistent");
}

// Validation of a live, really synced pair: the monolith streams to the
// service through a pymigrate subscription while a writer keeps changing
// rows. The re-check delay comes from the subscription's own lag (the
// subscription_status view), rows in flight are never reported, and a
// difference the sync cannot explain still is.
#include <atomic>
#include <chrono>
#include <thread>

#include "test/integration/sync/sync_helpers.hpp"

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using namespace std::chrono_literals;

namespace {

class ValidateWithSync : public SyncPair<ValidateWithSync> {};

} // namespace

TEST_F(ValidateWithSync, RowsInFlightArePendingThenResolvedAndRealDifferencesAreConfirmed)
{
    make_databases("vs");
    auto mono = provider().connect("vs");
    auto svc = subscriber().connect("vs");
    for (auto *c : {&mono, &svc})
        c->exec("CREATE TABLE accounts (id int PRIMARY KEY, balance numeric(12,2) NOT NULL, note text)");
    mono.exec("INSERT INTO accounts SELECT i, i * 1.5, 'n' || i FROM generate_series(1, 50000) i");
    create_subscription(svc, "from_monolith", provider().dsn("vs"), "{public.accounts}");
    ASSERT_TRUE(wait_state(svc, "from_monolith", "streaming"));

    // A difference no sync explains: the service changed a row on its own.
    svc.exec("UPDATE accounts SET note = 'edited on the service only' WHERE id = 7");

    std::atomic<bool> stop{false};
    std::atomic<int> writes{0};
    std::string writer_error;
    std::thread writer([&] {
        try {
            auto w = provider().connect("vs");
            for (int i = 100; !stop; i = i % 49000 + 100) {
                w.exec("UPDATE accounts SET balance = balance + 1 WHERE id BETWEEN $1 AND $1 + 20",
                       {std::to_string(i)});
                i += 21;
                ++writes;
            }
        } catch (const std::exception &e) {
            writer_error = e.what();
        }
    });
    std::this_thread::sleep_for(300ms);

    // From the service: the local side is the subscriber, whose view
    // reports the lag used as the re-check delay.
    auto run = svc.scalar("SELECT pymigrate.validate(ARRAY['accounts'], $1)", {provider().dsn("vs")});
    stop = true;
    writer.join();
    ASSERT_EQ(writer_error, "");
    ASSERT_TRUE(run);
    EXPECT_GT(writes.load(), 0);
    EXPECT_EQ(svc.scalar("SELECT options ->> 'recheck_delay_from' FROM pymigrate.validation_run WHERE id = $1", {*run}),
              "pymigrate.subscription_status");
    auto r = svc.exec("SELECT key::text, kind FROM pymigrate.discrepancy WHERE run_id = $1 AND status = 'confirmed'",
                      {*run});
    ASSERT_EQ(r.rows(), 1) << "rows in flight were reported, or the real difference was missed";
    EXPECT_EQ(r.value(0, 0), "[7]");
    EXPECT_EQ(r.value(0, 1), "changed");

    // Once caught up, the only difference left is the service's own edit.
    ASSERT_TRUE(wait_caught_up(mono, svc, "from_monolith"));
    auto last = svc.scalar("SELECT pymigrate.validate(ARRAY['accounts'], $1, recheck => false)", {provider().dsn("vs")});
    EXPECT_EQ(svc.scalar("SELECT count(*) FROM pymigrate.discrepancy WHERE run_id = $1", {*last}), "1");
}

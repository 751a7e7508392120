// Rows handed over between the two sides under load, as a ramp does: both
// sides write all the time (pgbench), each its own keys, and groups of keys
// move from one side to the other and back. A hand-over waits until the
// new owner has the old owner's last writes (the router's drain), so the
// new owner's writes are causally after them: not one conflict, and with
// priority (the monolith first) both sides still end equal. Then the same
// with the subscriber killed (-9) during the hand-overs: still equal.
#include "test/integration/sync/pgbench_load.hpp"
#include "test/integration/sync/sync_bidir_fixture.hpp"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <thread>

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

class SyncHandOver : public BidirPair<SyncHandOver>
{
  protected:
    // Keys 1-100 are always the monolith's, 101-200 the service's; 201-300
    // (group M) and 301-400 (group N) move. ctl.turn (not replicated: not in
    // schema public) says which moving group a side writes now, if any.
    static void
    make_pair(const std::string &db, const std::string &options)
    {
        pair(db,
             "CREATE TABLE acct (id int PRIMARY KEY, n bigint NOT NULL, by text); "
             "CREATE SCHEMA ctl; CREATE TABLE ctl.turn (owns text NOT NULL); INSERT INTO ctl.turn VALUES ('')",
             "INSERT INTO acct SELECT g, 0, 'seed' FROM generate_series(1, 400) g", options);
        // The rows as a long-running monolith has them: frozen (a version
        // written here seconds ago, before the copy, would count as unseen:
        // the copy is no applied transaction with a marker).
        monolith().connect(db).exec("VACUUM (FREEZE) acct");
    }

    static std::string
    workload(const std::string &me)
    {
        return fmt::format(R"(\set k random(0, 99)
BEGIN;
UPDATE acct SET n = n + 1, by = '{me}' WHERE id = {base} + :k;
UPDATE acct SET n = n + 1, by = '{me}'
 WHERE id = (SELECT CASE owns WHEN 'M' THEN 201 WHEN 'N' THEN 301 END FROM ctl.turn) + :k;
END;
)",
                           fmt::arg("me", me), fmt::arg("base", me == "monolith" ? 1 : 101));
    }

    static void
    set_turn(Cluster &c, const std::string &db, const std::string &owns)
    {
        c.connect(db).exec("UPDATE ctl.turn SET owns = $1", {owns});
    }

    // `rounds` hand-overs of both moving groups while pgbench runs on both
    // sides; `between(round)` runs while both groups rest. Returns the loads
    // stopped.
    template <typename Between>
    static void
    hand_over(const std::string &db, int rounds, PgbenchLoad::OnFailure on_failure, Between between)
    {
        std::map<std::string, std::unique_ptr<PgbenchLoad>> load;
        load["monolith"] = std::make_unique<PgbenchLoad>(monolith().dsn(db), workload("monolith"), 2, 100, on_failure);
        load["service"] = std::make_unique<PgbenchLoad>(service().dsn(db), workload("service"), 2, 100, on_failure);
        for (int round = 0; round < rounds; ++round) {
            bool even = round % 2 == 0;
            set_turn(monolith(), db, even ? "M" : "N");
            set_turn(service(), db, even ? "N" : "M");
            std::this_thread::sleep_for(1500ms);
            // Drain: neither side writes a moving key until each has the
            // other's writes; the fixed keys keep changing meanwhile.
            set_turn(monolith(), db, "");
            set_turn(service(), db, "");
            std::this_thread::sleep_for(300ms); // transactions that read the old turn commit
            between(round);
            auto m = monolith().connect(db);
            auto s = service().connect(db);
            ASSERT_TRUE(settle(m, s, db)) << "round " << round;
        }
        for (auto &[side, l] : load) {
            int status = l->stop();
            if (on_failure == PgbenchLoad::OnFailure::Stop) {
                EXPECT_EQ(status, 0) << side << ":\n" << l->log();
            }
            EXPECT_GT(l->rounds_ok(), 0) << side << ":\n" << l->log();
        }
    }
};

TEST_F(SyncHandOver, KeysMovingBetweenSidesUnderLoadAreNoConflictsAndConverge)
{
    const std::string db = "ramp";
    make_pair(db, R"("strategy": "priority", "priority": ["monolith", "service"])");
    hand_over(db, 6, PgbenchLoad::OnFailure::Stop, [](int) {});
    auto m = monolith().connect(db);
    auto s = service().connect(db);
    ASSERT_TRUE(settle(m, s, db));
    EXPECT_EQ(checksum(s, "acct"), checksum(m, "acct"));
    // Both sides wrote the moving keys (the hand-overs happened).
    for (auto *c : {&m, &s})
        EXPECT_EQ(c->scalar("SELECT count(DISTINCT by) FROM acct WHERE id > 200"), "2");
    for (auto *c : {&m, &s})
        EXPECT_EQ(c->scalar("SELECT count(*) FROM pymigrate.conflict_log"), "0")
            << c->scalar(
                    "SELECT string_agg(kind || ' ' || (key->>'id'), ', ') FROM (SELECT * FROM pymigrate.conflict_log "
                    "ORDER BY id LIMIT 20) l")
                   .value_or("");
}

TEST_F(SyncHandOver, KeysMovingWhileTheSubscriberIsKilledStillConverge)
{
    const std::string db = "rampkill";
    make_pair(db, R"("strategy": "last_write_wins")");
    // The monolith (subscriber of the service's changes) is killed during
    // two of the drains, the service during one: changes and markers
    // in flight are replayed from the slots.
    hand_over(db, 6, PgbenchLoad::OnFailure::Retry, [&](int round) {
        if (round % 2 == 1)
            return;
        Cluster &victim = round == 2 ? service() : monolith();
        victim.kill9();
        victim.start();
    });
    auto m = monolith().connect(db);
    auto s = service().connect(db);
    ASSERT_TRUE(settle(m, s, db));
    EXPECT_EQ(checksum(s, "acct"), checksum(m, "acct"));
    EXPECT_EQ(status(m, db + "_from_service", "state"), "streaming");
    EXPECT_EQ(status(s, db + "_from_monolith", "state"), "streaming");
    // The fixed keys were never written on the other side: never a conflict.
    for (auto *c : {&m, &s})
        EXPECT_EQ(c->scalar("SELECT count(*) FROM pymigrate.conflict_log WHERE (key->>'id')::int <= 200"), "0");
}

// Crash safety in both directions: nodes a and b each subscribe to the
// other while pgbench writes on both sides; each side in turn is killed
// with SIGKILL (postmaster and all its children) a few times and restarted.
// After the load stops: no change lost, none applied twice, both sides hold
// the same rows, and both workers still apply new changes.
//
// The workload makes each kind of failure visible:
//   journal   append-only, ids unique per side (odd on a, even on b): a lost
//             row shows in the checksums; an ALWAYS trigger on the receiving
//             side records every journal row applied from the other node in
//             a local table, applied_journal, in the same transaction: a row
//             applied twice is recorded twice, or meets its own key (an
//             insert_exists conflict; there must be none).
//   counters  one row per (node, k), incremented only by its own node (no
//             conflicts): its n equals the number of journal rows of that
//             node and k on both sides; the receiving side records each
//             applied (node, k, n) in applied_counters, and must hold one
//             record per increment, no duplicates.
//   shared    20 rows both sides update all the time: conflicts, resolved by
//             last_write_wins; both sides must end with the same rows.
#include "test/integration/sync/pgbench_load.hpp"
#include "test/integration/sync/sync_helpers.hpp"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <random>
#include <thread>

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

namespace
{

const std::vector<std::string> kTables = {"journal", "counters", "shared"};
constexpr int kCounterKeys = 100;
constexpr int kSharedKeys = 20;

} // namespace

// SyncPair's provider is node a, its subscriber node b: each is both here.
template <typename Derived> class BidirCrash : public SyncPair<Derived>
{
  public:
    static ClusterOptions
    options(int i)
    {
        return sync_cluster(i == 0 ? "a" : "b");
    }

  protected:
    using Base = SyncPair<Derived>;

    static Cluster &
    node(const std::string &n)
    {
        return n == "a" ? Base::provider() : Base::subscriber();
    }
    static std::string
    other(const std::string &n)
    {
        return n == "a" ? "b" : "a";
    }
    static std::string
    sub(const std::string &n) // the subscription on node n
    {
        return "from_" + other(n);
    }

    // Tables, the same rows on both sides, the receiving side's records.
    static void
    make_tables(const std::string &n, const std::string &db)
    {
        auto c = node(n).connect(db);
        c.exec(fmt::format(
            R"(CREATE SEQUENCE journal_id_seq START {start} INCREMENT 2;
            CREATE TABLE journal (id bigint PRIMARY KEY DEFAULT nextval('journal_id_seq'), node text NOT NULL,
                                  k int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
            CREATE TABLE counters (node text, k int, n bigint NOT NULL, PRIMARY KEY (node, k));
            INSERT INTO counters SELECT x, g, 0 FROM unnest('{{a,b}}'::text[]) x, generate_series(1, {counters}) g;
            CREATE TABLE shared (k int PRIMARY KEY, v bigint NOT NULL, node text, at timestamptz);
            INSERT INTO shared SELECT g, 0, NULL, NULL FROM generate_series(1, {shared}) g;
            -- Not replicated: what this side applied from the other.
            CREATE TABLE applied_journal (id bigint NOT NULL);
            CREATE TABLE applied_counters (node text NOT NULL, k int NOT NULL, n bigint NOT NULL);
            CREATE FUNCTION record_journal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
              IF NEW.node <> '{node}' THEN INSERT INTO applied_journal VALUES (NEW.id); END IF; RETURN NULL; END $$;
            CREATE TRIGGER record_journal AFTER INSERT ON journal FOR EACH ROW EXECUTE FUNCTION record_journal();
            ALTER TABLE journal ENABLE ALWAYS TRIGGER record_journal;
            CREATE FUNCTION record_counter() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
              IF NEW.node <> '{node}' THEN INSERT INTO applied_counters VALUES (NEW.node, NEW.k, NEW.n); END IF;
              RETURN NULL; END $$;
            CREATE TRIGGER record_counter AFTER UPDATE ON counters FOR EACH ROW EXECUTE FUNCTION record_counter();
            ALTER TABLE counters ENABLE ALWAYS TRIGGER record_counter)",
            fmt::arg("start", n == "a" ? 1 : 2), fmt::arg("counters", kCounterKeys), fmt::arg("shared", kSharedKeys),
            fmt::arg("node", n)));
    }

    static std::string
    workload(const std::string &n)
    {
        return fmt::format(R"(\set k random(1, {counters})
\set s random(1, {shared})
BEGIN;
INSERT INTO journal (node, k) VALUES ('{node}', :k);
UPDATE counters SET n = n + 1 WHERE node = '{node}' AND k = :k;
UPDATE shared SET v = v + 1, node = '{node}', at = clock_timestamp() WHERE k = :s;
END;
)",
                           fmt::arg("counters", kCounterKeys), fmt::arg("shared", kSharedKeys), fmt::arg("node", n));
    }

    static std::string
    sub_status(const std::string &n, const std::string &db, const std::string &column)
    {
        auto c = node(n).connect(db);
        return status(c, sub(n), column);
    }

    static long
    journal_rows(const std::string &on, const std::string &of, const std::string &db)
    {
        return std::stol(node(on).connect(db).scalar("SELECT count(*) FROM journal WHERE node = $1", {of}).value());
    }

    // A row committed on `from` reaches the other side within `timeout`:
    // everything `from` committed before has been applied there.
    static ::testing::AssertionResult
    passes_through(const std::string &from, const std::string &db, std::chrono::milliseconds timeout)
    {
        auto id = node(from).connect(db).scalar("INSERT INTO journal (node, k) VALUES ($1, 0) RETURNING id", {from});
        auto to = node(other(from)).connect(db);
        if (eventually([&] { return to.scalar("SELECT count(*) FROM journal WHERE id = $1", {*id}) == "1"; }, timeout,
                       50ms))
            return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure()
               << "a row committed on " << from << " did not reach " << other(from) << " within " << timeout.count()
               << " ms: subscription " << sub(other(from)) << " state " << status(to, sub(other(from)), "state")
               << ", last_error " << status(to, sub(other(from)), "last_error");
    }

    // The test, with b reading a's changes by `b_reads_a_by` (logical or
    // trigger capture); a always reads b's by logical decoding.
    static void run(const std::string &db, const std::string &b_reads_a_by);
};

template <typename Derived>
void
BidirCrash<Derived>::run(const std::string &db, const std::string &b_reads_a_by)
{
    Base::make_databases(db);
    for (std::string n : {"a", "b"})
        make_tables(n, db);
    for (std::string n : {"a", "b"}) {
        auto c = node(n).connect(db);
        std::string capture = n == "b" ? b_reads_a_by : "logical";
        create_subscription(c, sub(n), node(other(n)).dsn(db), "{journal,counters,shared}",
                            "copy_data => false, options => '{\"local_node\": \"" + n + "\", \"remote_node\": \"" +
                                other(n) + "\", \"strategy\": \"last_write_wins\", \"capture\": \"" + capture + "\"}'");
    }
    for (std::string n : {"a", "b"}) {
        auto c = node(n).connect(db);
        ASSERT_TRUE(wait_state(c, sub(n), "streaming"));
        EXPECT_EQ(status(c, sub(n), "capture"), n == "b" ? b_reads_a_by : "logical");
    }

    std::map<std::string, std::unique_ptr<PgbenchLoad>> load;
    for (std::string n : {"a", "b"})
        load[n] = std::make_unique<PgbenchLoad>(node(n).dsn(db), workload(n), 2, 300, PgbenchLoad::OnFailure::Retry);

    // Three kills of each side, alternating, each at a random moment once
    // both sides have written and received more since the previous one.
    std::mt19937 rng(20261125);
    std::uniform_int_distribution<int> pause_ms(200, 1000);
    for (int round = 0; round < 6; ++round) {
        std::string victim = round % 2 == 0 ? "a" : "b";
        for (std::string n : {"a", "b"}) {
            long before = journal_rows(other(n), n, db);
            ASSERT_TRUE(eventually([&] { return journal_rows(other(n), n, db) >= before + 200; }, 120s, 100ms))
                << "round " << round << ": no rows of " << n << " arrive on " << other(n) << "; pgbench on " << n
                << ":\n"
                << load[n]->log() << "\nlast error of " << sub(other(n)) << ": "
                << sub_status(other(n), db, "last_error");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
        node(victim).kill9();
        node(victim).start();
    }
    // Each side's load completes a round after the last crash, then stops.
    for (std::string n : {"a", "b"}) {
        int ok = load[n]->rounds_ok();
        EXPECT_TRUE(eventually([&] { return load[n]->rounds_ok() > ok; }, 120s, 100ms)) << load[n]->log();
    }
    for (std::string n : {"a", "b"})
        load[n]->stop();

    // Quiesce: a row from each side reaches the other (both workers apply
    // again after the crashes, everything before has been applied).
    for (std::string n : {"a", "b"})
        ASSERT_TRUE(passes_through(n, db, 120s));

    auto a = node("a").connect(db), b = node("b").connect(db);
    expect_same_tables(a, b, kTables);
    for (std::string n : {"a", "b"}) {
        auto c = node(n).connect(db);
        std::string from = other(n);
        SCOPED_TRACE("on " + n + ", changes of " + from);
        // Every counter increment matches a journal row, here too.
        EXPECT_EQ(c.scalar("SELECT count(*) FROM counters c WHERE n <> (SELECT count(*) FROM journal j "
                           "WHERE j.node = c.node AND j.k = c.k)"),
                  "0");
        // Each of the other side's journal rows and increments applied once.
        EXPECT_EQ(c.scalar("SELECT count(*) FROM applied_journal"),
                  c.scalar("SELECT count(*) FROM journal WHERE node = $1", {from}));
        EXPECT_EQ(c.scalar("SELECT count(*) FROM (SELECT id FROM applied_journal GROUP BY id HAVING count(*) > 1) d"),
                  "0");
        EXPECT_EQ(c.scalar("SELECT count(*) FROM applied_counters"),
                  c.scalar("SELECT sum(n) FROM counters WHERE node = $1", {from}));
        EXPECT_EQ(c.scalar("SELECT count(*) FROM (SELECT 1 FROM applied_counters GROUP BY node, k, n "
                           "HAVING count(*) > 1) d"),
                  "0");
        // A journal row delivered twice would meet its own key.
        EXPECT_EQ(c.scalar("SELECT string_agg(DISTINCT table_name || ' ' || kind, ', ') FROM pymigrate.conflict_log "
                           "WHERE table_name = 'public.journal' OR kind = 'insert_exists'"),
                  std::nullopt);
        EXPECT_EQ(status(c, sub(n), "state"), "streaming");
    }
    // No loop: once quiet, neither worker applies anything any more.
    auto applied = [&] {
        return sub_status("a", db, "changes_applied") + "/" + sub_status("b", db, "changes_applied");
    };
    std::string quiet = applied();
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(applied(), quiet);
    expect_same_tables(a, b, kTables);
}

class SyncBidirCrash : public BidirCrash<SyncBidirCrash>
{
};

TEST_F(SyncBidirCrash, Kill9OfEitherSideDuringABidirectionalWorkloadLosesAndRepeatsNothing)
{
    run("bidircrash", "logical");
}

// Node a without logical decoding (wal_level replica): b reads it by
// trigger capture, a reads b by logical decoding.
class SyncBidirCrashTrigger : public BidirCrash<SyncBidirCrashTrigger>
{
  public:
    static ClusterOptions
    options(int i)
    {
        return i == 0 ? without_logical_decoding(BidirCrash::options(i)) : BidirCrash::options(i);
    }
};

TEST_F(SyncBidirCrashTrigger, Kill9OfEitherSideWithTriggerCaptureOneWayLosesAndRepeatsNothing)
{
    run("trigcrash", "trigger");
}

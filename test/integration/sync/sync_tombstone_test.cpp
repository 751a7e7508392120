// Tombstones on live clusters (README "Both directions and conflicts"): a
// delete is a write like the others. While a key is absent, the tombstone
// of this node's delete is its version of the key, and a concurrent remote
// change is weighed against it by the strategy, as the remote delete is
// weighed against the row on the other side; so both sides keep the same
// winner, also when a key is deleted and inserted again on one side while
// the other side changes or deletes it (without tombstones such orders
// ended with different rows on the two sides). Also: the tombstones
// themselves (recorded for an application role without rights on schema
// pymigrate, trimmed once the other side has applied later traffic), and
// the seen set kept across a restart of an apply worker.
//
// The orders are made deterministic as in sync_bidir_test.cpp: both
// directions are paused, each side writes (20 ms apart, so that commit
// times are in the order written), then one direction is applied
// completely before the other starts.
#include "test/integration/sync/sync_bidir_fixture.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

namespace
{

enum class First { MonolithToService, ServiceToMonolith };

const char *
name_of(First f)
{
    return f == First::MonolithToService ? "monolith->service applied first" : "service->monolith applied first";
}

// One write of a scenario, on the monolith ('m') or the service ('s'): an
// update writes '<side> update', an insert '<side> reinserted'.
enum class Op { Update, Delete, Insert };
struct Step {
    char side;
    Op op;
};

// A scenario on one key: the writes in commit order, what both sides must
// end with ("(no row)": the key absent on both), and the conflicts each
// side logs for the key (kind:outcome, in order; "-": none).
struct Scenario {
    std::string name;
    std::vector<Step> steps;
    std::string ends;
    std::string monolith_log;
    std::string service_log;
};

// The lines of `c`'s log that contain one of `words` (for failure messages).
std::string
log_lines(const Cluster &c, const std::vector<std::string> &words)
{
    std::ifstream in(c.log_file());
    std::string out, line;
    while (std::getline(in, line))
        for (const auto &w : words)
            if (line.find(w) != std::string::npos) {
                out += line + "\n";
                break;
            }
    return out;
}

} // namespace

class SyncTombstone : public BidirPair<SyncTombstone>
{
  protected:
    static constexpr const char *kTableDdl = "CREATE TABLE u (id int PRIMARY KEY, v text)";
    static constexpr const char *kSeed = "INSERT INTO u SELECT g, 'seed' FROM generate_series(1, 40) g";

    // Resumes both directions after pause(): `first` applies everything
    // before the other direction starts.
    static void
    resume_in_order(Connection &m, Connection &s, const std::string &db, First first)
    {
        if (first == First::MonolithToService) {
            resume(s, db + "_from_monolith");
            ASSERT_TRUE(wait_caught_up(m, s, db + "_from_monolith"));
            resume(m, db + "_from_service");
        } else {
            resume(m, db + "_from_service");
            ASSERT_TRUE(wait_caught_up(s, m, db + "_from_service"));
            resume(s, db + "_from_monolith");
        }
        ASSERT_TRUE(settle(m, s, db));
    }

    // Deletes row `id` of `table` in a transaction of its own; returns that
    // transaction's id.
    static std::string
    delete_row(Connection &c, const std::string &table, int id)
    {
        auto r = c.exec("WITH d AS (DELETE FROM " + table +
                            " WHERE id = $1 RETURNING id) SELECT pg_current_xact_id()::text, count(*) FROM d",
                        {std::to_string(id)});
        EXPECT_EQ(r.value(0, 1), "1") << "row " << id << " of " << table << " was not there to delete";
        return std::string(r.value(0, 0));
    }

    // Runs `steps` on row `id` of `table`, 20 ms apart. Returns the ids of
    // the deleting transactions per side.
    static std::map<char, std::string>
    run_steps(Connection &m, Connection &s, const std::string &table, int id, const std::vector<Step> &steps)
    {
        std::map<char, std::string> deleted_by;
        for (const auto &st : steps) {
            Connection &c = st.side == 'm' ? m : s;
            std::string who = st.side == 'm' ? "monolith" : "service";
            switch (st.op) {
            case Op::Update:
                c.exec("UPDATE " + table + " SET v = $2 WHERE id = $1", {std::to_string(id), who + " update"});
                break;
            case Op::Delete:
                deleted_by[st.side] = delete_row(c, table, id);
                break;
            case Op::Insert:
                c.exec("INSERT INTO " + table + " (id, v) VALUES ($1, $2)", {std::to_string(id), who + " reinserted"});
                break;
            }
            std::this_thread::sleep_for(20ms);
        }
        return deleted_by;
    }

    static std::string
    row(Connection &c, const std::string &sql, const std::vector<pymigrate::pq::Param> &params = {})
    {
        return c.scalar(sql, params).value_or("(no row)");
    }

    // The conflicts logged on `c` for row `id` of `table` (schema-qualified,
    // as the log has it), in order: kind:outcome.
    static std::string
    conflicts(Connection &c, const std::string &table, int id)
    {
        return row(c,
                   "SELECT coalesce(string_agg(kind || ':' || outcome, ',' ORDER BY id), '-') FROM "
                   "pymigrate.conflict_log WHERE table_name = $1 AND key->>'id' = $2",
                   {table, std::to_string(id)});
    }

    // A *_deleted conflict on `c` for row `id` names our delete as the
    // local version: no local row, the deleting transaction's commit time,
    // this node.
    static void
    expect_deleted_version(Connection &c, const std::string &table, int id, const std::string &xid,
                           const std::string &node)
    {
        EXPECT_EQ(row(c,
                      "SELECT string_agg(format('%s %s %s %s', kind, local_row IS NULL, local_commit_ts = "
                      "pg_xact_commit_timestamp($3::xid8::text::xid), local_node), ',') FROM pymigrate.conflict_log "
                      "WHERE table_name = $1 AND key->>'id' = $2 AND kind LIKE '%deleted'",
                      {table, std::to_string(id), xid}),
                  row(c,
                      "SELECT string_agg(kind || ' t t ' || $3, ',') FROM pymigrate.conflict_log WHERE "
                      "table_name = $1 AND key->>'id' = $2 AND kind LIKE '%deleted'",
                      {table, std::to_string(id), node}))
            << "key " << id;
    }

    // Runs `scenarios` on keys 1.. (monolith->service first) and 21..
    // (service->monolith first) of table u in database `db`, and checks
    // what both sides end with, the conflicts each logs, and the tombstones.
    static void
    run_scenarios(const std::string &db, const std::vector<Scenario> &scenarios)
    {
        pair(db, kTableDdl, kSeed);
        auto m = monolith().connect(db);
        auto s = service().connect(db);
        ASSERT_TRUE(settle(m, s, db));
        for (First first : {First::MonolithToService, First::ServiceToMonolith}) {
            SCOPED_TRACE(name_of(first));
            int base = first == First::MonolithToService ? 0 : 20;
            pause(m, s, db);
            std::vector<std::map<char, std::string>> xids;
            for (size_t i = 0; i < scenarios.size(); ++i)
                xids.push_back(run_steps(m, s, "u", base + 1 + static_cast<int>(i), scenarios[i].steps));
            resume_in_order(m, s, db, first);
            for (size_t i = 0; i < scenarios.size(); ++i) {
                const Scenario &sc = scenarios[i];
                SCOPED_TRACE(sc.name);
                int id = base + 1 + static_cast<int>(i);
                for (auto *c : {&m, &s})
                    EXPECT_EQ(row(*c, "SELECT v FROM u WHERE id = " + std::to_string(id)), sc.ends)
                        << (c == &m ? "on the monolith" : "on the service");
                EXPECT_EQ(conflicts(m, "public.u", id), sc.monolith_log);
                EXPECT_EQ(conflicts(s, "public.u", id), sc.service_log);
                if (xids[i].count('m'))
                    expect_deleted_version(m, "public.u", id, xids[i]['m'], "monolith");
                if (xids[i].count('s'))
                    expect_deleted_version(s, "public.u", id, xids[i]['s'], "service");
                // Each side's tombstone names its own delete (kept until
                // trimmed); deletes applied by sync record none.
                for (auto [side, c] : {std::pair<char, Connection *>{'m', &m}, {'s', &s}})
                    EXPECT_EQ(row(*c,
                                  "SELECT xid::text FROM pymigrate.tombstone WHERE relid = 'u'::regclass AND "
                                  "key = pymigrate.tombstone_key('u', ARRAY[$1])",
                                  {std::to_string(id)}),
                              xids[i].count(side) ? xids[i][side] : "(no row)")
                        << (side == 'm' ? "on the monolith" : "on the service");
            }
            EXPECT_EQ(checksum(s, "u"), checksum(m, "u"));
        }
        EXPECT_EQ(status(s, db + "_from_monolith", "state"), "streaming");
        EXPECT_EQ(status(m, db + "_from_service", "state"), "streaming");
    }
};

// The monolith deletes a key and inserts it again; the service updates the
// old row before the delete (a), between the delete and the insert (b), or
// after the insert (c). The latest write wins on both sides. (c) used to
// end different: the monolith took the service's later update, the service
// applied the delete (a delete won over any update) and then the insert.
TEST_F(SyncTombstone, LastWriteWinsAKeyDeletedAndInsertedAgainWhileTheOtherSideUpdatesIt)
{
    const std::vector<Scenario> scenarios = {
        {"(a) service update before the delete",
         {{'s', Op::Update}, {'m', Op::Delete}, {'m', Op::Insert}},
         "monolith reinserted",
         "update_origin_differs:keep_local",
         "delete_origin_differs:apply_remote"},
        {"(b) service update between delete and insert",
         {{'m', Op::Delete}, {'s', Op::Update}, {'m', Op::Insert}},
         "monolith reinserted",
         "update_origin_differs:keep_local",
         "delete_origin_differs:keep_local,insert_exists:apply_remote"},
        {"(c) service update after the insert",
         {{'m', Op::Delete}, {'m', Op::Insert}, {'s', Op::Update}},
         "service update",
         "update_origin_differs:apply_remote",
         "delete_origin_differs:keep_local,insert_exists:keep_local"},
        // Without the insert: the monolith's tombstone meets the update.
        {"(d) service update after a delete, no insert",
         {{'m', Op::Delete}, {'s', Op::Update}},
         "service update",
         "update_deleted:inserted",
         "delete_origin_differs:keep_local"},
        {"(e) service update before a delete, no insert",
         {{'s', Op::Update}, {'m', Op::Delete}},
         "(no row)",
         "update_deleted:skipped",
         "delete_origin_differs:apply_remote"},
    };
    run_scenarios("lwwupd", scenarios);
}

// The mirror case: the service deletes a key and inserts it again while
// the monolith deletes the old row (before, between, after). The
// monolith's tombstone meets the service's insert (insert_deleted); the
// service's row meets the monolith's delete. (a) and (b) used to end with
// the row on the monolith only (a delete won over the service's row).
TEST_F(SyncTombstone, LastWriteWinsAKeyDeletedAndInsertedAgainWhileTheOtherSideDeletesIt)
{
    const std::vector<Scenario> scenarios = {
        {"(a) monolith delete before the service's",
         {{'m', Op::Delete}, {'s', Op::Delete}, {'s', Op::Insert}},
         "service reinserted",
         "delete_missing:skipped,insert_deleted:inserted",
         "delete_origin_differs:keep_local"},
        {"(b) monolith delete between delete and insert",
         {{'s', Op::Delete}, {'m', Op::Delete}, {'s', Op::Insert}},
         "service reinserted",
         "delete_missing:skipped,insert_deleted:inserted",
         "delete_origin_differs:keep_local"},
        {"(c) monolith delete after the insert",
         {{'s', Op::Delete}, {'s', Op::Insert}, {'m', Op::Delete}},
         "(no row)",
         "delete_missing:skipped,insert_deleted:skipped",
         "delete_origin_differs:apply_remote"},
    };
    run_scenarios("lwwdel", scenarios);
}

// Both sides delete the key and insert it again: the later insert wins, on
// both sides, whatever the order of the four writes.
TEST_F(SyncTombstone, LastWriteWinsBothSidesDeleteAndInsertAgainTheLaterInsertWins)
{
    const std::vector<Scenario> scenarios = {
        {"monolith's pair, then the service's",
         {{'m', Op::Delete}, {'m', Op::Insert}, {'s', Op::Delete}, {'s', Op::Insert}},
         "service reinserted",
         "delete_origin_differs:apply_remote,insert_deleted:inserted",
         "delete_origin_differs:keep_local,insert_exists:keep_local"},
        {"service's pair, then the monolith's",
         {{'s', Op::Delete}, {'s', Op::Insert}, {'m', Op::Delete}, {'m', Op::Insert}},
         "monolith reinserted",
         "delete_origin_differs:keep_local,insert_exists:keep_local",
         "delete_origin_differs:apply_remote,insert_deleted:inserted"},
        {"interleaved, the monolith inserts last",
         {{'m', Op::Delete}, {'s', Op::Delete}, {'s', Op::Insert}, {'m', Op::Insert}},
         "monolith reinserted",
         "delete_origin_differs:keep_local,insert_exists:keep_local",
         "delete_origin_differs:keep_local,insert_exists:apply_remote"},
        {"interleaved, the service inserts last",
         {{'s', Op::Delete}, {'m', Op::Delete}, {'m', Op::Insert}, {'s', Op::Insert}},
         "service reinserted",
         "delete_origin_differs:keep_local,insert_exists:apply_remote",
         "delete_origin_differs:keep_local,insert_exists:keep_local"},
    };
    run_scenarios("lwwboth", scenarios);
}

// The scenarios of the first two tests under other strategies (each table
// its own), in both arrival orders: both sides must end equal. Prints what
// each ends with. `expected` per table and scenario ("": only equal).
namespace
{

// Keys 1-3: the monolith deletes and inserts again, the service updates
// (before, between, after); keys 4-6: the service deletes and inserts
// again, the monolith deletes (before, between, after).
const std::vector<std::vector<Step>> kStrategyScenarios = {
    {{'s', Op::Update}, {'m', Op::Delete}, {'m', Op::Insert}},
    {{'m', Op::Delete}, {'s', Op::Update}, {'m', Op::Insert}},
    {{'m', Op::Delete}, {'m', Op::Insert}, {'s', Op::Update}},
    {{'m', Op::Delete}, {'s', Op::Delete}, {'s', Op::Insert}},
    {{'s', Op::Delete}, {'m', Op::Delete}, {'s', Op::Insert}},
    {{'s', Op::Delete}, {'s', Op::Insert}, {'m', Op::Delete}},
};

} // namespace

class SyncTombstoneStrategies : public SyncTombstone
{
  protected:
    static void
    run_strategies(const std::string &db, const std::string &ddl, const std::string &table_options,
                   const std::map<std::string, std::vector<std::string>> &expected)
    {
        std::string seed;
        for (const auto &[table, ends] : expected)
            seed += "INSERT INTO " + table + " SELECT g, 'seed' FROM generate_series(1, 40) g;";
        pair(db, ddl, seed, "", table_options);
        auto m = monolith().connect(db);
        auto s = service().connect(db);
        ASSERT_TRUE(settle(m, s, db));
        for (First first : {First::MonolithToService, First::ServiceToMonolith}) {
            SCOPED_TRACE(name_of(first));
            int base = first == First::MonolithToService ? 0 : 20;
            pause(m, s, db);
            for (const auto &[table, ends] : expected)
                for (size_t i = 0; i < kStrategyScenarios.size(); ++i)
                    (void)run_steps(m, s, table, base + 1 + static_cast<int>(i), kStrategyScenarios[i]);
            resume_in_order(m, s, db, first);
            for (const auto &[table, ends] : expected) {
                SCOPED_TRACE(table);
                for (size_t i = 0; i < kStrategyScenarios.size(); ++i) {
                    int id = base + 1 + static_cast<int>(i);
                    std::string sql = "SELECT v FROM " + table + " WHERE id = " + std::to_string(id);
                    std::string on_m = row(m, sql), on_s = row(s, sql);
                    std::cout << "[ ends     ] " << table << ", " << name_of(first) << ", key " << id << ": monolith '"
                              << on_m << "', service '" << on_s << "'; conflicts on the monolith "
                              << conflicts(m, "public." + table, id) << ", on the service "
                              << conflicts(s, "public." + table, id) << "\n";
                    EXPECT_EQ(on_m, on_s) << "key " << id << " differs";
                    if (!ends[i].empty()) {
                        EXPECT_EQ(on_m, ends[i]) << "key " << id << " on the monolith";
                    }
                }
                EXPECT_EQ(checksum(s, table), checksum(m, table));
            }
        }
    }
};

// Under priority the ranked node's write wins: its update over the other's
// row, its delete over the other's row, its row over the other's delete.
TEST_F(SyncTombstoneStrategies, PriorityConvergesWhenAKeyIsDeletedAndInsertedAgain)
{
    run_strategies(
        "prio",
        "CREATE TABLE prio_ms (id int PRIMARY KEY, v text); "
        "CREATE TABLE prio_sm (id int PRIMARY KEY, v text)",
        R"({"prio_ms": {"strategy": "priority", "priority": ["monolith", "service"]},
                       "prio_sm": {"strategy": "priority", "priority": ["service", "monolith"]}})",
        {{"prio_ms",
          {"monolith reinserted", "monolith reinserted", "monolith reinserted", "(no row)", "(no row)", "(no row)"}},
         {"prio_sm",
          {"service update", "service update", "service update", "service reinserted", "service reinserted",
           "service reinserted"}}});
}

// A resolver that takes the service's row decides row against row; a delete
// against a row, or a row against our delete, goes by time (as under
// last_write_wins). Key 1 (the service's update, then the monolith's
// delete and insert): the monolith weighs the update against its new row
// (the resolver: the update wins), the service weighs the delete against
// its updated row (by time: the delete wins) and then takes the insert.
TEST_F(SyncTombstoneStrategies, CustomResolverConvergesWhenAKeyIsDeletedAndInsertedAgain)
{
    run_strategies(
        "cust",
        R"SQL(
CREATE TABLE cust (id int PRIMARY KEY, v text);
CREATE FUNCTION service_wins(tbl regclass, local jsonb, remote jsonb, info jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT CASE WHEN info->>'remote_node' = 'service' THEN remote ELSE local END $$;
)SQL",
        R"({"cust": {"strategy": "custom", "resolver": "service_wins"}})",
        {{"cust", {"", "service update", "service update", "service reinserted", "service reinserted", "(no row)"}}});
}

// The tombstone trigger writes as the tombstone table's owner: a role with
// rights on its own table only can delete, its deletes are recorded and
// replicated, and it can neither read nor write the tombstones itself.
TEST_F(SyncTombstone, AnApplicationRoleWithoutRightsOnPymigrateDeletesAndItsDeletesAreRecorded)
{
    const std::string db = "approle";
    pair(db, "CREATE TABLE u (id int PRIMARY KEY, v text)",
         "INSERT INTO u SELECT g, 'seed' FROM generate_series(1, 5) g");
    auto m = monolith().connect(db);
    auto s = service().connect(db);
    m.exec("CREATE ROLE app LOGIN");
    m.exec("GRANT USAGE ON SCHEMA public TO app");
    m.exec("GRANT SELECT, INSERT, UPDATE, DELETE ON u TO app");
    Connection app(monolith().dsn(db) + " user=app");
    EXPECT_EQ(row(app, "SELECT current_user || ' ' || (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"),
              "app false");

    app.exec("DELETE FROM u WHERE id IN (1, 2)");
    app.exec("BEGIN; DELETE FROM u WHERE id = 3; INSERT INTO u VALUES (3, 'app reinserted'); COMMIT");
    app.exec("UPDATE u SET v = 'app update' WHERE id = 4");
    EXPECT_EQ(row(m, "SELECT string_agg(key::text, ',' ORDER BY key) FROM pymigrate.tombstone WHERE relid = "
                     "'u'::regclass"),
              row(m, "SELECT string_agg(pymigrate.tombstone_key('u', ARRAY[k])::text, ',' ORDER BY "
                     "pymigrate.tombstone_key('u', ARRAY[k])) FROM unnest('{1,2,3}'::text[]) k"));
    EXPECT_EQ(row(m, "SELECT count(*) FROM pymigrate.tombstone"), "3");
    ASSERT_TRUE(settle(m, s, db));
    for (auto *c : {&m, &s})
        EXPECT_EQ(row(*c, "SELECT string_agg(id || ' ' || v, ', ' ORDER BY id) FROM u"),
                  "3 app reinserted, 4 app update, 5 seed");
    EXPECT_EQ(checksum(s, "u"), checksum(m, "u"));

    expect_sql_error(app, "SELECT count(*) FROM pymigrate.tombstone", {}, "42501",
                     "permission denied for table tombstone");
    expect_sql_error(app, "INSERT INTO pymigrate.tombstone (relid, key, xid) VALUES ('u'::regclass, '\\x00', '1')", {},
                     "42501", "permission denied for table tombstone");
    EXPECT_EQ(row(m, "SELECT count(*) FROM pymigrate.tombstone"), "3");
}

// A tombstone is kept while the other side may still send a change made
// before it had applied the delete, and trimmed (manager task, every 10 s)
// once a SEEN of a transaction of ours 10 s newer than the delete has come
// back.
TEST_F(SyncTombstone, ATombstoneIsKeptUntilTheOtherSideHasAppliedLaterTrafficThenTrimmed)
{
    const std::string db = "trim";
    pair(db, "CREATE TABLE u (id int PRIMARY KEY, v text)",
         "INSERT INTO u SELECT g, 'seed' FROM generate_series(1, 5) g");
    auto m = monolith().connect(db);
    auto s = service().connect(db);
    ASSERT_TRUE(settle(m, s, db));
    std::string xid = delete_row(m, "u", 1);
    ASSERT_TRUE(settle(m, s, db));
    EXPECT_EQ(row(s, "SELECT count(*) FROM u WHERE id = 1"), "0");
    const std::string tombstone = "SELECT xid::text FROM pymigrate.tombstone WHERE relid = 'u'::regclass AND "
                                  "key = pymigrate.tombstone_key('u', '{1}')";
    EXPECT_EQ(row(m, tombstone), xid);
    // No newer traffic: the delete's own SEEN is not enough, the
    // tombstone stays past a trim pass or more.
    std::this_thread::sleep_for(12s);
    EXPECT_EQ(row(m, tombstone), xid);

    // Traffic from the monolith, applied by the service, whose SEENs come back.
    auto start = std::chrono::steady_clock::now();
    int n = 0;
    bool trimmed = eventually(
        [&] {
            m.exec("UPDATE u SET v = $1 WHERE id = 2", {"traffic " + std::to_string(++n)});
            return row(m, "SELECT count(*) FROM pymigrate.tombstone") == "0";
        },
        60s, 500ms);
    auto took = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
    std::cout << "[ trim     ] tombstone gone after " << took.count() << " s of traffic (" << n << " updates)\n";
    EXPECT_TRUE(trimmed) << row(m,
                                "SELECT string_agg(xid || ' deleted at ' || deleted_at || ', committed at ' || "
                                "coalesce(pg_xact_commit_timestamp(xid(xid))::text, '?'), '; ') || ', now ' || now() "
                                "FROM pymigrate.tombstone")
                         << "\nthe monolith's log:\n"
                         << log_lines(monolith(), {"tombstone", "ERROR", "WARNING"});
    EXPECT_LE(took.count(), 40);
    ASSERT_TRUE(settle(m, s, db));
    EXPECT_EQ(checksum(s, "u"), checksum(m, "u"));
}

// The seen set kept across a restart of an apply worker (the file
// pg_pymigrate/seen_<database oid>_<subscription id>): a row written on the
// monolith and applied on the service, then changed on the service after
// the monolith's worker restarted, is a hand-over, not a conflict. With
// the monolith ranked first, taking it for a conflict would keep the
// monolith's older value there and the two sides would differ.
TEST_F(SyncTombstone, TheSeenSetSurvivesARestartOfTheApplyWorkerAHandOverAfterItIsNoConflict)
{
    const std::string db = "seen";
    pair(db, "CREATE TABLE r (id int PRIMARY KEY, v text)", "INSERT INTO r VALUES (1, 'seed')",
         R"("strategy": "priority", "priority": ["monolith", "service"])");
    auto m = monolith().connect(db);
    auto s = service().connect(db);
    const std::string s2m = db + "_from_service";
    ASSERT_TRUE(settle(m, s, db));
    m.exec("UPDATE r SET v = 'monolith' WHERE id = 1");
    ASSERT_TRUE(settle(m, s, db)); // the service applied it, and its SEEN came back to the monolith's worker
    ASSERT_EQ(row(s, "SELECT v FROM r WHERE id = 1"), "monolith");
    // A transaction of the service applied on the monolith after that SEEN:
    // the monolith's position moves past the SEEN, so a restarted worker is
    // not sent it again (a SEEN is no transaction; without this the stream
    // would resume before it and the test would pass without the file).
    s.exec("INSERT INTO r VALUES (2, 'service')");
    ASSERT_TRUE(settle(m, s, db));
    ASSERT_EQ(row(m, "SELECT v FROM r WHERE id = 2"), "service");

    std::string file = "pg_pymigrate/seen_" + row(m, "SELECT oid FROM pg_database WHERE datname = current_database()") +
                       "_" + status(m, s2m, "subscription_id");
    m.exec("SELECT pymigrate.disable_subscription($1)", {s2m});
    ASSERT_TRUE(eventually([&] { return status(m, s2m, "worker_pid") == "(null)"; }));
    ASSERT_TRUE(std::filesystem::exists(monolith().data_dir() / file)) << file;
    auto saved = std::filesystem::last_write_time(monolith().data_dir() / file);
    std::this_thread::sleep_for(20ms);
    resume(m, s2m);
    // Read back by the new worker, which marks it in use (written again).
    EXPECT_TRUE(eventually([&] { return std::filesystem::last_write_time(monolith().data_dir() / file) != saved; },
                           10s))
        << file;

    s.exec("UPDATE r SET v = 'service' WHERE id = 1");
    ASSERT_TRUE(settle(m, s, db));
    for (auto *c : {&m, &s})
        EXPECT_EQ(row(*c, "SELECT v FROM r WHERE id = 1"), "service");
    for (auto *c : {&m, &s})
        EXPECT_EQ(row(*c, "SELECT count(*) FROM pymigrate.conflict_log"), "0")
            << row(*c, "SELECT string_agg(kind || ':' || outcome, ',') FROM pymigrate.conflict_log");
}

// An UPDATE that changes the key, against a side that deleted the old key
// and holds the new one: the new row meets the row that holds its key
// (insert_exists), decided by rank, and the worker goes on (it used to
// retry the insert of the taken key for ever).
TEST_F(SyncTombstone, AKeyChangingUpdateWhoseNewKeyIsTakenMeetsThatRow)
{
    const std::string db = "keymove";
    pair(db, kTableDdl, "INSERT INTO u VALUES (1, 'seed')", R"("strategy": "priority", "priority": ["monolith", "service"])");
    auto m = monolith().connect(db);
    auto s = service().connect(db);
    ASSERT_TRUE(settle(m, s, db));
    pause(m, s, db);
    s.exec("DELETE FROM u WHERE id = 1");
    s.exec("INSERT INTO u VALUES (2, 'service two')");
    m.exec("UPDATE u SET id = 2, v = 'moved' WHERE id = 1");
    resume(s, db + "_from_monolith");
    ASSERT_TRUE(wait_caught_up(m, s, db + "_from_monolith"));
    resume(m, db + "_from_service");
    ASSERT_TRUE(settle(m, s, db));
    for (auto *c : {&m, &s}) {
        EXPECT_EQ(row(*c, "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM u"), "2=moved")
            << (c == &m ? "monolith" : "service");
    }
    EXPECT_EQ(row(s, "SELECT string_agg(kind || ':' || outcome || ' ' || (key->>'id'), ',' ORDER BY id) "
                     "FROM pymigrate.conflict_log"),
              "insert_exists:apply_remote 2");
    EXPECT_EQ(status(s, db + "_from_monolith", "state"), "streaming");
}

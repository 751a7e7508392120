// `pymigrate route` against a live control plane: every subcommand, bad
// input, the owner-only rule, NOTIFY, and ramps whose gates hold or fail,
// with real sync (the sync component's subscriptions) under the sync gates.
#include <libpq-fe.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "test/integration/router/router_fixture.hpp"
#include "test/integration/sync/sync_helpers.hpp"

using namespace pymigrate::testing;

class RouteCli : public RouterClusters
{
  protected:
    ProcessResult
    cli(std::vector<std::string> args, const Env &env = {})
    {
        args.insert(args.begin(), cli_program());
        args.push_back("--monolith");
        args.push_back(monolith().dsn());
        return run_process(args, env);
    }
    void
    TearDown() override
    {
        if (synced_)
            stop_sync();
        RouterClusters::TearDown();
    }

    // Real sync for the gates: the service's database subscribes to the
    // monolith's `ledger` table (pymigrate.create_subscription, the sync
    // component's apply worker). The service gets the extension for it,
    // and loses it again in TearDown (other tests need a service without
    // the sync status view).
    void
    prepare_sync()
    {
        synced_ = true;
        auto m = monolith().connect();
        auto s = service().connect();
        for (auto *c : {&m, &s})
            c->exec("CREATE TABLE ledger (id int PRIMARY KEY, v bigint NOT NULL DEFAULT 0)");
        m.exec("INSERT INTO ledger SELECT g FROM generate_series(1, 1000) g");
        s.exec("CREATE EXTENSION pymigrate");
    }
    static void
    stop_sync() noexcept
    {
        try {
            if (!monolith().running() || !service().running())
                return;
            auto s = service().connect();
            if (s.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pymigrate'") == "1") {
                auto subs = s.exec("SELECT name FROM pymigrate.subscription");
                for (int i = 0; i < subs.rows(); ++i) {
                    std::string name(subs.value(i, 0));
                    try {
                        s.exec("SELECT pymigrate.drop_subscription($1)", {name});
                    } catch (const pymigrate::pq::Error &) { // its provider is unreachable: no slot to drop
                        s.exec("SELECT pymigrate.drop_subscription($1, drop_slot => false)", {name});
                    }
                }
                s.exec("DROP EXTENSION pymigrate");
            }
            s.exec("DROP TABLE ledger");
            s.exec("ALTER SYSTEM RESET pymigrate.sync_max_lag");
            s.exec("SELECT pg_reload_conf()");
            monolith().connect().exec("DROP TABLE ledger");
        } catch (const std::exception &e) {
            ADD_FAILURE() << "cleaning up sync: " << e.what();
        }
    }
    // A pgbench script in a file of its own, removed with the object.
    struct Script {
        explicit Script(const std::string &text)
            : path("/tmp/pymigrate-router-cli-" + std::to_string(getpid()) + "-" + std::to_string(++count) + ".sql")
        {
            std::ofstream(path) << text;
        }
        ~Script() { std::remove(path.c_str()); }
        std::string path;
        static inline int count = 0;
    };
    bool synced_ = false;
    static std::vector<std::string>
    pgbench_argv(const Cluster &c, std::vector<std::string> args)
    {
        args.insert(args.begin(), {pgbin("pgbench"), "-n"});
        args.push_back(c.dsn());
        return args;
    }
};

TEST_F(RouteCli, SetShowHistoryRollbackDelete)
{
    auto r = cli({"route", "set", "bank", "--tables", "probe,svc_counter", "--target-dsn", service().dsn(), "--percent",
                  "12.5", "--reason", "first step"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("12.5 % of keys"), std::string::npos) << r.out;
    r = cli({"route", "set", "bank", "--strategy", "canary", "--canary-keys", "user:1,user:2", "--percent", "1"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("2 canary key(s), then 1 % of the others"), std::string::npos) << r.out;
    r = cli({"route", "set", "bank", "--strategy", "feature-flag", "--flag-name", "new-bank", "--flag", "off",
             "--override", "user:1=on"});
    ASSERT_EQ(r.status, 0) << r.err;
    r = cli({"route", "set", "bank", "--strategy", "blue-green", "--active", "green"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("all to the service (green)"), std::string::npos) << r.out;
    r = cli({"route", "show", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto shown = nlohmann::json::parse(r.out);
    EXPECT_EQ(shown["services"][0]["strategy"], "blue_green");
    EXPECT_EQ(shown["services"][0]["tables"], nlohmann::json({"public.probe", "public.svc_counter"}));
    EXPECT_EQ(shown["services"][0]["flag"]["overrides"]["user:1"], true);
    r = cli({"route", "rollback", "bank", "--reason", "because"});
    ASSERT_EQ(r.status, 0) << r.err;
    r = cli({"route", "history", "bank", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto h = nlohmann::json::parse(r.out);
    ASSERT_EQ(h.size(), 5u);
    EXPECT_EQ(h[0]["action"], "rollback");
    EXPECT_EQ(h[0]["reason"], "because");
    EXPECT_EQ(h[0]["new"]["enabled"], false);
    EXPECT_EQ(h[4]["reason"], "first step");
    r = cli({"route", "history"});
    EXPECT_NE(r.out.find("rolled back: everything on the monolith"), std::string::npos) << r.out;
    r = cli({"route", "delete", "bank"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(cli({"route", "show"}).out.find("bank"), std::string::npos);
}

TEST_F(RouteCli, BadInputIsRefusedWithAClearErrorAndExitCode2)
{
    ASSERT_EQ(cli({"route", "set", "bank", "--tables", "probe", "--target-dsn", service().dsn()}).status, 0);
    struct Case {
        std::vector<std::string> args;
        std::string message;
    } cases[] = {
        {{"route", "set", "bank", "--percent", "150"}, "--percent \"150\""},
        {{"route", "set", "bank", "--percent", "0.001"}, "steps of 0.01"},
        {{"route", "set", "other", "--tables", "probe", "--target-dsn", "dbname=x"}, "belongs to two services"},
        {{"route", "set", "other", "--tables", "no_such_table", "--target-dsn", "dbname=x"},
         "not tables of the monolith"},
        {{"route", "set", "other", "--tables", "other", "--target-dsn", "dbname=x password=secret"}, "password"},
        {{"route", "set", "Other", "--tables", "other"}, "service name"},
        {{"route", "set", "other", "--tables", "other"}, "--target-dsn"},
        {{"route", "set", "bank", "--strategy", "random"}, "--strategy"},
        {{"route", "rollback", "nosuch"}, "no route for service \"nosuch\" (services: bank)"},
        {{"route", "ramp", "nosuch", "--to", "10"}, "no route for service"},
        {{"route", "ramp", "bank", "--every", "30"}, "--every"},
        {{"route", "ramp", "bank", "--max-lag", "2s"}, "pymigrate.subscription_status"},
        {{"route", "frobnicate"}, ""},
    };
    for (const auto &c : cases) {
        auto r = cli(c.args);
        EXPECT_EQ(r.status, 2) << c.args[2] << ": " << r.out << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
        EXPECT_EQ(r.err.find("secret"), std::string::npos) << r.err;
    }
    // Nothing was half-applied.
    EXPECT_EQ(monolith().connect().scalar("SELECT count(*) FROM pymigrate.route_history"), "1");
}

TEST_F(RouteCli, OnlyTheOwnerMayChangeRoutesAndEveryoneMayRead)
{
    ASSERT_EQ(cli({"route", "set", "bank", "--tables", "probe", "--target-dsn", service().dsn()}).status, 0);
    auto db = monolith().connect();
    db.exec("DROP ROLE IF EXISTS app");
    db.exec("CREATE ROLE app LOGIN");
    std::string as_app = monolith().dsn() + " user=app";
    auto r = run_process({cli_program(), "route", "rollback", "bank", "--monolith", as_app});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
    r = run_process({cli_program(), "route", "show", "--monolith", as_app});
    EXPECT_EQ(r.status, 0) << r.err;
    // Even with the table granted, the owner check holds.
    db.exec("GRANT UPDATE ON pymigrate.route TO app");
    pymigrate::pq::Connection app(as_app);
    try {
        app.exec("UPDATE pymigrate.route SET percent = 100");
        ADD_FAILURE() << "a non-owner changed the routes";
    } catch (const pymigrate::pq::Error &e) {
        EXPECT_EQ(e.sqlstate(), "42501") << e.what();
        EXPECT_NE(std::string(e.what()).find("only the owner"), std::string::npos) << e.what();
    }
    // Applications report their counters.
    app.exec("SELECT pymigrate.route_report('x', '{\"services\": {\"bank\": {\"routed\": 1, \"errors\": 0, "
             "\"fallbacks\": 0, \"latency_us\": [1]}}}')");
    db.exec("REVOKE UPDATE ON pymigrate.route FROM app");
    db.exec("DROP OWNED BY app");
    db.exec("DROP ROLE app");
}

TEST_F(RouteCli, EveryChangeIsNotifiedWithTheRoutes)
{
    auto listener = monolith().connect();
    listener.exec("LISTEN pymigrate_route");
    ASSERT_EQ(
        cli({"route", "set", "bank", "--tables", "probe", "--target-dsn", service().dsn(), "--percent", "5"}).status,
        0);
    ASSERT_EQ(PQconsumeInput(listener.get()), 1);
    PGnotify *n = PQnotifies(listener.get());
    ASSERT_NE(n, nullptr);
    auto payload = nlohmann::json::parse(n->extra);
    PQfreemem(n);
    EXPECT_EQ(payload["services"][0]["name"], "bank");
    EXPECT_EQ(payload["services"][0]["percent"], 5.0);
}

TEST_F(RouteCli, RampMovesStepByStepWhileTheGatesHold)
{
    prepare_sync();
    ASSERT_EQ(
        cli({"route", "set", "bank", "--tables", "ledger", "--target-dsn", service().dsn(), "--no-sticky"}).status, 0);
    // The status view on both sides but no subscription yet: a lag gate
    // would judge nothing, so it is refused.
    auto r = cli({"route", "ramp", "bank", "--to", "10", "--every", "1s", "--max-lag", "2s"});
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("--max-lag needs a subscription between the two databases"), std::string::npos) << r.err;
    auto svc = service().connect();
    sync::create_subscription(svc, "ledger", monolith().dsn(), "{ledger}");
    ASSERT_TRUE(sync::wait_state(svc, "ledger", "streaming"));
    // The application reads the ledger through the shim while the monolith
    // keeps taking writes (not through the shim: sync is one way) that the
    // subscription streams to the service.
    Script writes("\\set id random(1, 1000)\nUPDATE ledger SET v = v + 1 WHERE id = :id;\n");
    Script reads("\\set id random(1, 1000)\nSELECT v FROM ledger WHERE id = :id;\n");
    Background writer(pgbench_argv(monolith(), {"-f", writes.path, "-R", "100", "-T", "12"}));
    Background reader(pgbench_argv(monolith(), {"-f", reads.path, "-c", "2", "-R", "200", "-T", "12"}), shim_env());
    r = cli({"route", "ramp", "bank", "--to", "100", "--step", "50", "--every", "2s", "--max-error-rate", "1%",
             "--max-p95", "5s", "--max-lag", "2s", "--min-statements", "1", "--json"});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    auto out = nlohmann::json::parse(r.out);
    EXPECT_EQ(out["outcome"], "done");
    ASSERT_EQ(out["steps"].size(), 2u);
    EXPECT_EQ(out["steps"][1]["percent"], 100.0);
    for (const auto &step : out["steps"]) {
        auto gates = step["gates"].get<std::string>();
        EXPECT_NE(gates.find("statements to the service, 0 failed"), std::string::npos) << gates;
        EXPECT_NE(gates.find("sync lag"), std::string::npos) << gates; // the lag gate read real sync
    }
    EXPECT_EQ(r.err.find("sync status: unknown"), std::string::npos) << r.err;
    for (auto *p : {&writer, &reader}) {
        auto done = p->wait();
        EXPECT_EQ(done.status, 0) << done.out << done.err;
    }
    EXPECT_GT(calls(service(), "FROM ledger"), 0);
    auto m = monolith().connect();
    EXPECT_EQ(m.scalar("SELECT percent FROM pymigrate.route"), "100.00");
    EXPECT_EQ(m.scalar("SELECT count(*) FROM pymigrate.route_history WHERE action = 'ramp'"), "2");
    // A ramp to where the route is already sets nothing: no step, no new version.
    auto version = m.scalar("SELECT version FROM pymigrate.route");
    r = cli({"route", "ramp", "bank", "--to", "100", "--step", "50", "--every", "1s", "--force"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("bank is at 100 % already"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("watching for"), std::string::npos) << r.out;
    EXPECT_EQ(m.scalar("SELECT version FROM pymigrate.route"), version);
    EXPECT_EQ(m.scalar("SELECT count(*) FROM pymigrate.route_history WHERE action = 'ramp'"), "2");
    // What the service answered from was the monolith's data, streamed.
    ASSERT_TRUE(sync::wait_caught_up(m, svc, "ledger"));
    EXPECT_EQ(sync::checksum(svc, "ledger"), sync::checksum(m, "ledger"));
    EXPECT_NE(m.scalar("SELECT sum(v) FROM ledger"), "0");
}

TEST_F(RouteCli, AFailingServiceTripsTheErrorGateAndRollsBack)
{
    ASSERT_EQ(cli({"route", "set", "bank", "--tables", "probe", "--target-dsn", service().dsn(), "--no-sticky",
                   "--percent", "50"})
                  .status,
              0);
    Background load({probe_program(), "loop", "8"}, shim_env({{"LD_PRELOAD", std::nullopt}}));
    ASSERT_TRUE(load.wait_for_output("which=service", std::chrono::seconds(10)));
    service().stop();
    auto r = cli({"route", "ramp", "bank", "--to", "100", "--step", "25", "--every", "3s", "--max-error-rate", "1%",
                  "--min-statements", "5"});
    EXPECT_EQ(r.status, 3) << r.out << r.err;
    EXPECT_NE(r.out.find("gate failed: error rate"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("rolled back"), std::string::npos) << r.out;
    auto result = load.wait();
    // The application never saw an error: each statement went to the
    // monolith when the service was gone.
    EXPECT_EQ(key_values(result.out)["errors"], "0") << result.out;
    auto db = monolith().connect();
    EXPECT_EQ(db.scalar("SELECT enabled FROM pymigrate.route"), "f");
    EXPECT_EQ(
        db.scalar("SELECT reason FROM pymigrate.route_history ORDER BY version DESC LIMIT 1")->find("ramp gate failed"),
        0u);
    service().start();
}

TEST_F(RouteCli, BrokenSyncIsNeverRoutedToWithoutForce)
{
    prepare_sync();
    auto svc = service().connect();
    // A subscription whose provider cannot be reached: the worker fails
    // and says why in the status view. (Waiting for this failure's text: a
    // status row can first show an earlier subscription's, since the sync
    // component's status of a dropped subscription can outlive it and a
    // re-created extension numbers subscriptions from 1 again.)
    sync::create_subscription(svc, "ledger", monolith().dsn("no_such_database"), "{ledger}", "connect => false");
    std::string error;
    ASSERT_TRUE(eventually(
        [&] {
            error = sync::status(svc, "ledger", "last_error");
            return sync::status(svc, "ledger", "state") == "error" &&
                   error.find("could not connect to provider of subscription ledger") != std::string::npos;
        },
        std::chrono::seconds(60), std::chrono::milliseconds(100)))
        << "state " << sync::status(svc, "ledger", "state") << ", last_error " << error;

    auto r = cli({"route", "set", "bank", "--tables", "ledger", "--target-dsn", service().dsn(), "--percent", "10"});
    EXPECT_EQ(r.status, 3) << r.err;
    EXPECT_NE(r.err.find("subscription ledger state error, error: could not connect to provider"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
    EXPECT_EQ(monolith().connect().scalar("SELECT count(*) FROM pymigrate.route"), "0");
    r = cli(
        {"route", "set", "bank", "--tables", "ledger", "--target-dsn", service().dsn(), "--percent", "10", "--force"});
    ASSERT_EQ(r.status, 0) << r.err;
    r = cli({"route", "ramp", "bank", "--to", "20", "--step", "10", "--every", "1s"});
    EXPECT_EQ(r.status, 3) << r.out << r.err;
    EXPECT_NE(r.err.find("refusing to ramp"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("could not connect to provider of subscription ledger"), std::string::npos) << r.err;
    EXPECT_EQ(monolith().connect().scalar("SELECT percent FROM pymigrate.route"), "10.00");

    // The provider's address fixed, sync recovers (its last_error stays, as
    // history) and routing is allowed again without --force.
    svc.exec("SELECT pymigrate.alter_subscription('ledger', provider_dsn => $1)", {monolith().dsn()});
    ASSERT_TRUE(sync::wait_state(svc, "ledger", "streaming"));
    r = cli({"route", "set", "bank", "--percent", "10"});
    EXPECT_EQ(r.status, 0) << r.err;

    // Working sync that falls behind: the apply worker waits on a lock
    // held on the service's ledger while the monolith keeps writing. The
    // sync component still calls that streaming (pymigrate.sync_max_lag
    // 30 s here); the ramp's own --max-lag 2s is stricter and must trip.
    svc.exec("ALTER SYSTEM SET pymigrate.sync_max_lag = '30s'");
    svc.exec("SELECT pg_reload_conf()");
    auto locker = service().connect();
    locker.exec("BEGIN");
    locker.exec("LOCK TABLE ledger IN SHARE MODE"); // readers pass, the apply worker's writes wait
    auto m = monolith().connect();
    double first_lag = -1, lag = 0;
    ASSERT_TRUE(eventually(
        [&] {
            m.exec("UPDATE ledger SET v = v + 1 WHERE id = 1");
            lag = std::stod(sync::status(svc, "ledger", "lag_seconds"));
            if (first_lag < 0 && lag > 0)
                first_lag = lag;
            return lag > 3;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(200)))
        << "lag_seconds " << sync::status(svc, "ledger", "lag_seconds");
    EXPECT_LT(first_lag, lag); // it grew
    EXPECT_EQ(sync::status(svc, "ledger", "state"), "streaming");
    r = cli({"route", "ramp", "bank", "--to", "20", "--step", "10", "--every", "10s", "--max-lag", "2s"});
    EXPECT_EQ(r.status, 3) << r.out << r.err;
    EXPECT_NE(r.out.find("gate failed: sync lag"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("rolled back"), std::string::npos) << r.out;
    EXPECT_EQ(m.scalar("SELECT enabled FROM pymigrate.route"), "f");
    EXPECT_EQ(m.scalar("SELECT reason FROM pymigrate.route_history ORDER BY version DESC LIMIT 1")
                  ->find("ramp gate failed at 20 %: sync lag"),
              0u);

    // The lock gone, sync catches up and the lag is back to nothing.
    locker.exec("COMMIT");
    ASSERT_TRUE(sync::wait_caught_up(m, svc, "ledger"));
    EXPECT_EQ(sync::checksum(svc, "ledger"), sync::checksum(m, "ledger"));
    EXPECT_EQ(sync::status(svc, "ledger", "lag_seconds"), "0");
}

// `pymigrate route` against a live control plane: every subcommand, bad
// input, the owner-only rule, NOTIFY, and ramps whose gates hold or fail.
#include <libpq-fe.h>

#include <thread>

#include "test/integration/router/router_fixture.hpp"

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
    // The sync component's view, as its contract says (name, enabled, state,
    // lag_bytes, lag_seconds, last_error), with the values a test needs.
    static void
    fake_sync_status(Cluster &c, const std::string &state, double lag, const std::string &error)
    {
        c.connect().exec("CREATE SCHEMA IF NOT EXISTS pymigrate");
        c.connect().exec("CREATE OR REPLACE VIEW pymigrate.subscription_status AS SELECT 'sub_" + c.name() +
                         "'::text AS name, true AS enabled, '" + state + "'::text AS state, 0::bigint AS lag_bytes, " +
                         std::to_string(lag) + "::float8 AS lag_seconds, " +
                         (error.empty() ? std::string("NULL") : "'" + error + "'") + "::text AS last_error");
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
    GTEST_SKIP() << "TEMPORARY: being rewritten against real sync (branch routerfix)";
    ASSERT_EQ(cli({"route", "set", "bank", "--tables", "probe", "--target-dsn", service().dsn(), "--no-sticky"}).status,
              0);
    fake_sync_status(monolith(), "streaming", 0.1, "");
    fake_sync_status(service(), "streaming", 0.2, "");
    Background load({probe_program(), "loop", "8"}, shim_env({{"LD_PRELOAD", std::nullopt}}));
    auto r = cli({"route", "ramp", "bank", "--to", "100", "--step", "50", "--every", "2s", "--max-error-rate", "1%",
                  "--max-p95", "5s", "--max-lag", "2s", "--min-statements", "1", "--json"});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    auto out = nlohmann::json::parse(r.out);
    EXPECT_EQ(out["outcome"], "done");
    ASSERT_EQ(out["steps"].size(), 2u);
    EXPECT_EQ(out["steps"][1]["percent"], 100.0);
    EXPECT_NE(out["steps"][1]["gates"].get<std::string>().find("statements to the service"), std::string::npos);
    load.wait();
    EXPECT_EQ(monolith().connect().scalar("SELECT percent FROM pymigrate.route"), "100.00");
    EXPECT_EQ(monolith().connect().scalar("SELECT count(*) FROM pymigrate.route_history WHERE action = 'ramp'"), "2");
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
    GTEST_SKIP() << "TEMPORARY: being rewritten against real sync (branch routerfix)";
    fake_sync_status(monolith(), "streaming", 0, "");
    fake_sync_status(service(), "catchup", 0, "could not connect to the provider");
    auto r = cli({"route", "set", "bank", "--tables", "probe", "--target-dsn", service().dsn(), "--percent", "10"});
    EXPECT_EQ(r.status, 3) << r.err;
    EXPECT_NE(r.err.find("could not connect to the provider"), std::string::npos) << r.err;
    EXPECT_EQ(monolith().connect().scalar("SELECT count(*) FROM pymigrate.route"), "0");
    r = cli(
        {"route", "set", "bank", "--tables", "probe", "--target-dsn", service().dsn(), "--percent", "10", "--force"});
    EXPECT_EQ(r.status, 0) << r.err;
    r = cli({"route", "ramp", "bank", "--to", "20", "--step", "10", "--every", "1s"});
    EXPECT_EQ(r.status, 3) << r.err;
    EXPECT_NE(r.err.find("refusing to ramp"), std::string::npos) << r.err;
    // A lag gate over the limit rolls back.
    fake_sync_status(service(), "streaming", 5, "");
    r = cli({"route", "ramp", "bank", "--to", "20", "--step", "10", "--every", "1s", "--max-lag", "2s"});
    EXPECT_EQ(r.status, 3) << r.out << r.err;
    EXPECT_NE(r.out.find("sync lag"), std::string::npos) << r.out;
    EXPECT_EQ(monolith().connect().scalar("SELECT enabled FROM pymigrate.route"), "f");
}

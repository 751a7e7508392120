// Fail safe: a service that cannot be reached, a control plane that is down
// or goes away, route files that do not parse. The application never sees a
// failure it would not have seen without the shim.
#include <fstream>
#include <thread>

#include "test/integration/router/router_fixture.hpp"

using namespace pymigrate::testing;

class ShimFailSafe : public RouterClusters
{
};

TEST_F(ShimFailSafe, AServiceThatIsDownMeansTheMonolithAndCountedErrors)
{
    set_route(bank_route(100, true));
    service().stop();
    auto r = pgbench({"-S", "-M", "prepared", "-c", "4", "-j", "2", "-t", "50"}, shim_env());
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("number of failed transactions: 0 "), std::string::npos) << r.out;
    EXPECT_EQ(calls(monolith(), "SELECT abalance FROM pgbench_accounts"), 200);
    auto db = monolith().connect();
    // The shims published what happened: every statement the route chose the
    // service for ran on the monolith instead.
    EXPECT_EQ(db.scalar("SELECT sum(routed) = sum(errors) AND sum(errors) = sum(fallbacks) AND sum(routed) >= 200 "
                        "FROM pymigrate.route_stats WHERE service = 'bank'"),
              "t");
    EXPECT_NE(shim_log().find("cannot be reached"), std::string::npos) << shim_log();
    service().start();
}

TEST_F(ShimFailSafe, StoppingTheServiceDuringARunFailsNoRequest)
{
    set_route(bank_route(100, true));
    // Autocommit statements, reads and writes (the demo's workload shape).
    std::string script = "/tmp/pymigrate-router-failsafe-" + std::to_string(getpid()) + ".sql";
    std::ofstream(script) << "\\set id random(1, 100)\n"
                             "SELECT n FROM svc_counter WHERE id = :id;\n"
                             "UPDATE svc_counter SET n = n + 1 WHERE id = :id;\n";
    Background bench(
        {pgbin("pgbench"), "-n", "-M", "prepared", "-c", "4", "-j", "2", "-T", "5", "-f", script, monolith().dsn()},
        shim_env());
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    long before = calls(service(), "UPDATE svc_counter");
    service().stop(); // fast shutdown: sessions are terminated mid-run
    auto r = bench.wait();
    std::remove(script.c_str());
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("number of failed transactions: 0 "), std::string::npos) << r.out << r.err;
    EXPECT_GT(before, 0);
    EXPECT_GT(calls(monolith(), "UPDATE svc_counter"), 0);
    EXPECT_EQ(monolith().connect().scalar("SELECT sum(errors) > 0 FROM pymigrate.route_stats"), "t");
    service().start();
}

TEST_F(ShimFailSafe, AnUnreachableControlPlaneMeansTheMonolith)
{
    set_route(bank_route(100, true));
    auto r = psql("SELECT which FROM probe;\n",
                  shim_env({{"PYMIGRATE_CONTROL_DSN", "host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2"}}));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "monolith\n");
    EXPECT_NE(shim_log().find("unavailable"), std::string::npos) << shim_log();
    EXPECT_EQ(shim_log().find("hunter"), std::string::npos);
    // Passwords never reach the log.
    psql("SELECT 1;\n", shim_env({{"PYMIGRATE_CONTROL_DSN", "host=127.0.0.1 port=1 password=hunter2"}}));
    EXPECT_EQ(shim_log().find("hunter2"), std::string::npos) << shim_log();
}

TEST_F(ShimFailSafe, TheApplicationsServiceDsnVariableOverridesTheRoutes)
{
    auto route = bank_route(100, true);
    route["dsn"] = "host=/nonexistent/pymigrate port=1 dbname=postgres";
    set_route(route);
    auto r = psql("SELECT which FROM probe;\n", shim_env());
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "monolith\n") << r.err; // the route's address cannot be reached
    r = psql("SELECT which FROM probe;\n", shim_env({{"PYMIGRATE_SERVICE_DSN_BANK", service().dsn()}}));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "service\n") << r.err << shim_log();
}

TEST_F(ShimFailSafe, ALostControlConnectionKeepsTheLastGoodRoutes)
{
    set_route(bank_route(100, true));
    Background loop({probe_program(), "loop", "4"}, shim_env({{"LD_PRELOAD", std::nullopt}}));
    ASSERT_TRUE(loop.wait_for_output("which=service", std::chrono::seconds(10))) << loop.out_so_far();
    monolith().connect().exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pymigrate-shim'");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    // Still routing; and a rollback made after the shim reconnected arrives.
    monolith().connect().exec("SELECT pymigrate.route_rollback('bank')");
    auto r = loop.wait();
    ASSERT_EQ(r.status, 0) << r.err;
    auto kv = key_values(r.out);
    EXPECT_EQ(kv["errors"], "0");
    EXPECT_NE(r.out.find("which=monolith"), std::string::npos) << r.out;
    // service first, then monolith, once: no flapping while disconnected.
    EXPECT_LT(r.out.find("which=service"), r.out.find("which=monolith"));
    EXPECT_NE(shim_log().find("control plane connected"), std::string::npos);
}

TEST_F(ShimFailSafe, RouteFilesThatDoNotParseKeepTheLastGoodRoutes)
{
    std::string file = "/tmp/pymigrate-routes-" + std::to_string(getpid()) + ".json";
    auto write = [&](const std::string &text) {
        std::ofstream(file + ".tmp") << text;
        std::rename((file + ".tmp").c_str(), file.c_str());
    };
    nlohmann::json doc = {{"format", 1}, {"version", 1}, {"services", {bank_route(100, true)}}};
    Env env = shim_env({{"PYMIGRATE_CONTROL_DSN", std::nullopt}, {"PYMIGRATE_ROUTE_FILE", file}});

    write("{ this is not json");
    EXPECT_EQ(psql("SELECT which FROM probe;\n", env).out, "monolith\n"); // none good yet: the monolith
    EXPECT_NE(shim_log().find("not valid JSON"), std::string::npos) << shim_log();

    write(doc.dump());
    Background loop({probe_program(), "loop", "3"}, shim_env({{"LD_PRELOAD", std::nullopt},
                                                              {"PYMIGRATE_CONTROL_DSN", std::nullopt},
                                                              {"PYMIGRATE_ROUTE_FILE", file}}));
    ASSERT_TRUE(loop.wait_for_output("which=service", std::chrono::seconds(10))) << loop.out_so_far();
    doc["services"][0]["percent"] = 250; // out of range: ignored, the last good routes stay
    write(doc.dump());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    doc["services"][0]["percent"] = 0;
    doc["version"] = 2;
    write(doc.dump());
    auto r = loop.wait();
    EXPECT_EQ(key_values(r.out)["errors"], "0");
    // service, then monolith once the valid file at 0 % came: never flapping.
    EXPECT_EQ(r.out.find("which=monolith"), r.out.rfind("which=monolith")) << r.out;
    EXPECT_LT(r.out.find("which=service"), r.out.find("which=monolith")) << r.out;
    EXPECT_NE(shim_log().find("out of range"), std::string::npos) << shim_log();
    std::remove(file.c_str());
}

TEST_F(ShimFailSafe, StatementsTheParserRejectsGoToTheMonolith)
{
    set_route(bank_route(100, true));
    auto r = psql("SELEC which FROM probe;\nSELECT which FROM probe;\n", shim_env());
    EXPECT_NE(r.err.find("syntax error"), std::string::npos);
    EXPECT_EQ(r.out, "service\n");
}

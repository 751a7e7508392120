// pymigrate.validate() between two live servers when things go wrong: the
// other server down, gone mid-run, without the extension; a cancel; and the
// NOTIFY of continuous validation.
#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

#include "test/integration/validate/validate_fixture.hpp"

using namespace pymigrate::testing;
using pymigrate::pq::Error;

namespace {

class ValidateFailures : public ValidateSuite {
  protected:
    void SetUp() override
    {
        ValidateSuite::SetUp();
        if (HasFatalFailure())
            return;
        if (!service().running())
            service().start();
        for (int i = 0; i < 2; ++i) {
            auto c = cluster(i).connect();
            c.exec("SET client_min_messages = warning; DROP TABLE IF EXISTS items");
            c.exec("CREATE TABLE items (id int PRIMARY KEY, v text)");
            c.exec("INSERT INTO items SELECT i, 'v' || i FROM generate_series(1, 20000) i");
        }
    }

    // An hourly validation of `items`, alerting below 99.9 %.
    std::optional<std::string> schedule_items(pymigrate::pq::Connection &mono, bool enabled)
    {
        return mono.scalar("SELECT pymigrate.schedule_validation(ARRAY['items'], $1, '1 hour', 99.9, "
                           "options => '{\"recheck\": false}', enabled => $2::boolean)",
                           {service().dsn(), enabled ? "true" : "false"});
    }

    int64_t runs() { return std::stoll(*monolith().connect().scalar("SELECT count(*) FROM pymigrate.validation_run")); }
};

} // namespace

TEST_F(ValidateFailures, IdenticalTablesAgree)
{
    auto mono = monolith().connect();
    auto run = mono.scalar("SELECT pymigrate.validate(ARRAY['items'], $1)", {service().dsn()});
    EXPECT_EQ(mono.scalar("SELECT status FROM pymigrate.validation_run WHERE id = $1", {*run}), "consistent");
    EXPECT_EQ(mono.scalar("SELECT rows_compared FROM pymigrate.consistency_report($1)", {*run}), "20000");
    // Callable from either side.
    auto svc = service().connect();
    auto back = svc.scalar("SELECT pymigrate.validate(ARRAY['items'], $1)", {monolith().dsn()});
    EXPECT_EQ(svc.scalar("SELECT status FROM pymigrate.validation_run WHERE id = $1", {*back}), "consistent");
}

TEST_F(ValidateFailures, RemoteDownIsAClearErrorAndNothingIsRecorded)
{
    auto mono = monolith().connect();
    int64_t before = runs();
    service().stop();
    std::string dsn = service().dsn() + " password=hunter2 connect_timeout=5";
    try {
        mono.exec("SELECT pymigrate.validate(ARRAY['items'], $1)", {dsn});
        ADD_FAILURE() << "no error with the remote server down";
    } catch (const Error &e) {
        std::string msg = e.what();
        EXPECT_EQ(e.sqlstate(), "08001") << msg;
        EXPECT_NE(msg.find("could not connect to remote side of the validation"), std::string::npos) << msg;
        EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
    }
    EXPECT_EQ(runs(), before);
    service().start();
    EXPECT_TRUE(mono.scalar("SELECT pymigrate.validate(ARRAY['items'], $1)", {service().dsn()}).has_value());
}

TEST_F(ValidateFailures, RemoteGoneMidRunIsAnErrorAndNothingIsRecorded)
{
    service().connect().exec("UPDATE items SET v = 'changed' WHERE id = 5");
    int64_t before = runs();
    auto mono = monolith().connect();
    // The run finds the difference, then waits 3 s to re-check it: the
    // remote server is killed meanwhile.
    std::string dsn = service().dsn();
    const char *params[1] = {dsn.c_str()};
    ASSERT_EQ(PQsendQueryParams(mono.get(), "SELECT pymigrate.validate(ARRAY['items'], $1, recheck_delay => '3 s')", 1,
                                nullptr, params, nullptr, nullptr, 0),
              1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    service().kill9();
    PGresult *r;
    std::string sqlstate, message;
    while ((r = PQgetResult(mono.get())) != nullptr) {
        if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
            sqlstate = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            message = PQresultErrorMessage(r);
        }
        PQclear(r);
    }
    EXPECT_EQ(sqlstate.substr(0, 2), "08") << message;
    EXPECT_NE(message.find("remote side of the validation"), std::string::npos) << message;
    EXPECT_EQ(runs(), before);
    service().start();
}

TEST_F(ValidateFailures, RemoteWithoutTheExtensionIsAClearError)
{
    auto svc = service().connect();
    svc.exec("SET client_min_messages = warning");
    svc.exec("DROP DATABASE IF EXISTS bare");
    svc.exec("CREATE DATABASE bare");
    service().connect("bare").exec("CREATE TABLE items (id int PRIMARY KEY, v text)");
    try {
        monolith().connect().exec("SELECT pymigrate.validate(ARRAY['items'], $1)", {service().dsn("bare")});
        ADD_FAILURE() << "no error for a remote database without the extension";
    } catch (const Error &e) {
        EXPECT_EQ(e.sqlstate(), "55000") << e.what();
        EXPECT_NE(std::string(e.what()).find("the pymigrate extension is not installed"), std::string::npos)
            << e.what();
    }
}

TEST_F(ValidateFailures, ACancelStopsTheRunAtOnce)
{
    service().connect().exec("UPDATE items SET v = 'changed' WHERE id = 6");
    auto mono = monolith().connect();
    int64_t before = runs();
    mono.exec("SET statement_timeout = '1s'");
    auto t0 = std::chrono::steady_clock::now();
    try {
        mono.exec("SELECT pymigrate.validate(ARRAY['items'], $1, recheck_delay => '60 s')", {service().dsn()});
        ADD_FAILURE() << "statement_timeout did not interrupt the run";
    } catch (const Error &e) {
        EXPECT_EQ(e.sqlstate(), "57014") << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
    mono.exec("RESET statement_timeout");
    EXPECT_EQ(runs(), before);
}

TEST_F(ValidateFailures, ABelowThresholdRunIsNotifiedAsJson)
{
    service().connect().exec("DELETE FROM items WHERE id <= 100");
    auto listener = monolith().connect();
    listener.exec("LISTEN pymigrate_alert");
    auto mono = monolith().connect();
    // Disabled: the background worker leaves it to the explicit run.
    auto schedule = schedule_items(mono, false);
    auto run = mono.scalar("SELECT pymigrate.run_scheduled_validation($1)", {*schedule});
    auto payload = next_alert(listener);
    ASSERT_FALSE(payload.is_null()) << "no NOTIFY pymigrate_alert";
    EXPECT_EQ(payload["run_id"].get<int64_t>(), std::stoll(*run));
    EXPECT_EQ(payload["table"], "public.items");
    EXPECT_DOUBLE_EQ(payload["consistency_pct"].get<double>(), 99.5);
    EXPECT_NE(payload["message"].get<std::string>().find("below the alert threshold"), std::string::npos);
    mono.exec("SELECT pymigrate.unschedule_validation($1)", {*schedule});
}

TEST_F(ValidateFailures, TheBackgroundWorkerRunsSchedulesAndAlerts)
{
    service().connect().exec("DELETE FROM items WHERE id <= 200");
    auto listener = monolith().connect();
    listener.exec("LISTEN pymigrate_alert");
    auto mono = monolith().connect();
    // Due at once, then hourly: only the wake-up at commit can make the
    // manager run it within the test's time (it otherwise sleeps up to 60 s).
    auto schedule = schedule_items(mono, true);
    const std::string ran = "SELECT count(*) FROM pymigrate.validation_run WHERE schedule_id = " + *schedule;
    EXPECT_EQ(wait_for_value(mono, ran, "1", std::chrono::seconds(20)), "1") << "the manager did not run the schedule";
    EXPECT_EQ(mono.scalar("SELECT count(*) FROM pymigrate.alert WHERE schedule_id = $1 AND table_name = 'public.items'",
                          {*schedule}),
              "1");
    EXPECT_EQ(mono.scalar("SELECT next_run_at > now() + interval '50 minutes' FROM pymigrate.validation_schedule "
                          "WHERE id = $1",
                          {*schedule}),
              "t");
    auto payload = next_alert(listener);
    ASSERT_FALSE(payload.is_null()) << "no NOTIFY pymigrate_alert from the background run";
    EXPECT_EQ(payload["schedule_id"].get<int64_t>(), std::stoll(*schedule));
    // The server log has the WARNING.
    std::string log = monolith().log_tail(200);
    EXPECT_NE(log.find("below the alert threshold of 99.9%"), std::string::npos) << log;
    mono.exec("SELECT pymigrate.unschedule_validation($1)", {*schedule});
}

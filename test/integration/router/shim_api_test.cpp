// The libpq API surface through the shim, with a program that links
// libpymigrate.so before libpq: sticky keys (API and sqlcommenter tags),
// async with PQsocket, pipeline mode, prepared statements, PQreset,
// cancel, single-row mode.
#include "test/integration/router/router_fixture.hpp"

using namespace pymigrate::testing;

class ShimApi : public RouterClusters
{
  protected:
    std::map<std::string, std::string>
    probe(const std::vector<std::string> &args)
    {
        std::vector<std::string> argv{probe_program()};
        argv.insert(argv.end(), args.begin(), args.end());
        // Linked, not preloaded: no LD_PRELOAD.
        auto r = run_process(argv, shim_env({{"LD_PRELOAD", std::nullopt}}));
        EXPECT_EQ(r.status, 0) << r.out << r.err;
        return key_values(r.out);
    }
};

TEST_F(ShimApi, StickyKeysFromTheApiSplitByPercentAndNeverMove)
{
    set_route(bank_route(30, true));
    auto kv = probe({"keys", "300"});
    int service = std::stoi(kv["service"]), monolith = std::stoi(kv["monolith"]);
    EXPECT_EQ(service + monolith, 300);
    EXPECT_NEAR(service / 300.0, 0.3, 0.09);
    EXPECT_EQ(kv["mismatched"], "0");
}

TEST_F(ShimApi, SqlcommenterTagsCarryTheKey)
{
    set_route(bank_route(50, true));
    auto kv = probe({"tag", "200"});
    EXPECT_GT(std::stoi(kv["service"]), 50);
    EXPECT_GT(std::stoi(kv["monolith"]), 50);
    EXPECT_EQ(kv["mismatched"], "0");
}

TEST_F(ShimApi, CanaryBlueGreenAndFeatureFlagStrategies)
{
    auto spec = bank_route(0, true);
    spec["strategy"] = "canary";
    spec["canary_keys"] = {"user:1", "user:2", "user:3"};
    set_route(spec);
    auto kv = probe({"keys", "50"});
    EXPECT_EQ(kv["service"], "3");
    spec["strategy"] = "blue_green";
    spec["active"] = "service";
    set_route(spec);
    EXPECT_EQ(probe({"keys", "50"})["service"], "50");
    spec["strategy"] = "feature_flag";
    spec["flag"] = {{"name", "new-bank"}, {"enabled", false}, {"overrides", {{"user:7", true}}}};
    set_route(spec);
    EXPECT_EQ(probe({"keys", "50"})["service"], "1");
}

TEST_F(ShimApi, AsyncApiWaitsOnTheSocketOfTheBackendWithTheQuery)
{
    set_route(bank_route(100, true));
    auto kv = probe({"async"});
    EXPECT_EQ(kv["which"], "service");
    EXPECT_EQ(kv["transaction_status"], "0"); // PQTRANS_IDLE
}

TEST_F(ShimApi, PipelineModeStaysOnTheMonolith)
{
    set_route(bank_route(100, true));
    auto kv = probe({"pipeline"});
    EXPECT_EQ(kv["pipeline_results"], "3");
    EXPECT_EQ(kv["pipeline_all_monolith"], "1");
    EXPECT_EQ(kv["after"], "service");
}

TEST_F(ShimApi, PreparedStatementsArePreparedLazilyOnEachBackend)
{
    set_route(bank_route(50, true));
    auto kv = probe({"prepared"});
    EXPECT_EQ(kv["prepare"], "PGRES_COMMAND_OK");
    EXPECT_GT(std::stoi(kv["service"]), 0);
    EXPECT_GT(std::stoi(kv["monolith"]), 0);
    EXPECT_EQ(kv["errors"], "0");
    EXPECT_EQ(kv["reprepared_ok"], "20");
}

TEST_F(ShimApi, ResetCancelAndSingleRowMode)
{
    set_route(bank_route(100, true));
    auto kv = probe({"reset"});
    EXPECT_EQ(kv["status"], "ok");
    EXPECT_EQ(kv["before"], "service");
    EXPECT_EQ(kv["after"], "service");
    kv = probe({"cancel"});
    EXPECT_EQ(kv["sqlstate"], "57014"); // query_canceled: the cancel reached the service
    EXPECT_LT(std::stoi(kv["cancelled_in_ms"]), 15000);
    EXPECT_EQ(kv["after"], "service");
    kv = probe({"single-row"});
    EXPECT_EQ(kv["single_rows"], "50");
    EXPECT_EQ(kv["which"], "service");
}

TEST_F(ShimApi, ATransactionOnAServiceThatDiesIsAnErrorTheApplicationSees)
{
    set_route(bank_route(100, true));
    Background p({probe_program(), "transaction-failure"}, shim_env({{"LD_PRELOAD", std::nullopt}}));
    ASSERT_TRUE(p.wait_for_output("pid=", std::chrono::seconds(20))) << p.out_so_far();
    auto kv = key_values(p.out_so_far());
    EXPECT_EQ(kv["in_txn"], "service");
    service().connect().exec("SELECT pg_terminate_backend(" + kv["pid"] + ")");
    p.write_stdin("go\n");
    auto r = p.wait();
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    kv = key_values(r.out);
    EXPECT_EQ(kv["after_kill"].rfind("ERROR:", 0), 0u) << kv["after_kill"];
    EXPECT_EQ(kv["status"], "ok"); // the application's connection (the monolith's) is fine
    // The service is skipped for a while after failing: the monolith answers.
    EXPECT_EQ(kv["next"], "monolith");
}

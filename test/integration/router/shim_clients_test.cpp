// Unmodified psql and pgbench under LD_PRELOAD=libpymigrate.so, against a
// monolith and a service whose tables hold different data, so each answer
// shows which server ran the statement; pg_stat_statements counts what each
// server received.
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "test/integration/router/router_fixture.hpp"

using namespace pymigrate::testing;

class ShimClients : public RouterClusters
{
};

namespace
{

int
count_lines(const std::string &text, const std::string &line)
{
    int n = 0;
    size_t pos = 0;
    while ((pos = text.find(line, pos)) != std::string::npos) {
        ++n;
        pos += line.size();
    }
    return n;
}

const char *kPsqlScript = R"(SELECT which FROM probe;
SELECT which FROM other;
SELECT p.which || '+' || o.which FROM probe p, other o;
SELECT note() FROM probe;
SELECT 1/0 FROM probe;
SELECT 'after the error: ' || which FROM probe;
COPY (SELECT which FROM probe) TO STDOUT;
)";

} // namespace

TEST_F(ShimClients, WithoutConfigurationItIsAPassThrough)
{
    auto plain = psql(kPsqlScript, {});
    auto preloaded = psql(kPsqlScript, {{"LD_PRELOAD", shim_library()}});
    EXPECT_EQ(preloaded.status, plain.status);
    EXPECT_EQ(preloaded.out, plain.out);
    EXPECT_EQ(preloaded.err, plain.err);
    // Configured, but no route: the same again.
    auto configured = psql(kPsqlScript, shim_env());
    EXPECT_EQ(configured.out, plain.out);
    EXPECT_EQ(configured.err, plain.err);
    EXPECT_NE(plain.out.find("monolith"), std::string::npos);
    EXPECT_EQ(plain.out.find("service"), std::string::npos);
}

TEST_F(ShimClients, PsqlRoutesTheServiceTablesAndNothingElse)
{
    set_route(bank_route(100, true));
    auto r = psql(kPsqlScript, shim_env());
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<std::string> lines;
    std::stringstream ss(r.out);
    for (std::string l; std::getline(ss, l);)
        lines.push_back(l);
    ASSERT_GE(lines.size(), 6u) << r.out;
    EXPECT_EQ(lines[0], "service");                  // the service's table
    EXPECT_EQ(lines[1], "monolith");                 // a table no service owns
    EXPECT_EQ(lines[2], "monolith+monolith");        // a join across the cut stays on the monolith
    EXPECT_EQ(lines[3], "service");                  // function call on a service table
    EXPECT_EQ(lines[4], "after the error: service"); // the session goes on after an error from the service
    EXPECT_EQ(lines[5], "service");                  // COPY TO STDOUT follows its table
    EXPECT_NE(r.err.find("notice from the service"), std::string::npos) << r.err; // notices reach psql
    EXPECT_NE(r.err.find("division by zero"), std::string::npos) << r.err;        // so do errors
}

TEST_F(ShimClients, PsqlTransactionsStayOnTheBackendOfTheirFirstStatement)
{
    set_route(bank_route(100, true));
    auto r = psql("BEGIN;\n"
                  "SELECT which FROM probe;\n"
                  "INSERT INTO svc_audit VALUES (txid_current(), 1);\n"
                  "COMMIT;\n"
                  "BEGIN;\n"
                  "SELECT which FROM other;\n"
                  "SELECT which FROM probe;\n" // a service table, but the transaction began on the monolith
                  "INSERT INTO svc_audit VALUES (txid_current(), 2);\n"
                  "COMMIT;\n"
                  "BEGIN ISOLATION LEVEL REPEATABLE READ;\n"
                  "SELECT which || ' ' || current_setting('transaction_isolation') FROM probe;\n"
                  "ROLLBACK;\n",
                  shim_env());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "BEGIN\nservice\nINSERT 0 1\nCOMMIT\nBEGIN\nmonolith\nmonolith\nINSERT 0 1\nCOMMIT\nBEGIN\n"
                     "service repeatable read\nROLLBACK\n");
    EXPECT_EQ(service().connect().scalar("SELECT string_agg(id::text, ',') FROM svc_audit"), "1");
    EXPECT_EQ(monolith().connect().scalar("SELECT string_agg(id::text, ',') FROM svc_audit"), "2");
    monolith().connect().exec("TRUNCATE svc_audit");
    service().connect().exec("TRUNCATE svc_audit");
}

TEST_F(ShimClients, PsqlCopyInGoesToTheService)
{
    set_route(bank_route(100, true));
    auto r = psql("\\copy svc_audit FROM STDIN\n7\t7\n8\t8\n\\.\nSELECT count(*) FROM svc_audit;\n", shim_env());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("2"), std::string::npos) << r.out;
    EXPECT_EQ(service().connect().scalar("SELECT count(*) FROM svc_audit"), "2");
    EXPECT_EQ(monolith().connect().scalar("SELECT count(*) FROM svc_audit"), "0");
    service().connect().exec("TRUNCATE svc_audit");
}

TEST_F(ShimClients, PsqlWatchKeepsRunningOnTheService)
{
    set_route(bank_route(100, true));
    // \watch runs until interrupted; SIGINT after 1.5 s, as a person would.
    auto r = run_process({"/usr/bin/timeout", "-s", "INT", "1.5", pgbin("psql"), "-X", "-At", "-d", monolith().dsn()},
                         shim_env(), "SELECT which FROM probe \\watch 0.2\n");
    EXPECT_GE(count_lines(r.out, "service"), 3) << r.out << r.err;
    EXPECT_EQ(count_lines(r.out, "monolith"), 0) << r.out;
}

TEST_F(ShimClients, PgbenchBuiltinScriptsInEveryProtocolModeSplitTrafficAtFiftyPercent)
{
    // Not sticky: each transaction draws, so one client reaches both servers.
    set_route(bank_route(50, false));
    for (std::string mode : {"simple", "extended", "prepared"})
        for (std::string clients : {"1", "8"}) {
            reset_counts();
            std::string tx = clients == "1" ? "200" : "40";
            auto r = pgbench({"-M", mode, "-c", clients, "-j", "2", "-t", tx}, shim_env());
            SCOPED_TRACE(mode + " with " + clients + " client(s)");
            ASSERT_EQ(r.status, 0) << r.out << r.err;
            EXPECT_NE(r.out.find("number of failed transactions: 0 "), std::string::npos) << r.out;
            EXPECT_NE(r.out.find("actually processed: " + std::to_string(std::stoi(tx) * std::stoi(clients))),
                      std::string::npos)
                << r.out;
            long on_monolith = calls(monolith(), "UPDATE pgbench_accounts");
            long on_service = calls(service(), "UPDATE pgbench_accounts");
            EXPECT_EQ(on_monolith + on_service, std::stol(tx) * std::stol(clients));
            EXPECT_GT(on_monolith, 0);
            EXPECT_GT(on_service, 0);
            // Half each, give or take: 2.5 standard deviations of a fair coin.
            double n = on_monolith + on_service;
            EXPECT_NEAR(on_service / n, 0.5, 2.5 * 0.5 / std::sqrt(n) + 0.01);
        }
    // The select-only script, prepared.
    reset_counts();
    auto r = pgbench({"-S", "-M", "prepared", "-c", "8", "-j", "2", "-t", "100"}, shim_env());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_GT(calls(monolith(), "SELECT abalance FROM pgbench_accounts"), 0);
    EXPECT_GT(calls(service(), "SELECT abalance FROM pgbench_accounts"), 0);
}

TEST_F(ShimClients, PgbenchTransactionsAreNeverSplitAcrossBackends)
{
    set_route(bank_route(50, false));
    for (int i = 0; i < 2; ++i) {
        auto db = cluster(i).connect();
        db.exec("UPDATE svc_counter SET n = 0");
        db.exec("TRUNCATE svc_audit, svc_audit2");
    }
    // Three writes per transaction, one per table: a transaction split across
    // servers would leave a counter, an audit row or its twin on the other one.
    std::string script = "/tmp/pymigrate-router-script-" + std::to_string(getpid()) + ".sql";
    std::ofstream(script) << "\\set id random(1, 100)\n"
                             "BEGIN;\n"
                             "UPDATE svc_counter SET n = n + 1 WHERE id = :id;\n"
                             "INSERT INTO svc_audit VALUES (txid_current(), :id);\n"
                             "INSERT INTO svc_audit2 VALUES (txid_current(), :id);\n"
                             "END;\n";
    long total = 0;
    for (std::string mode : {"simple", "extended", "prepared"}) {
        auto r = pgbench({"-M", mode, "-c", "8", "-j", "2", "-t", "30", "-f", script}, shim_env());
        ASSERT_EQ(r.status, 0) << mode << ": " << r.out << r.err;
        EXPECT_NE(r.out.find("number of failed transactions: 0 "), std::string::npos) << r.out;
        total += 8 * 30;
    }
    long seen = 0;
    for (int i = 0; i < 2; ++i) {
        auto db = cluster(i).connect();
        long counter = std::stol(*db.scalar("SELECT sum(n) FROM svc_counter"));
        long audit = std::stol(*db.scalar("SELECT count(*) FROM svc_audit"));
        long twins = std::stol(*db.scalar("SELECT count(*) FROM svc_audit a JOIN svc_audit2 b USING (xid, id)"));
        long per_id_mismatch = std::stol(*db.scalar(
            "SELECT count(*) FROM svc_counter c WHERE n <> (SELECT count(*) FROM svc_audit a WHERE a.id = c.id)"));
        SCOPED_TRACE(cluster(i).name());
        EXPECT_EQ(counter, audit);
        EXPECT_EQ(twins, audit);
        EXPECT_EQ(per_id_mismatch, 0);
        EXPECT_GT(audit, 0);
        seen += audit;
    }
    EXPECT_EQ(seen, total);
    std::remove(script.c_str());
}

TEST_F(ShimClients, RollbackDuringARunMovesNewTrafficWithinASecond)
{
    set_route(bank_route(50, false));
    Background bench({pgbin("pgbench"), "-n", "-M", "prepared", "-c", "4", "-j", "2", "-T", "7", monolith().dsn()},
                     shim_env());
    std::this_thread::sleep_for(std::chrono::seconds(2));
    long before = calls(service(), "UPDATE pgbench_accounts");
    auto rb =
        run_process({cli_program(), "route", "rollback", "bank", "--monolith", monolith().dsn(), "--reason", "test"});
    ASSERT_EQ(rb.status, 0) << rb.err;
    // Transactions already running on the service finish there; nothing new
    // starts there once the shims have the new routes.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    long at_one_second = calls(service(), "UPDATE pgbench_accounts");
    auto r = bench.wait();
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("number of failed transactions: 0 "), std::string::npos) << r.out;
    EXPECT_GT(before, 0);
    EXPECT_EQ(calls(service(), "UPDATE pgbench_accounts"), at_one_second) << "service kept receiving new transactions";
    EXPECT_GT(calls(monolith(), "UPDATE pgbench_accounts"), 0);
    EXPECT_NE(shim_log().find("routes version"), std::string::npos);
}

TEST_F(ShimClients, PgbenchPipelineModeStaysOnTheMonolith)
{
    set_route(bank_route(100, true));
    std::string script = "/tmp/pymigrate-router-pipeline-" + std::to_string(getpid()) + ".sql";
    std::ofstream(script) << "\\set id random(1, 100)\n"
                             "\\startpipeline\n"
                             "SELECT n FROM svc_counter WHERE id = :id;\n"
                             "UPDATE svc_counter SET n = n WHERE id = :id;\n"
                             "\\endpipeline\n"
                             "SELECT n FROM svc_counter WHERE id = :id;\n";
    auto r = pgbench({"-M", "extended", "-c", "2", "-t", "50", "-f", script}, shim_env());
    std::remove(script.c_str());
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("number of failed transactions: 0 "), std::string::npos) << r.out;
    EXPECT_EQ(calls(monolith(), "UPDATE svc_counter"), 100);
    EXPECT_EQ(calls(service(), "UPDATE svc_counter"), 0);
    // Out of the pipeline, the same connection routes again.
    EXPECT_EQ(calls(service(), "SELECT n FROM svc_counter"), 100);
}

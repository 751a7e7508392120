// A sticky route, counted on the servers: each pgbench client (one
// application connection) runs every statement on one server, through one
// backend, and the shim sends nothing else per statement to either server
// (no second transaction, probe, SET or lag query). Each statement writes the
// backend pid that ran it and the client's number, so the servers' own
// tables say where every statement went.
#include <fstream>
#include <map>
#include <set>

#include "test/integration/router/router_fixture.hpp"

using namespace pymigrate::testing;

namespace
{

// Per server: client number -> (statements, distinct backend pids).
struct PerClient {
    long statements = 0;
    long backends = 0;
};

std::map<int, PerClient>
per_client(Cluster &c)
{
    auto db = c.connect();
    auto r = db.exec("SELECT id, count(*), count(DISTINCT xid) FROM svc_audit GROUP BY id ORDER BY id");
    std::map<int, PerClient> out;
    for (int i = 0; i < r.rows(); ++i)
        out[std::stoi(std::string(r.value(i, 0)))] = {std::stol(std::string(r.value(i, 1))),
                                                      std::stol(std::string(r.value(i, 2)))};
    return out;
}

// Every statement the server ran since the last reset, utility statements
// included (SET, BEGIN, LISTEN ...), except the counting itself and the
// shim's control plane (its own connection: routes and counters).
std::map<std::string, long>
statements(Cluster &c)
{
    auto db = c.connect();
    auto r = db.exec("SELECT regexp_replace(query, '\\s*/\\*.*\\*/', ''), sum(calls) FROM pg_stat_statements "
                     "WHERE query !~* 'pg_stat_statements|pymigrate|^LISTEN' GROUP BY 1 ORDER BY 1");
    std::map<std::string, long> out;
    for (int i = 0; i < r.rows(); ++i)
        out[std::string(r.value(i, 0))] = std::stol(std::string(r.value(i, 1)));
    return out;
}

std::string
describe(const std::map<std::string, long> &m)
{
    std::string s;
    for (const auto &[q, n] : m)
        s += "  " + std::to_string(n) + "  " + q + "\n";
    return s;
}

} // namespace

class ShimSticky : public RouterClusters
{
  protected:
    void
    SetUp() override
    {
        RouterClusters::SetUp();
        if (HasFatalFailure())
            return;
        // Utility statements counted too, for the sessions opened from now on.
        for (int i = 0; i < 2; ++i) {
            auto db = cluster(i).connect();
            db.exec("ALTER DATABASE postgres SET pg_stat_statements.track_utility = on");
            db.exec("TRUNCATE svc_audit");
        }
        reset_counts();
    }
    void
    TearDown() override
    {
        for (int i = 0; i < 2; ++i)
            if (cluster(i).running())
                cluster(i).connect().exec("ALTER DATABASE postgres RESET pg_stat_statements.track_utility");
        RouterClusters::TearDown();
    }

    static std::string
    script(const std::string &name, const std::string &text)
    {
        std::string path = "/tmp/pymigrate-router-" + name + "-" + std::to_string(getpid()) + ".sql";
        std::ofstream(path) << text;
        return path;
    }
};

TEST_F(ShimSticky, CanaryKeysFromTagsKeepEachConnectionOnOneServerAndSendNothingElse)
{
    // The bench's sticky case: exactly the odd clients are canaries, by a
    // route_key tag naming the client (pgbench substitutes :client_id in
    // the comment too, in simple mode).
    auto spec = bank_route(0, true);
    spec["strategy"] = "canary";
    spec["canary_keys"] = {"client-1", "client-3", "client-5", "client-7"};
    set_route(spec);
    std::string path = script("sticky-tag", "\\set aid random(1, 100000)\n"
                                            "SELECT abalance FROM pgbench_accounts WHERE aid = :aid "
                                            "/*route_key='client-:client_id'*/;\n"
                                            "INSERT INTO svc_audit VALUES (pg_backend_pid(), :client_id) "
                                            "/*route_key='client-:client_id'*/;\n");
    auto r = pgbench({"-M", "simple", "-c", "8", "-j", "2", "-t", "50", "-f", path}, shim_env());
    std::remove(path.c_str());
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("number of failed transactions: 0 "), std::string::npos) << r.out;

    auto m = statements(monolith()), s = statements(service()); // before the counting below runs there
    auto on_monolith = per_client(monolith());
    auto on_service = per_client(service());
    for (int client = 0; client < 8; ++client) {
        SCOPED_TRACE("client " + std::to_string(client));
        auto &here = client % 2 ? on_service : on_monolith;
        auto &there = client % 2 ? on_monolith : on_service;
        EXPECT_EQ(here[client].statements, 50);
        EXPECT_EQ(here[client].backends, 1); // one backend: the connection never moved
        EXPECT_EQ(there.count(client), 0u);  // nothing of it on the other server
    }
    // Per server, the script's two statements of its four clients, and not
    // one statement more: no transaction opened on the other server, no
    // probe, SET or query of the shim's own per statement.
    std::map<std::string, long> want = {
        {"INSERT INTO svc_audit VALUES (pg_backend_pid(), $1)", 200},
        {"SELECT abalance FROM pgbench_accounts WHERE aid = $1", 200},
    };
    EXPECT_EQ(m, want) << "monolith ran:\n" << describe(m);
    EXPECT_EQ(s, want) << "service ran:\n" << describe(s);
}

TEST_F(ShimSticky, ConnectionKeysKeepEachConnectionOnOneServerInEveryProtocol)
{
    // No key given: one random key per connection, so at 50 % about half the
    // connections are on each server and each stays where it started.
    set_route(bank_route(50, true));
    std::string path = script("sticky-conn", "\\set aid random(1, 100000)\n"
                                             "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n"
                                             "INSERT INTO svc_audit VALUES (pg_backend_pid(), :client_id);\n");
    for (std::string mode : {"simple", "extended", "prepared"}) {
        SCOPED_TRACE(mode);
        for (int i = 0; i < 2; ++i)
            cluster(i).connect().exec("TRUNCATE svc_audit");
        reset_counts();
        // 16 connections: all on one side by chance once in 2^15 runs.
        auto r = pgbench({"-M", mode, "-c", "16", "-j", "2", "-t", "20", "-f", path}, shim_env());
        ASSERT_EQ(r.status, 0) << r.out << r.err;
        auto s = statements(service());
        auto on_monolith = per_client(monolith());
        auto on_service = per_client(service());
        EXPECT_GT(on_monolith.size(), 0u);
        EXPECT_GT(on_service.size(), 0u);
        for (int client = 0; client < 16; ++client) {
            SCOPED_TRACE("client " + std::to_string(client));
            bool m = on_monolith.count(client) > 0, s = on_service.count(client) > 0;
            ASSERT_NE(m, s) << "the client's statements are on " << (m ? "both servers" : "neither server");
            const PerClient &pc = m ? on_monolith[client] : on_service[client];
            EXPECT_EQ(pc.statements, 20);
            EXPECT_EQ(pc.backends, 1);
        }
        long service_clients = static_cast<long>(on_service.size());
        std::map<std::string, long> want = {
            {"INSERT INTO svc_audit VALUES (pg_backend_pid(), $1)", 20 * service_clients},
            {"SELECT abalance FROM pgbench_accounts WHERE aid = $1", 20 * service_clients},
        };
        EXPECT_EQ(s, want) << "service ran:\n" << describe(s);
    }
    std::remove(path.c_str());
}

// A small libpq application linked with libpymigrate.so before libpq (the
// "link it" way of using the shim), driven by the router integration tests
// and the benchmark. Each scenario prints key=value lines to check.
//
//   router_libpq_probe SCENARIO [ARGS]   (DSN in $PROBE_DSN, the monolith)
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "shim/pymigrate_shim.h"

namespace
{

using Clock = std::chrono::steady_clock;

PGconn *
connect()
{
    const char *dsn = std::getenv("PROBE_DSN");
    PGconn *c = PQconnectdb(dsn ? dsn : "");
    if (PQstatus(c) != CONNECTION_OK) {
        std::cerr << "connect: " << PQerrorMessage(c);
        std::exit(2);
    }
    return c;
}

// The one value of a one-row query; "ERROR:<sqlstate>" on an error.
std::string
one(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    std::string out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
        out = PQgetvalue(r, 0, 0);
    else if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
        const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        out = std::string("ERROR:") + (s ? s : "none");
    } else
        out = PQresStatus(PQresultStatus(r));
    PQclear(r);
    return out;
}

int
keys(int n)
{
    PGconn *c = connect();
    std::map<std::string, int> count;
    std::map<int, std::string> first;
    int mismatched = 0;
    for (int round = 0; round < 2; ++round)
        for (int i = 0; i < n; ++i) {
            std::string key = "user:" + std::to_string(i);
            pymigrate_set_route_key(c, key.c_str());
            std::string which = one(c, "SELECT which FROM probe");
            if (round == 0) {
                first[i] = which;
                ++count[which];
            } else if (first[i] != which) {
                ++mismatched;
            }
        }
    std::cout << "service=" << count["service"] << "\nmonolith=" << count["monolith"] << "\nmismatched=" << mismatched
              << "\nlast_backend=" << (pymigrate_last_backend(c) ? pymigrate_last_backend(c) : "null") << std::endl;
    PQfinish(c);
    return 0;
}

int
tag(int n)
{
    PGconn *c = connect();
    std::map<std::string, int> count;
    int mismatched = 0;
    for (int i = 0; i < n; ++i) {
        std::string sql = "SELECT which FROM probe /*route_key='user%3A" + std::to_string(i) + "'*/";
        std::string a = one(c, sql.c_str()), b = one(c, sql.c_str());
        ++count[a];
        mismatched += a != b;
    }
    std::cout << "service=" << count["service"] << "\nmonolith=" << count["monolith"] << "\nmismatched=" << mismatched
              << std::endl;
    PQfinish(c);
    return 0;
}

// The async API in non-blocking mode, waiting on PQsocket as an event loop does.
int
async_api()
{
    PGconn *c = connect();
    PQsetnonblocking(c, 1);
    const char *values[] = {"1"};
    if (!PQsendQueryParams(c, "SELECT which FROM probe WHERE $1::int = 1", 1, nullptr, values, nullptr, nullptr, 0)) {
        std::cout << "send_failed=" << PQerrorMessage(c);
        return 1;
    }
    while (PQflush(c) == 1) {
        pollfd p{PQsocket(c), POLLOUT, 0};
        poll(&p, 1, 1000);
    }
    int waits = 0;
    while (PQisBusy(c)) {
        pollfd p{PQsocket(c), POLLIN, 0};
        poll(&p, 1, 5000);
        ++waits;
        if (!PQconsumeInput(c)) {
            std::cout << "consume_failed=" << PQerrorMessage(c);
            return 1;
        }
    }
    std::string which;
    while (PGresult *r = PQgetResult(c)) {
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            which = PQgetvalue(r, 0, 0);
        PQclear(r);
    }
    std::cout << "which=" << which << "\nwaits=" << waits << "\ntransaction_status=" << PQtransactionStatus(c)
              << std::endl;
    PQfinish(c);
    return 0;
}

int
pipeline()
{
    PGconn *c = connect();
    if (!PQenterPipelineMode(c)) {
        std::cout << "enter_failed=1\n";
        return 1;
    }
    for (int i = 0; i < 3; ++i)
        PQsendQueryParams(c, "SELECT which FROM probe", 0, nullptr, nullptr, nullptr, nullptr, 0);
    PQpipelineSync(c);
    std::vector<std::string> seen;
    int syncs = 0;
    while (syncs < 1) {
        PGresult *r = PQgetResult(c);
        if (!r)
            continue;
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC)
            ++syncs;
        else if (PQresultStatus(r) == PGRES_TUPLES_OK)
            seen.push_back(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    PQexitPipelineMode(c);
    std::cout << "pipeline_results=" << seen.size() << "\npipeline_all_monolith="
              << std::all_of(seen.begin(), seen.end(), [](auto &s) { return s == "monolith"; })
              << "\nafter=" << one(c, "SELECT which FROM probe") << std::endl;
    PQfinish(c);
    return 0;
}

int
prepared()
{
    PGconn *c = connect();
    PGresult *r = PQprepare(c, "p1", "SELECT which FROM probe WHERE $1::int > 0", 1, nullptr);
    std::cout << "prepare=" << PQresStatus(PQresultStatus(r)) << "\n";
    PQclear(r);
    std::map<std::string, int> count;
    for (int i = 0; i < 60; ++i) {
        std::string key = "k" + std::to_string(i);
        pymigrate_set_route_key(c, key.c_str());
        const char *values[] = {"1"};
        r = PQexecPrepared(c, "p1", 1, values, nullptr, nullptr, 0);
        ++count[PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : std::string("error")];
        PQclear(r);
    }
    std::cout << "service=" << count["service"] << "\nmonolith=" << count["monolith"] << "\nerrors=" << count["error"]
              << "\n";
    // Re-preparing the name with other text after DEALLOCATE reaches every backend.
    std::cout << "deallocate=" << one(c, "DEALLOCATE p1") << "\n";
    r = PQprepare(c, "p1", "SELECT which || '!' FROM probe WHERE $1::int > 0", 1, nullptr);
    PQclear(r);
    int bang = 0;
    for (int i = 0; i < 20; ++i) {
        std::string key = "k" + std::to_string(i);
        pymigrate_set_route_key(c, key.c_str());
        const char *values[] = {"1"};
        r = PQexecPrepared(c, "p1", 1, values, nullptr, nullptr, 0);
        bang += PQresultStatus(r) == PGRES_TUPLES_OK && std::strchr(PQgetvalue(r, 0, 0), '!') != nullptr;
        PQclear(r);
    }
    std::cout << "reprepared_ok=" << bang << std::endl;
    PQfinish(c);
    return 0;
}

int
reset()
{
    PGconn *c = connect();
    std::string before = one(c, "SELECT which FROM probe");
    one(c, "SET application_name = 'probe-before-reset'");
    PQreset(c);
    std::cout << "status=" << (PQstatus(c) == CONNECTION_OK ? "ok" : "bad") << "\nbefore=" << before
              << "\nafter=" << one(c, "SELECT which FROM probe") << std::endl;
    PQfinish(c);
    return 0;
}

int
cancel()
{
    PGconn *c = connect();
    PGcancel *cn = PQgetCancel(c); // before the query, as psql does
    auto start = Clock::now();
    if (!PQsendQuery(c, "SELECT which, pg_sleep(20) FROM probe")) {
        std::cout << "send_failed=1\n";
        return 1;
    }
    std::thread canceller([cn] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        char err[256];
        PQcancel(cn, err, sizeof err);
    });
    std::string state = "none";
    while (PGresult *r = PQgetResult(c)) {
        if (PQresultStatus(r) == PGRES_FATAL_ERROR && PQresultErrorField(r, PG_DIAG_SQLSTATE))
            state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        PQclear(r);
    }
    canceller.join();
    PQfreeCancel(cn);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    std::cout << "sqlstate=" << state << "\ncancelled_in_ms=" << ms << "\nafter=" << one(c, "SELECT which FROM probe")
              << std::endl;
    PQfinish(c);
    return 0;
}

int
single_row()
{
    PGconn *c = connect();
    PQsendQuery(c, "SELECT which FROM probe, generate_series(1, 50)");
    PQsetSingleRowMode(c);
    int single = 0;
    std::string which;
    while (PGresult *r = PQgetResult(c)) {
        if (PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
            ++single;
            which = PQgetvalue(r, 0, 0);
        }
        PQclear(r);
    }
    std::cout << "single_rows=" << single << "\nwhich=" << which << std::endl;
    PQfinish(c);
    return 0;
}

// A transaction on the service whose service connection dies: the
// application sees the error (as PostgreSQL would), then carries on.
int
transaction_failure()
{
    PGconn *c = connect();
    std::cout << "begin=" << one(c, "BEGIN") << "\n";
    std::cout << "in_txn=" << one(c, "SELECT which FROM probe") << "\n";
    std::cout << "pid=" << one(c, "SELECT pg_backend_pid() FROM probe") << std::endl;
    std::string go;
    std::getline(std::cin, go); // the test terminates that backend, then says go
    std::cout << "after_kill=" << one(c, "SELECT which FROM probe") << "\n";
    std::cout << "status=" << (PQstatus(c) == CONNECTION_OK ? "ok" : "bad") << "\n";
    one(c, "ROLLBACK");
    std::cout << "next=" << one(c, "SELECT which FROM probe") << std::endl;
    PQfinish(c);
    return 0;
}

// Runs a statement on the service's table every few milliseconds for
// SECONDS, printing each change of backend with its time.
int
loop(double seconds)
{
    PGconn *c = connect();
    auto start = Clock::now();
    std::string last;
    int errors = 0, n = 0;
    while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
        std::string which = one(c, "SELECT which FROM probe");
        ++n;
        if (which.rfind("ERROR", 0) == 0)
            ++errors;
        if (which != last) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
            std::cout << "t=" << ms << " which=" << which << std::endl;
            last = which;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::cout << "statements=" << n << "\nerrors=" << errors << std::endl;
    PQfinish(c);
    return 0;
}

// Rollback propagation: time from the rollback's commit to the first
// statement the shim runs on the monolith, while statements keep coming.
// The rule must be at 100 % on "probe"; SERVICE is its name.
int
propagation(const char *service, int rounds)
{
    PGconn *app = connect();
    PGconn *admin = connect(); // a statement that touches no table: the monolith
    std::vector<long> us;
    std::string name = std::string("'") + service + "'";
    for (int i = 0; i < rounds; ++i) {
        one(admin, ("SELECT pymigrate.route_set(jsonb_build_object('name', " + name +
                    ", 'percent', 100, 'enabled', true), 'bench', 'set')")
                       .c_str());
        auto deadline = Clock::now() + std::chrono::seconds(10);
        while (one(app, "SELECT which FROM probe") != "service" && Clock::now() < deadline)
            ;
        // Keep the application busy for a random while first, so the
        // rollback does not land in step with the shim's polling.
        auto busy_until = Clock::now() + std::chrono::microseconds(std::rand() % 50000);
        while (Clock::now() < busy_until)
            one(app, "SELECT which FROM probe");
        std::string rb = one(admin, ("SELECT pymigrate.route_rollback(" + name + ", 'bench')").c_str());
        auto committed = Clock::now();
        deadline = committed + std::chrono::seconds(10);
        while (one(app, "SELECT which FROM probe") != "monolith" && Clock::now() < deadline)
            ;
        us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - committed).count());
    }
    std::sort(us.begin(), us.end());
    std::cout << "rounds=" << rounds << "\nmedian_us=" << us[us.size() / 2] << "\nmax_us=" << us.back() << std::endl;
    PQfinish(app);
    PQfinish(admin);
    return 0;
}

} // namespace

int
main(int argc, char **argv)
{
    std::string s = argc > 1 ? argv[1] : "";
    if (s == "keys")
        return keys(argc > 2 ? std::atoi(argv[2]) : 200);
    if (s == "tag")
        return tag(argc > 2 ? std::atoi(argv[2]) : 100);
    if (s == "async")
        return async_api();
    if (s == "pipeline")
        return pipeline();
    if (s == "prepared")
        return prepared();
    if (s == "reset")
        return reset();
    if (s == "cancel")
        return cancel();
    if (s == "single-row")
        return single_row();
    if (s == "transaction-failure")
        return transaction_failure();
    if (s == "loop")
        return loop(argc > 2 ? std::atof(argv[2]) : 3);
    if (s == "propagation")
        return propagation(argc > 2 ? argv[2] : "probe", argc > 3 ? std::atoi(argv[3]) : 5);
    std::cerr << "usage: router_libpq_probe keys|tag|async|pipeline|prepared|reset|cancel|single-row|"
                 "transaction-failure|loop|propagation"
              << std::endl;
    return 2;
}

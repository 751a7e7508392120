// bench_router_alternate: the statements of pgbench -S (simple protocol), sent
// by plain libpq over one or two connections per client; the baseline that
// isolates the shim at 50 %.
//
// Spreading one client's statements over two servers has a cost of its own,
// whoever does it: each backend now sleeps between two of its statements
// while the other works, so every statement wakes a sleeping process (on
// this 2-core machine, often across cores). This program does that spreading
// with no shim: `--dsn A --dsn B --percent 50` draws a backend per statement,
// as the shim's non-sticky route does. Run with only `--dsn A` under
// LD_PRELOAD=libpymigrate.so and a route at 50 %, the very same client
// spreads through the shim instead, so the ratio of the two is the shim's.
//
// `--sticky`: client i sends everything to DSN i % 2 instead (a sticky route:
// one key per connection, half of them on each server). `--tag` adds a
// sqlcommenter tag with the client's number (/*route_key='client-3'*/), so a
// route can send exactly the odd clients to the service (canary keys).
//
// Prints pgbench's two summary lines ("number of transactions actually
// processed: N/N", "tps = X (without initial connection time)") so the
// benchmark script reads both alike.
#include <libpq-fe.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace
{

struct Options {
    std::vector<std::string> dsns;
    int percent = 0;     // share of statements on the second DSN
    bool sticky = false; // client i on DSN i % 2, every statement
    bool tag = false;    // a route_key tag naming the client
    int clients = 4;
    int threads = 2;
    int seconds = 5;
    int scale = 1;
};

struct Client {
    int number = 0;
    std::vector<PGconn *> conns;
    PGconn *busy = nullptr; // the connection with the statement in flight
};

[[noreturn]] void
die(const std::string &why)
{
    std::fprintf(stderr, "bench_router_alternate: %s\n", why.c_str());
    std::exit(1);
}

Options
parse(int argc, char **argv)
{
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--sticky" || a == "--tag") {
            (a == "--sticky" ? o.sticky : o.tag) = true;
            continue;
        }
        if (i + 1 >= argc)
            die("option " + a + " needs a value");
        std::string v = argv[++i];
        try {
            if (a == "--dsn")
                o.dsns.push_back(v);
            else if (a == "--percent")
                o.percent = std::stoi(v);
            else if (a == "--clients")
                o.clients = std::stoi(v);
            else if (a == "--threads")
                o.threads = std::stoi(v);
            else if (a == "--seconds")
                o.seconds = std::stoi(v);
            else if (a == "--scale")
                o.scale = std::stoi(v);
            else
                die("unknown option " + a);
        } catch (const std::logic_error &) {
            die("option " + a + " needs a number, not \"" + v + "\"");
        }
    }
    if (o.dsns.empty() || o.dsns.size() > 2)
        die("give one or two --dsn");
    bool counts_ok = o.clients >= o.threads && o.threads >= 1 && o.seconds >= 1 && o.scale >= 1;
    if (o.percent < 0 || o.percent > 100 || !counts_ok)
        die("--percent 0..100, --clients >= --threads >= 1, --seconds >= 1, --scale >= 1");
    return o;
}

// Sends one statement on the connection the draw picks.
bool
send(Client &c, const Options &o, std::mt19937_64 &rng)
{
    PGconn *conn = c.conns[0];
    if (c.conns.size() > 1 && (o.sticky ? c.number % 2 == 1 : static_cast<int>(rng() % 100) < o.percent))
        conn = c.conns[1];
    long aid = static_cast<long>(rng() % (100000UL * static_cast<unsigned long>(o.scale))) + 1;
    std::string sql = "SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(aid);
    if (o.tag)
        sql += " /*route_key='client-" + std::to_string(c.number) + "'*/";
    sql += ";";
    if (!PQsendQuery(conn, sql.c_str()))
        return false;
    c.busy = conn;
    return true;
}

// pgbench's thread loop: every client has one statement in flight; wait for
// any socket, read what arrived, and send the next statement of each client
// whose answer is complete.
void
run_thread(std::vector<Client> &clients, const Options &o, std::chrono::steady_clock::time_point end,
           std::atomic<long> &done, std::atomic<bool> &failed)
{
    std::mt19937_64 rng(std::random_device{}());
    long count = 0;
    for (auto &c : clients)
        if (!send(c, o, rng))
            failed = true;
    std::vector<pollfd> fds(clients.size());
    while (!failed && std::chrono::steady_clock::now() < end) {
        for (size_t i = 0; i < clients.size(); ++i)
            fds[i] = pollfd{PQsocket(clients[i].busy), POLLIN, 0};
        if (::poll(fds.data(), fds.size(), 100) < 0)
            break;
        for (size_t i = 0; i < clients.size(); ++i) {
            if (!(fds[i].revents & (POLLIN | POLLERR | POLLHUP)))
                continue;
            Client &c = clients[i];
            if (!PQconsumeInput(c.busy)) {
                failed = true;
                break;
            }
            if (PQisBusy(c.busy))
                continue;
            while (PGresult *r = PQgetResult(c.busy)) {
                if (PQresultStatus(r) != PGRES_TUPLES_OK)
                    failed = true;
                PQclear(r);
            }
            ++count;
            if (!send(c, o, rng))
                failed = true;
        }
    }
    // The statements still in flight are finished, not counted.
    for (auto &c : clients)
        while (PGresult *r = PQgetResult(c.busy))
            PQclear(r);
    done += count;
}

} // namespace

int
main(int argc, char **argv)
{
    Options o = parse(argc, argv);
    std::vector<std::vector<Client>> per_thread(static_cast<size_t>(o.threads));
    for (int i = 0; i < o.clients; ++i) {
        Client c;
        c.number = i;
        for (const auto &dsn : o.dsns) {
            PGconn *conn = PQconnectdb(dsn.c_str());
            if (PQstatus(conn) != CONNECTION_OK)
                die("cannot connect: " + std::string(PQerrorMessage(conn)));
            c.conns.push_back(conn);
        }
        per_thread[static_cast<size_t>(i % o.threads)].push_back(c);
    }
    std::atomic<long> done{0};
    std::atomic<bool> failed{false};
    auto start = std::chrono::steady_clock::now();
    auto end = start + std::chrono::seconds(o.seconds);
    std::vector<std::thread> threads;
    for (auto &clients : per_thread)
        threads.emplace_back([&, end] { run_thread(clients, o, end, done, failed); });
    for (auto &t : threads)
        t.join();
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (auto &clients : per_thread)
        for (auto &c : clients)
            for (PGconn *conn : c.conns)
                PQfinish(conn);
    if (failed)
        die("a statement failed");
    std::printf("number of transactions actually processed: %ld/%ld\n", done.load(), done.load());
    std::printf("tps = %f (without initial connection time)\n", static_cast<double>(done.load()) / elapsed);
    return 0;
}

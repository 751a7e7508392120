// Micro-benchmarks of the router's per-statement work (Google Benchmark):
// decide() and statement classification with a warm cache, and the whole
// decision a routed statement pays. bench/router/run.sh prints them.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "router/classify.hpp"
#include "router/decide.hpp"
#include "router/route_json.hpp"

using namespace pymigrate::router;

namespace
{

RouteTable
bank_routes()
{
    std::string error;
    auto t = parse_route_document(
        R"({"format":1,"services":[{"name":"bank","dsn":"dbname=svc","percent":50,
            "tables":["public.pgbench_accounts","public.pgbench_branches","public.pgbench_tellers","public.pgbench_history"]}]})",
        error);
    return std::move(*t);
}

std::vector<std::string>
keys(int n)
{
    std::vector<std::string> k;
    for (int i = 0; i < n; ++i)
        k.push_back("user:" + std::to_string(i * 7919));
    return k;
}

void
BM_Decide(benchmark::State &state)
{
    RouteTable t = bank_routes();
    const RouteRule &r = t.rules()[0];
    auto ks = keys(1024);
    size_t i = 0;
    for (auto _ : state) {
        RoutingKey key{ks[i++ & 1023], 0};
        benchmark::DoNotOptimize(decide(r, t.seed(0), key, 0));
    }
}
BENCHMARK(BM_Decide);

void
BM_DecideConnectionKey(benchmark::State &state)
{
    RouteTable t = bank_routes();
    const RouteRule &r = t.rules()[0];
    uint64_t k = 1;
    for (auto _ : state) {
        RoutingKey key{{}, k++ * 0x9E3779B97F4A7C15ULL};
        benchmark::DoNotOptimize(decide(r, t.seed(0), key, 0));
    }
}
BENCHMARK(BM_DecideConnectionKey);

// Each call timed on its own, for the distribution: p50 / p99 / p99.9 in ns,
// including the clock read itself (about 20 ns), so an upper bound.
void
BM_DecideLatency(benchmark::State &state)
{
    RouteTable t = bank_routes();
    const RouteRule &r = t.rules()[0];
    auto ks = keys(1024);
    std::vector<double> ns;
    ns.reserve(1 << 20);
    size_t i = 0;
    for (auto _ : state) {
        RoutingKey key{ks[i++ & 1023], 0};
        auto a = std::chrono::steady_clock::now();
        benchmark::DoNotOptimize(decide(r, t.seed(0), key, 0));
        auto b = std::chrono::steady_clock::now();
        if (ns.size() < ns.capacity())
            ns.push_back(std::chrono::duration<double, std::nano>(b - a).count());
    }
    std::sort(ns.begin(), ns.end());
    auto pct = [&](double q) { return ns.empty() ? 0.0 : ns[static_cast<size_t>(q * (ns.size() - 1))]; };
    state.counters["p50_ns"] = pct(0.50);
    state.counters["p99_ns"] = pct(0.99);
    state.counters["p999_ns"] = pct(0.999);
}
BENCHMARK(BM_DecideLatency);

// pgbench's statements with a different literal each time: the scan for the
// shape, a hash, one lookup. What every routed statement pays.
void
BM_ClassifyWarm(benchmark::State &state, const char *prefix, const char *suffix)
{
    ClassifierCache cache;
    std::vector<std::string> texts;
    for (int i = 0; i < 1024; ++i)
        texts.push_back(prefix + std::to_string(i * 97 + 1) + suffix);
    ScanResult scan;
    for (const auto &t : texts)
        (void)cache.classify(t.c_str(), t.size(), scan);
    size_t i = 0;
    for (auto _ : state) {
        const std::string &t = texts[i++ & 1023];
        benchmark::DoNotOptimize(cache.classify(t.c_str(), t.size(), scan).get());
    }
    state.counters["parses"] = static_cast<double>(cache.misses());
}
BENCHMARK_CAPTURE(BM_ClassifyWarm, select_only, "SELECT abalance FROM pgbench_accounts WHERE aid = ", ";");
BENCHMARK_CAPTURE(BM_ClassifyWarm, tpcb_update,
                  "UPDATE pgbench_accounts SET abalance = abalance + -4321 WHERE aid = ", ";");
BENCHMARK_CAPTURE(BM_ClassifyWarm, join_with_tag,
                  "SELECT a.aid, b.bbalance FROM pgbench_accounts a JOIN pgbench_branches b USING (bid) "
                  "WHERE a.aid = ",
                  " AND b.bid > 0 /*route_key='user%3A42',traceparent='00-4bf92f3577b34da6-01'*/");

// A cold parse by libpg_query, for scale: what the cache saves.
void
BM_ClassifyCold(benchmark::State &state)
{
    const char *sql = "SELECT abalance FROM pgbench_accounts WHERE aid = 42;";
    for (auto _ : state)
        benchmark::DoNotOptimize(classify_sql(sql));
}
BENCHMARK(BM_ClassifyCold);

// The whole decision for one statement: classify (warm), find the owner, decide.
void
BM_RouteStatement(benchmark::State &state)
{
    RouteTable t = bank_routes();
    ClassifierCache cache;
    std::vector<std::string> texts;
    for (int i = 0; i < 1024; ++i)
        texts.push_back("SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(i * 97 + 1) + ";");
    ScanResult scan;
    size_t i = 0;
    uint64_t conn_key = 0x1234567;
    for (auto _ : state) {
        const std::string &text = texts[i++ & 1023];
        const auto &c = cache.classify(text.c_str(), text.size(), scan);
        int owner = resolve_service(*c, t);
        if (owner >= 0)
            benchmark::DoNotOptimize(
                decide(t.rules()[static_cast<size_t>(owner)], t.seed(owner), RoutingKey{{}, conn_key}, 0));
    }
}
BENCHMARK(BM_RouteStatement);

} // namespace

BENCHMARK_MAIN();

// Latency buckets, counters, gates, ramp steps and the units the CLI reads.
#include <gtest/gtest.h>

#include "router/health.hpp"
#include "router/ramp.hpp"

using namespace pymigrate::router;

TEST(Health, BucketsCoverTheirValues)
{
    int last = -1;
    for (uint64_t us : {0ull, 1ull, 3ull, 4ull, 5ull, 7ull, 8ull, 9ull, 100ull, 1000ull, 123456ull, 1ull << 30}) {
        int b = latency_bucket(us);
        EXPECT_GE(b, last);
        last = b;
        EXPECT_LT(b, kLatencyBuckets);
        if (b < kLatencyBuckets - 1) {
            EXPECT_GE(latency_bucket_upper(b), us) << us;
            EXPECT_LE(latency_bucket_upper(b), us + us / 4 + 1) << us;
        }
    }
}

TEST(Health, PercentilesAndRates)
{
    HealthCounters h;
    EXPECT_FALSE(h.error_rate());
    EXPECT_FALSE(h.percentile(0.95));
    h.routed = 200;
    h.errors = 3;
    for (int i = 0; i < 95; ++i)
        ++h.latency[static_cast<size_t>(latency_bucket(100))];
    for (int i = 0; i < 5; ++i)
        ++h.latency[static_cast<size_t>(latency_bucket(50000))];
    EXPECT_DOUBLE_EQ(*h.error_rate(), 0.015);
    EXPECT_LE(*h.percentile(0.95), 125u);
    EXPECT_GE(*h.percentile(0.99), 50000u);
}

TEST(Health, DifferencesAndRestarts)
{
    HealthCounters a, b;
    a.routed = 10;
    a.errors = 1;
    b.routed = 25;
    b.errors = 1;
    b.latency[3] = 4;
    auto d = b.since(a);
    EXPECT_EQ(d.routed, 15u);
    EXPECT_EQ(d.errors, 0u);
    auto restarted = a.since(b);
    EXPECT_EQ(restarted.routed, 10u);
}

TEST(Ramp, Steps)
{
    EXPECT_EQ(ramp_steps(0, 10000, 2500), (std::vector<int>{2500, 5000, 7500, 10000}));
    EXPECT_EQ(ramp_steps(1000, 2500, 1000), (std::vector<int>{2000, 2500}));
    EXPECT_EQ(ramp_steps(0, 10000, 3000), (std::vector<int>{3000, 6000, 9000, 10000})); // the last step is short
    EXPECT_EQ(ramp_steps(5000, 0, 500), (std::vector<int>{0}));                         // down: one step
    EXPECT_EQ(ramp_steps(0, 500, 0), (std::vector<int>{500}));                          // no step size: one jump
}

TEST(Ramp, AlreadyAtTheTargetIsAnEmptyPlan)
{
    EXPECT_TRUE(ramp_steps(5000, 5000, 500).empty());
    EXPECT_TRUE(ramp_steps(0, 0, 500).empty());
    EXPECT_TRUE(ramp_steps(10000, 10000, 0).empty());
}

TEST(Ramp, GatesFailWithTheNumbers)
{
    GateLimits limits;
    limits.max_error_rate = 0.01;
    limits.max_p95_us = 50000;
    limits.max_lag_seconds = 2;
    HealthCounters w;
    w.routed = 1000;
    w.errors = 5;
    w.latency[static_cast<size_t>(latency_bucket(1000))] = 1000;
    EXPECT_TRUE(evaluate_gates(limits, w, SyncStatus{false, "", 0.5}).pass);
    w.errors = 31;
    auto v = evaluate_gates(limits, w, std::nullopt);
    EXPECT_FALSE(v.pass);
    EXPECT_NE(v.failed.find("error rate 3.10 %"), std::string::npos) << v.failed;
    w.errors = 0;
    v = evaluate_gates(limits, w, SyncStatus{false, "", 3.0});
    EXPECT_FALSE(v.pass);
    EXPECT_NE(v.failed.find("sync lag"), std::string::npos);
    v = evaluate_gates(limits, w, SyncStatus{true, "sub_a: not streaming", 0});
    EXPECT_FALSE(v.pass);
    EXPECT_NE(v.failed.find("sub_a"), std::string::npos);
    w.latency = {};
    w.latency[static_cast<size_t>(latency_bucket(80000))] = 1000;
    v = evaluate_gates(limits, w, std::nullopt);
    EXPECT_FALSE(v.pass);
    EXPECT_NE(v.failed.find("p95"), std::string::npos);
}

TEST(Ramp, TooLittleTrafficDoesNotTripTheErrorGate)
{
    GateLimits limits;
    limits.max_error_rate = 0.01;
    HealthCounters w;
    w.routed = 3;
    w.errors = 1;
    auto v = evaluate_gates(limits, w, std::nullopt);
    EXPECT_TRUE(v.pass);
    EXPECT_NE(v.summary.find("too few"), std::string::npos);
}

TEST(Ramp, Units)
{
    EXPECT_EQ(parse_duration_ms("30s"), 30000u);
    EXPECT_EQ(parse_duration_ms("500ms"), 500u);
    EXPECT_EQ(parse_duration_ms("1.5s"), 1500u);
    EXPECT_EQ(parse_duration_ms("2m"), 120000u);
    EXPECT_FALSE(parse_duration_ms("30"));
    EXPECT_FALSE(parse_duration_ms("abc"));
    EXPECT_FALSE(parse_duration_ms("5 days"));
    EXPECT_DOUBLE_EQ(*parse_percent_fraction("1%"), 0.01);
    EXPECT_DOUBLE_EQ(*parse_percent_fraction("0.5"), 0.005);
    EXPECT_FALSE(parse_percent_fraction("150%"));
    EXPECT_FALSE(parse_percent_fraction("x%"));
}

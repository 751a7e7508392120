// decide(): bucketing, monotonic ramps, each strategy, stickiness.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "router/decide.hpp"

using namespace pymigrate::router;

namespace
{

RouteRule
rule(Strategy s, int bp)
{
    RouteRule r;
    r.service = "billing";
    r.tables = {"public.invoices"};
    r.dsn = "dbname=billing";
    r.strategy = s;
    r.basis_points = bp;
    r.salt = "billing";
    return r;
}

Target
for_key(const RouteRule &r, const std::string &key)
{
    return decide(r, salt_seed(effective_salt(r)), RoutingKey{key, 0}, 0);
}

} // namespace

TEST(Decide, BucketsAreStableAndInRange)
{
    uint64_t seed = salt_seed("billing");
    EXPECT_EQ(bucket(seed, std::string_view("user:42")), bucket(seed, std::string_view("user:42")));
    for (int i = 0; i < 1000; ++i) {
        int b = bucket(seed, "k" + std::to_string(i));
        EXPECT_GE(b, 0);
        EXPECT_LT(b, kBuckets);
    }
    // Known values pin the hash: changing it would move users between
    // databases on upgrade.
    EXPECT_EQ(bucket(salt_seed("billing"), std::string_view("user:1")), 4715);
    EXPECT_EQ(bucket(salt_seed("billing"), uint64_t{42}), 2781);
    EXPECT_NE(bucket(salt_seed("a"), std::string_view("user:1")) * 10000 +
                  bucket(salt_seed("a"), std::string_view("user:2")),
              bucket(salt_seed("b"), std::string_view("user:1")) * 10000 +
                  bucket(salt_seed("b"), std::string_view("user:2")));
}

TEST(Decide, ShareMatchesThePercentage)
{
    for (int bp : {0, 500, 2500, 5000, 9999, 10000}) {
        auto r = rule(Strategy::Percentage, bp);
        int service = 0;
        const int n = 20000;
        for (int i = 0; i < n; ++i)
            service += for_key(r, "user:" + std::to_string(i)) == Target::Service;
        EXPECT_NEAR(service / double(n), bp / 10000.0, 0.015) << bp;
        if (bp == 0) {
            EXPECT_EQ(service, 0);
        }
        if (bp == 10000) {
            EXPECT_EQ(service, n);
        }
    }
}

TEST(Decide, RampNeverMovesAKeyBackToTheMonolith)
{
    std::map<std::string, bool> on_service;
    for (int bp = 0; bp <= 10000; bp += 250) {
        auto r = rule(Strategy::Percentage, bp);
        for (int i = 0; i < 2000; ++i) {
            std::string key = "user:" + std::to_string(i);
            bool now = for_key(r, key) == Target::Service;
            if (on_service[key]) {
                EXPECT_TRUE(now) << key << " went back to the monolith at " << bp;
            }
            on_service[key] = now;
        }
    }
}

TEST(Decide, ConnectionKeyWhenNoExplicitKey)
{
    auto r = rule(Strategy::Percentage, 5000);
    uint64_t seed = salt_seed("billing");
    int service = 0;
    for (uint64_t k = 1; k <= 4000; ++k) {
        Target t = decide(r, seed, RoutingKey{{}, k * 0x9E3779B97F4A7C15ULL}, 0);
        EXPECT_EQ(t, decide(r, seed, RoutingKey{{}, k * 0x9E3779B97F4A7C15ULL}, 12345)) << "sticky ignores the draw";
        service += t == Target::Service;
    }
    EXPECT_NEAR(service / 4000.0, 0.5, 0.04);
}

TEST(Decide, NotStickyUsesTheDraw)
{
    auto r = rule(Strategy::Percentage, 3000);
    r.sticky = false;
    uint64_t seed = salt_seed("billing");
    EXPECT_EQ(decide(r, seed, RoutingKey{"user:1", 7}, 2999), Target::Service);
    EXPECT_EQ(decide(r, seed, RoutingKey{"user:1", 7}, 3000), Target::Monolith);
    int service = 0;
    for (int i = 0; i < 10000; ++i)
        service += decide(r, seed, RoutingKey{"same-key", 7}, random_u64()) == Target::Service;
    EXPECT_NEAR(service / 10000.0, 0.3, 0.03);
}

TEST(Decide, CanaryKeysFirstThenTheShare)
{
    auto r = rule(Strategy::Canary, 0);
    r.canary_keys = {"user:7", "tenant:acme"};
    EXPECT_EQ(for_key(r, "user:7"), Target::Service);
    EXPECT_EQ(for_key(r, "tenant:acme"), Target::Service);
    EXPECT_EQ(for_key(r, "user:8"), Target::Monolith);
    r.basis_points = 10000;
    EXPECT_EQ(for_key(r, "user:8"), Target::Service);
}

TEST(Decide, BlueGreenSwitchesEverything)
{
    auto r = rule(Strategy::BlueGreen, 0);
    EXPECT_EQ(for_key(r, "a"), Target::Monolith);
    r.active = Target::Service;
    EXPECT_EQ(for_key(r, "a"), Target::Service);
    EXPECT_EQ(for_key(r, ""), Target::Service);
}

TEST(Decide, FeatureFlagWithOverrides)
{
    auto r = rule(Strategy::FeatureFlag, 0);
    r.flag.name = "new-billing";
    r.flag.overrides = {{"user:1", true}, {"user:2", false}};
    EXPECT_EQ(for_key(r, "user:1"), Target::Service);
    EXPECT_EQ(for_key(r, "user:3"), Target::Monolith);
    r.flag.enabled = true;
    EXPECT_EQ(for_key(r, "user:2"), Target::Monolith);
    EXPECT_EQ(for_key(r, "user:3"), Target::Service);
}

TEST(Decide, DisabledRuleRoutesNothing)
{
    auto r = rule(Strategy::Percentage, 10000);
    r.enabled = false;
    EXPECT_TRUE(r.routes_nothing());
    EXPECT_EQ(for_key(r, "x"), Target::Monolith);
    r.enabled = true;
    EXPECT_FALSE(r.routes_nothing());
    EXPECT_TRUE(rule(Strategy::Percentage, 0).routes_nothing());
    auto c = rule(Strategy::Canary, 0);
    c.canary_keys = {"k"};
    EXPECT_FALSE(c.routes_nothing());
}

TEST(Decide, StrategyNames)
{
    Strategy s;
    EXPECT_TRUE(parse_strategy("blue-green", s));
    EXPECT_EQ(s, Strategy::BlueGreen);
    EXPECT_TRUE(parse_strategy("feature_flag", s));
    EXPECT_EQ(s, Strategy::FeatureFlag);
    EXPECT_FALSE(parse_strategy("random", s));
}

#include "router/decide.hpp"

#include <xxhash.h>

#include <chrono>
#include <random>

namespace pymigrate::router
{

uint64_t
salt_seed(std::string_view salt) noexcept
{
    return XXH3_64bits(salt.data(), salt.size());
}

int
bucket(uint64_t seed, std::string_view key) noexcept
{
    return static_cast<int>(XXH3_64bits_withSeed(key.data(), key.size(), seed) % kBuckets);
}

int
bucket(uint64_t seed, uint64_t key) noexcept
{
    unsigned char bytes[8];
    for (int i = 0; i < 8; ++i)
        bytes[i] = static_cast<unsigned char>(key >> (8 * i)); // same bucket on every platform
    return static_cast<int>(XXH3_64bits_withSeed(bytes, sizeof bytes, seed) % kBuckets);
}

namespace
{

bool
in_share(const RouteRule &rule, uint64_t seed, const RoutingKey &key, uint64_t random_draw) noexcept
{
    if (rule.basis_points <= 0)
        return false;
    if (rule.basis_points >= kBuckets)
        return true;
    int b;
    if (!rule.sticky)
        b = static_cast<int>(random_draw % kBuckets);
    else if (!key.explicit_key.empty())
        b = bucket(seed, key.explicit_key);
    else
        b = bucket(seed, key.connection_key);
    return b < rule.basis_points;
}

} // namespace

Target
decide(const RouteRule &rule, uint64_t seed, const RoutingKey &key, uint64_t random_draw) noexcept
{
    if (!rule.enabled)
        return Target::Monolith;
    switch (rule.strategy) {
    case Strategy::Percentage:
        return in_share(rule, seed, key, random_draw) ? Target::Service : Target::Monolith;
    case Strategy::Canary:
        if (!key.explicit_key.empty())
            for (const auto &k : rule.canary_keys)
                if (k == key.explicit_key)
                    return Target::Service;
        return in_share(rule, seed, key, random_draw) ? Target::Service : Target::Monolith;
    case Strategy::BlueGreen:
        return rule.active;
    case Strategy::FeatureFlag:
        if (!key.explicit_key.empty()) {
            auto it = rule.flag.overrides.find(key.explicit_key);
            if (it != rule.flag.overrides.end())
                return it->second ? Target::Service : Target::Monolith;
        }
        return rule.flag.enabled ? Target::Service : Target::Monolith;
    }
    return Target::Monolith;
}

uint64_t
random_u64() noexcept
{
    thread_local uint64_t state = [] {
        std::random_device rd; // getrandom(2) on Linux: distinct across processes started together
        auto t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        return (static_cast<uint64_t>(rd()) << 32 | rd()) ^ t;
    }();
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

} // namespace pymigrate::router

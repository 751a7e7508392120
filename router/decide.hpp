// decide(): does this key's statement go to the service or the monolith?
//
// Bucketing is XXH3 of the rule's salt (as the seed) and the key, into 10,000
// buckets; a key goes to the service when its bucket is below the rule's
// basis points. So a ramp from 5 % to 10 % only ever adds keys to the
// service: a key never moves back to the monolith while the percentage grows
// (the Unleash / LaunchDarkly rollout property). A different salt reshuffles.
#pragma once

#include <cstdint>
#include <string_view>

#include "router/rule.hpp"

namespace pymigrate::router
{

// The routing key of one statement.
struct RoutingKey {
    // From a sqlcommenter tag (/*route_key='user:42'*/) or the shim's API;
    // empty when the application gave none.
    std::string_view explicit_key;
    // One random key per connection, used when there is no explicit key.
    uint64_t connection_key = 0;
};

[[nodiscard]] uint64_t salt_seed(std::string_view salt) noexcept;
[[nodiscard]] int bucket(uint64_t seed, std::string_view key) noexcept;
[[nodiscard]] int bucket(uint64_t seed, uint64_t key) noexcept;

// `seed` is salt_seed(effective_salt(rule)) (RouteTable keeps it);
// `random_draw` is used instead of the key when the rule is not sticky.
[[nodiscard]] Target decide(const RouteRule &rule, uint64_t seed, const RoutingKey &key, uint64_t random_draw) noexcept;

// A fast per-thread pseudo-random number (splitmix64), for non-sticky rules
// and per-connection keys. Not for anything secret.
[[nodiscard]] uint64_t random_u64() noexcept;

} // namespace pymigrate::router

// A route rule: which tables belong to a service, and how much of their
// traffic goes to the service's own database instead of the monolith.
//
// Plain data, no PostgreSQL or libpq: the shim, the CLI and the tests share it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pymigrate::router
{

// Percentages are held in basis points (0.01 %): 10,000 buckets.
inline constexpr int kBuckets = 10000;

enum class Strategy : uint8_t {
    Percentage,  // a share of keys, by bucket
    Canary,      // listed keys always, then a share of the others
    BlueGreen,   // the whole service at once: active target monolith or service
    FeatureFlag, // a named flag, on or off, with per-key overrides
};

enum class Target : uint8_t { Monolith, Service };

// What a transaction does when its first routed statement is for a service.
enum class TransactionPolicy : uint8_t {
    FirstStatement, // the transaction follows its first routed statement
    Monolith,       // explicit transactions always stay on the monolith
};

struct FeatureFlag {
    std::string name;
    bool enabled = false;
    std::map<std::string, bool, std::less<>> overrides; // key -> on/off
};

struct RouteRule {
    std::string service;             // ^[a-z][a-z0-9_]{0,62}$
    std::vector<std::string> tables; // "schema.table", exact (already case-folded) names
    std::string dsn;                 // the service database, without a password
    Strategy strategy = Strategy::Percentage;
    int basis_points = 0; // 0..10000
    std::vector<std::string> canary_keys;
    Target active = Target::Monolith; // blue-green
    FeatureFlag flag;
    bool sticky = true;
    std::string salt; // empty: the service name
    TransactionPolicy transactions = TransactionPolicy::FirstStatement;
    bool enabled = true; // false after a rollback: nothing goes to the service
    int64_t version = 0;

    // True when no key can be routed to the service (a fast path).
    [[nodiscard]] bool routes_nothing() const noexcept;
};

// The salt that bucketing uses: the rule's, or the service name.
inline std::string_view
effective_salt(const RouteRule &r) noexcept
{
    return r.salt.empty() ? std::string_view(r.service) : std::string_view(r.salt);
}

// Names as they appear in route files, the route table and the CLI.
std::string_view to_string(Strategy s) noexcept;
std::string_view to_string(Target t) noexcept;
std::string_view to_string(TransactionPolicy p) noexcept;
// Accepts the canonical name and the CLI spelling ("blue-green", "blue_green").
[[nodiscard]] bool parse_strategy(std::string_view text, Strategy &out) noexcept;
[[nodiscard]] bool parse_target(std::string_view text, Target &out) noexcept;
[[nodiscard]] bool parse_transaction_policy(std::string_view text, TransactionPolicy &out) noexcept;

// Problems with one rule, each a sentence naming the field; empty when valid.
[[nodiscard]] std::vector<std::string> validate(const RouteRule &rule);

// True when `name` is a valid service name.
[[nodiscard]] bool valid_service_name(std::string_view name) noexcept;

// The environment variable through which an application gives its own
// connection string for a service: PYMIGRATE_SERVICE_DSN_<SERVICE>.
std::string service_dsn_variable(std::string_view service);

// True when a connection string carries a password (keyword form or URI).
// Route rules are readable by every application; secrets belong in a
// password file or the shim's environment.
[[nodiscard]] bool dsn_has_password(std::string_view dsn) noexcept;

} // namespace pymigrate::router

// The ramp's plan and its health gates, as plain logic the CLI drives and the
// tests check: steps from the current share to the target, and the verdict
// of the gates over one observation window.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "router/health.hpp"

namespace pymigrate::router
{

// The shares (basis points) a ramp sets in turn: from `from` (exclusive) to
// `to` (inclusive) by `step`. Empty when the share is at `to` already (there
// is nothing to set; the caller only watches). Ramps only go up: `to` below
// `from` is a plan of just {to} (one step down, e.g. to reset a canary), and
// so is a `step` that is not positive.
[[nodiscard]] std::vector<int> ramp_steps(int from, int to, int step);

struct GateLimits {
    std::optional<double> max_error_rate; // fraction, 0.01 for 1 %
    std::optional<uint64_t> max_p95_us;
    std::optional<double> max_lag_seconds;
    uint64_t min_statements = 20; // fewer in a window: the error-rate and p95 gates have too little to judge
};

// Sync between the two databases, from pymigrate.subscription_status.
struct SyncStatus {
    bool broken = false;    // a subscription not streaming, or with an error
    std::string detail;     // which, and why
    double lag_seconds = 0; // the worst lag
    int subscriptions = 0;  // how many the status covers (none: nothing to judge)
};

struct GateVerdict {
    bool pass = true;
    std::string failed;  // the gate that failed, with the numbers ("error rate 3.1 % > 1 %")
    std::string summary; // what was measured, for the progress line
};

[[nodiscard]] GateVerdict evaluate_gates(const GateLimits &limits, const HealthCounters &window,
                                         const std::optional<SyncStatus> &sync);

// "30s", "500ms", "2m", "1h", "1.5s" -> milliseconds; nullopt if malformed.
[[nodiscard]] std::optional<uint64_t> parse_duration_ms(std::string_view text) noexcept;
// "1%", "0.5 %", "1" -> 0.01, 0.005, 0.01 (a bare number is a percentage).
[[nodiscard]] std::optional<double> parse_percent_fraction(std::string_view text) noexcept;
std::string format_duration_us(uint64_t us);

} // namespace pymigrate::router

// What the shims measure per service and publish to the control plane, and
// what the ramp's health gates read back: statements routed to the service,
// those that failed there, those run on the monolith instead, and a latency
// histogram of the statements the service answered.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pymigrate::router
{

// Log-linear buckets: four per power of two of microseconds, up to about
// 33 s in the last one. Wide enough for p95 to within 19 %, small enough to
// publish as one bigint[] per service.
inline constexpr int kLatencyBuckets = 100;

[[nodiscard]] int latency_bucket(uint64_t micros) noexcept;
// The largest latency (µs) counted in bucket `b` (what a percentile reports).
[[nodiscard]] uint64_t latency_bucket_upper(int b) noexcept;

struct HealthCounters {
    uint64_t routed = 0;    // statements the route sent to the service
    uint64_t errors = 0;    // of those, the ones that did not succeed there (error, unreachable, circuit open)
    uint64_t fallbacks = 0; // of those, the ones run on the monolith instead
    std::array<uint64_t, kLatencyBuckets> latency{}; // of statements the service answered

    HealthCounters &operator+=(const HealthCounters &o) noexcept;
    // this - earlier; a counter that went down (the process restarted under
    // the same id) counts from zero.
    [[nodiscard]] HealthCounters since(const HealthCounters &earlier) const noexcept;
    [[nodiscard]] uint64_t answered() const noexcept;
    // errors / routed, or nullopt with nothing routed.
    [[nodiscard]] std::optional<double> error_rate() const noexcept;
    // The latency (µs) below which `q` of the answered statements fell, or
    // nullopt with none.
    [[nodiscard]] std::optional<uint64_t> percentile(double q) const noexcept;
};

// Whether an error the service returned says something about the service
// rather than about the application's data: connection and resource
// problems, server faults, objects missing from its schema. Unique
// violations, bad input, serialization failures and the like happen on the
// monolith too and do not count against the service.
[[nodiscard]] bool counts_as_service_error(std::string_view sqlstate) noexcept;

} // namespace pymigrate::router

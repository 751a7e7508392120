// Per process and per service: the counters the shim publishes (statements
// routed to the service, failures, fallbacks, latencies) and the service's
// health as this process sees it: after a failure, the service is skipped
// for PYMIGRATE_RETRY_AFTER_MS (a circuit breaker), then tried again.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "router/health.hpp"

namespace pymigrate::shim
{

// CLOCK_MONOTONIC in nanoseconds.
int64_t now_ns() noexcept;
// The same clock at the kernel tick's resolution (a few ms), cheaper to read:
// for "is it time yet" checks made on every statement.
int64_t coarse_now_ns() noexcept;

struct ServiceStats {
    explicit ServiceStats(std::string n) : name(std::move(n)) {}
    const std::string name;
    std::atomic<uint64_t> routed{0}, errors{0}, fallbacks{0};
    std::array<std::atomic<uint64_t>, router::kLatencyBuckets> latency{};
    std::atomic<int64_t> open_until_ns{0};
    // Bumped by each failure: service connections made before it are not
    // trusted again (they are closed and made anew).
    std::atomic<uint64_t> epoch{0};

    [[nodiscard]] bool
    healthy(int64_t now) const noexcept
    {
        return now >= open_until_ns.load(std::memory_order_relaxed);
    }
    void failed(int64_t now, int retry_after_ms) noexcept;
    void answered(int64_t elapsed_ns) noexcept;
    [[nodiscard]] router::HealthCounters snapshot() const noexcept;
    void reset() noexcept;
};

// The counters of `service`, created on first use; they live as long as the
// process (a service that disappears from the routes keeps its numbers).
ServiceStats &service_stats(const std::string &service);
std::vector<ServiceStats *> all_service_stats();

} // namespace pymigrate::shim

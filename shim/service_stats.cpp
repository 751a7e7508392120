#include "shim/service_stats.hpp"

#include <time.h>

#include <deque>
#include <mutex>

namespace pymigrate::shim
{

int64_t
now_ns() noexcept
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t
coarse_now_ns() noexcept
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void
ServiceStats::failed(int64_t now, int retry_after_ms) noexcept
{
    open_until_ns.store(now + static_cast<int64_t>(retry_after_ms) * 1'000'000, std::memory_order_relaxed);
    epoch.fetch_add(1, std::memory_order_relaxed);
}

void
ServiceStats::answered(int64_t elapsed_ns) noexcept
{
    uint64_t us = elapsed_ns > 0 ? static_cast<uint64_t>(elapsed_ns / 1000) : 0;
    latency[static_cast<size_t>(router::latency_bucket(us))].fetch_add(1, std::memory_order_relaxed);
}

router::HealthCounters
ServiceStats::snapshot() const noexcept
{
    router::HealthCounters h;
    h.routed = routed.load(std::memory_order_relaxed);
    h.errors = errors.load(std::memory_order_relaxed);
    h.fallbacks = fallbacks.load(std::memory_order_relaxed);
    for (size_t i = 0; i < latency.size(); ++i)
        h.latency[i] = latency[i].load(std::memory_order_relaxed);
    return h;
}

void
ServiceStats::reset() noexcept
{
    routed = 0;
    errors = 0;
    fallbacks = 0;
    for (auto &l : latency)
        l = 0;
    open_until_ns = 0;
}

namespace
{

std::mutex g_mutex;
std::deque<ServiceStats> &
registry()
{
    // Never destroyed: other threads may still count while the process exits.
    static auto *r = new std::deque<ServiceStats>();
    return *r;
}

} // namespace

ServiceStats &
service_stats(const std::string &service)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    for (auto &s : registry())
        if (s.name == service)
            return s;
    return registry().emplace_back(service);
}

std::vector<ServiceStats *>
all_service_stats()
{
    std::lock_guard<std::mutex> lock(g_mutex);
    std::vector<ServiceStats *> out;
    for (auto &s : registry())
        out.push_back(&s);
    return out;
}

} // namespace pymigrate::shim

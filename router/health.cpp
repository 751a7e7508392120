#include "router/health.hpp"

#include <bit>
#include <cmath>

namespace pymigrate::router
{

int
latency_bucket(uint64_t us) noexcept
{
    if (us < 4)
        return static_cast<int>(us);               // 0..3: one bucket per microsecond
    int e = 63 - std::countl_zero(us);             // 2^e <= us
    int q = static_cast<int>((us >> (e - 2)) & 3); // which quarter of the octave
    int b = e * 4 + q - 4;                         // 4 µs -> bucket 4
    return b >= kLatencyBuckets ? kLatencyBuckets - 1 : b;
}

uint64_t
latency_bucket_upper(int b) noexcept
{
    if (b < 4)
        return static_cast<uint64_t>(b);
    int e = (b + 4) / 4;
    int q = (b + 4) % 4;
    // bucket holds [ (4+q) << (e-2), (5+q) << (e-2) )
    return ((static_cast<uint64_t>(5 + q)) << (e - 2)) - 1;
}

HealthCounters &
HealthCounters::operator+=(const HealthCounters &o) noexcept
{
    routed += o.routed;
    errors += o.errors;
    fallbacks += o.fallbacks;
    for (int i = 0; i < kLatencyBuckets; ++i)
        latency[static_cast<size_t>(i)] += o.latency[static_cast<size_t>(i)];
    return *this;
}

HealthCounters
HealthCounters::since(const HealthCounters &e) const noexcept
{
    if (routed < e.routed || errors < e.errors || fallbacks < e.fallbacks)
        return *this; // restarted: everything it reports is new
    HealthCounters d;
    d.routed = routed - e.routed;
    d.errors = errors - e.errors;
    d.fallbacks = fallbacks - e.fallbacks;
    for (size_t i = 0; i < latency.size(); ++i)
        d.latency[i] = latency[i] >= e.latency[i] ? latency[i] - e.latency[i] : latency[i];
    return d;
}

uint64_t
HealthCounters::answered() const noexcept
{
    uint64_t n = 0;
    for (auto v : latency)
        n += v;
    return n;
}

std::optional<double>
HealthCounters::error_rate() const noexcept
{
    if (routed == 0)
        return std::nullopt;
    return static_cast<double>(errors) / static_cast<double>(routed);
}

std::optional<uint64_t>
HealthCounters::percentile(double q) const noexcept
{
    uint64_t n = answered();
    if (n == 0)
        return std::nullopt;
    auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (int b = 0; b < kLatencyBuckets; ++b) {
        seen += latency[static_cast<size_t>(b)];
        if (seen >= rank)
            return latency_bucket_upper(b);
    }
    return latency_bucket_upper(kLatencyBuckets - 1);
}

bool
counts_as_service_error(std::string_view sqlstate) noexcept
{
    if (sqlstate.size() != 5)
        return true; // no SQLSTATE: a client-side failure (connection lost, out of memory)
    std::string_view cls = sqlstate.substr(0, 2);
    for (std::string_view c : {"08", "0A", "26", "28", "3D", "3F", "42", "53", "54", "55", "57", "58", "F0", "XX"})
        if (cls == c)
            return true;
    return false;
}

} // namespace pymigrate::router

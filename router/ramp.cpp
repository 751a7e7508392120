#include "router/ramp.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "router/rule.hpp"

namespace pymigrate::router
{

std::vector<int>
ramp_steps(int from, int to, int step)
{
    std::vector<int> out;
    if (to == from)
        return out;
    if (to < from || step <= 0) {
        out.push_back(to);
        return out;
    }
    for (int p = from + step; p < to; p += step)
        out.push_back(p);
    out.push_back(to);
    return out;
}

namespace
{

std::string
percent_text(double fraction)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f %%", fraction * 100.0);
    return buf;
}

std::optional<double>
parse_number(std::string_view s) noexcept
{
    while (!s.empty() && s.front() == ' ')
        s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ')
        s.remove_suffix(1);
    if (s.empty())
        return std::nullopt;
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
        return std::nullopt;
    return v;
}

} // namespace

std::string
format_duration_us(uint64_t us)
{
    char buf[32];
    if (us < 1000)
        std::snprintf(buf, sizeof buf, "%llu µs", static_cast<unsigned long long>(us));
    else if (us < 10'000'000)
        std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(us) / 1000.0);
    else
        std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(us) / 1e6);
    return buf;
}

GateVerdict
evaluate_gates(const GateLimits &limits, const HealthCounters &w, const std::optional<SyncStatus> &sync)
{
    GateVerdict v;
    auto rate = w.error_rate();
    auto p95 = w.percentile(0.95);
    v.summary = std::to_string(w.routed) + " statements to the service, " + std::to_string(w.errors) + " failed";
    if (w.fallbacks)
        v.summary += " (" + std::to_string(w.fallbacks) + " run on the monolith instead)";
    if (rate)
        v.summary += ", error rate " + percent_text(*rate);
    if (p95)
        v.summary += ", p95 " + format_duration_us(*p95);
    if (sync)
        v.summary += ", sync lag " + format_duration_us(static_cast<uint64_t>(sync->lag_seconds * 1e6));
    auto fail = [&](std::string why) {
        if (v.pass) {
            v.pass = false;
            v.failed = std::move(why);
        }
    };
    if (sync && sync->broken)
        fail("sync is broken: " + sync->detail);
    bool enough = w.routed >= limits.min_statements;
    if (limits.max_error_rate && rate && enough && *rate > *limits.max_error_rate)
        fail("error rate " + percent_text(*rate) + " > " + percent_text(*limits.max_error_rate) + " (" +
             std::to_string(w.errors) + " of " + std::to_string(w.routed) + ")");
    if (limits.max_p95_us && p95 && w.answered() >= limits.min_statements && *p95 > *limits.max_p95_us)
        fail("p95 latency " + format_duration_us(*p95) + " > " + format_duration_us(*limits.max_p95_us));
    if (limits.max_lag_seconds && sync && sync->lag_seconds > *limits.max_lag_seconds)
        fail("sync lag " + format_duration_us(static_cast<uint64_t>(sync->lag_seconds * 1e6)) + " > " +
             format_duration_us(static_cast<uint64_t>(*limits.max_lag_seconds * 1e6)));
    if (!enough && (limits.max_error_rate || limits.max_p95_us))
        v.summary += " (fewer than " + std::to_string(limits.min_statements) + ": too few to judge)";
    return v;
}

std::optional<uint64_t>
parse_duration_ms(std::string_view text) noexcept
{
    size_t unit = text.find_first_not_of("0123456789. ");
    if (unit == std::string_view::npos)
        return std::nullopt; // a unit is required: "30" could be seconds or ms
    auto n = parse_number(text.substr(0, unit));
    if (!n || *n < 0)
        return std::nullopt;
    std::string_view u = text.substr(unit);
    double ms;
    if (u == "ms")
        ms = *n;
    else if (u == "s")
        ms = *n * 1000;
    else if (u == "m" || u == "min")
        ms = *n * 60'000;
    else if (u == "h")
        ms = *n * 3'600'000;
    else
        return std::nullopt;
    if (ms > 1e12)
        return std::nullopt;
    return static_cast<uint64_t>(std::llround(ms));
}

std::optional<double>
parse_percent_fraction(std::string_view text) noexcept
{
    while (!text.empty() && text.back() == ' ')
        text.remove_suffix(1);
    if (!text.empty() && text.back() == '%')
        text.remove_suffix(1);
    auto n = parse_number(text);
    if (!n || *n < 0 || *n > 100)
        return std::nullopt;
    return *n / 100.0;
}

} // namespace pymigrate::router

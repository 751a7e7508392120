#include "shim/config.hpp"

#include "router/rule.hpp"

#include <cctype>
#include <cstdlib>
#include <string_view>

namespace pymigrate::shim
{

namespace
{

std::string
env(const char *name)
{
    const char *v = std::getenv(name);
    return v ? v : "";
}

int
env_int(const char *name, int fallback, int min, int max, std::string &problems)
{
    std::string v = env(name);
    if (v.empty())
        return fallback;
    char *end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (*end != '\0' || n < min || n > max) {
        problems += std::string(name) + "=" + v + " is not a number in " + std::to_string(min) + ".." +
                    std::to_string(max) + "; using " + std::to_string(fallback) + ". ";
        return fallback;
    }
    return static_cast<int>(n);
}

Config
load()
{
    Config c;
    c.control_dsn = env("PYMIGRATE_CONTROL_DSN");
    c.route_file = env("PYMIGRATE_ROUTE_FILE");
    c.enabled = !c.control_dsn.empty() || !c.route_file.empty();
    if (!c.control_dsn.empty() && !c.route_file.empty()) {
        c.problems += "both PYMIGRATE_CONTROL_DSN and PYMIGRATE_ROUTE_FILE are set; using the control plane. ";
        c.route_file.clear();
    }
    std::string dbs = env("PYMIGRATE_DATABASES");
    size_t pos = 0;
    while (pos < dbs.size()) {
        size_t comma = dbs.find(',', pos);
        std::string one = dbs.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!one.empty())
            c.databases.push_back(one);
        if (comma == std::string::npos)
            break;
        pos = comma + 1;
    }
    c.connect_timeout_s = env_int("PYMIGRATE_CONNECT_TIMEOUT", 2, 1, 3600, c.problems);
    c.control_wait_ms = env_int("PYMIGRATE_CONTROL_WAIT_MS", 2000, 0, 600000, c.problems);
    c.retry_after_ms = env_int("PYMIGRATE_RETRY_AFTER_MS", 5000, 0, 3600000, c.problems);
    c.stats_interval_ms = env_int("PYMIGRATE_STATS_INTERVAL_MS", 1000, 50, 3600000, c.problems);
    c.poll_interval_ms = env_int("PYMIGRATE_POLL_INTERVAL_MS", 10, 0, 10000, c.problems);
    c.log = env("PYMIGRATE_LOG");
    return c;
}

} // namespace

const Config &
config() noexcept
{
    static const Config c = load();
    return c;
}

std::string
service_dsn_override(const std::string &service)
{
    return env(router::service_dsn_variable(service).c_str());
}

} // namespace pymigrate::shim

// The shim's configuration, read once from the environment (README.md,
// "Routing"). Without PYMIGRATE_CONTROL_DSN or PYMIGRATE_ROUTE_FILE the shim
// is a pass-through: every entry point forwards to libpq after one branch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pymigrate::shim
{

struct Config {
    bool enabled = false;
    std::string control_dsn;            // PYMIGRATE_CONTROL_DSN
    std::string route_file;             // PYMIGRATE_ROUTE_FILE
    std::vector<std::string> databases; // PYMIGRATE_DATABASES: route only connections to these (empty: all)
    int connect_timeout_s = 2;          // PYMIGRATE_CONNECT_TIMEOUT: service connections
    int control_wait_ms = 2000;         // PYMIGRATE_CONTROL_WAIT_MS: first load, at the first connection
    int retry_after_ms = 5000;          // PYMIGRATE_RETRY_AFTER_MS: a failed service is skipped this long
    int stats_interval_ms = 1000;       // PYMIGRATE_STATS_INTERVAL_MS: publish counters at most this often
    int poll_interval_ms = 10;          // PYMIGRATE_POLL_INTERVAL_MS: look at the control plane at most this often
    std::string log;                    // PYMIGRATE_LOG: "stderr" or a file path; empty: silent
    std::string problems;               // what was wrong in the environment (logged once)
};

const Config &config() noexcept;

// PYMIGRATE_SERVICE_DSN_<SERVICE> (upper case), or empty.
std::string service_dsn_override(const std::string &service);

} // namespace pymigrate::shim

// Polling for conditions that become true asynchronously (a worker starts, a
// change arrives): tests wait for the state, never sleep a fixed time.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "common/pq.hpp"

namespace pymigrate::testing {

// Calls `done` every `poll` until it returns true or `timeout` passes;
// returns its last answer. Exceptions from `done` count as "not yet".
template <typename F>
bool
eventually(F &&done, std::chrono::milliseconds timeout = std::chrono::seconds(30),
           std::chrono::milliseconds poll = std::chrono::milliseconds(50))
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        try {
            if (done())
                return true;
        } catch (const std::exception &) {
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(poll);
    }
}

// Waits until `sql`'s first value equals `expected`; returns the last value
// seen (for the failure message).
inline std::optional<std::string>
wait_for_value(pq::Connection &c, const std::string &sql, const std::string &expected,
               std::chrono::milliseconds timeout = std::chrono::seconds(30))
{
    std::optional<std::string> last;
    eventually(
        [&] {
            last = c.scalar(sql);
            return last == expected;
        },
        timeout);
    return last;
}

} // namespace pymigrate::testing

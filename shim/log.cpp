#include "shim/log.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

#include "shim/config.hpp"

namespace pymigrate::shim
{

namespace
{

int
log_fd()
{
    static const int fd = [] {
        const std::string &where = config().log;
        if (where.empty())
            return -1;
        if (where == "stderr")
            return 2;
        return ::open(where.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }();
    return fd;
}

} // namespace

void
log(const std::string &message) noexcept
{
    try {
        int fd = log_fd();
        if (fd < 0)
            return;
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm {
        };
        gmtime_r(&ts.tv_sec, &tm);
        char stamp[64];
        std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
        std::string line = std::string(stamp) + " pymigrate-shim[" + std::to_string(getpid()) + "]: " + message + "\n";
        // One write(2) per line: O_APPEND keeps lines of several processes whole.
        ssize_t ignored = ::write(fd, line.data(), line.size());
        (void)ignored;
    } catch (...) {
    }
}

} // namespace pymigrate::shim

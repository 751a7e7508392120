// A pgbench workload in the background for the sync crash tests: rounds of
// `transactions_per_client` per client until stop(), so the load lasts as
// long as the test needs it, however fast the machine is.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "test/harness/cluster.hpp"

namespace pymigrate::testing::sync
{

class PgbenchLoad
{
  public:
    // Stop: the first failing round ends the load (a server that should
    // stay up did not). Retry: a failing round is followed by another one
    // after a pause (the server is being killed and restarted on purpose).
    enum class OnFailure { Stop, Retry };

    PgbenchLoad(const std::string &dsn, const std::string &script, int clients, int transactions_per_client,
                OnFailure on_failure = OnFailure::Stop)
    {
        static std::atomic<int> serial{0};
        dir_ = std::filesystem::temp_directory_path() /
               ("pymigrate-load-" + std::to_string(getpid()) + "-" + std::to_string(serial++));
        std::filesystem::create_directories(dir_);
        std::ofstream(dir_ / "workload.sql") << script;
        std::string cmd = "'" + (pg_bindir() / "pgbench").string() + "' -n -f '" + (dir_ / "workload.sql").string() +
                          "' -c " + std::to_string(clients) + " -j " + std::to_string(clients > 1 ? 2 : 1) + " -t " +
                          std::to_string(transactions_per_client) + " '" + dsn + "' >> '" +
                          (dir_ / "pgbench.log").string() + "' 2>&1";
        thread_ = std::thread([this, cmd, on_failure] {
            while (!stop_) {
                status_ = std::system(cmd.c_str());
                if (status_ == 0)
                    ++rounds_ok_;
                else if (on_failure == OnFailure::Stop)
                    break;
                else
                    std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        });
    }
    ~PgbenchLoad()
    {
        stop_ = true;
        if (thread_.joinable())
            thread_.join();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    PgbenchLoad(const PgbenchLoad &) = delete;
    PgbenchLoad &operator=(const PgbenchLoad &) = delete;

    // Ends the load after the running round; returns the last round's
    // status (0 when all its transactions ran, pgbench's exit status
    // otherwise).
    int
    stop()
    {
        stop_ = true;
        if (thread_.joinable())
            thread_.join();
        return status_;
    }
    // Rounds whose transactions all ran.
    int
    rounds_ok() const
    {
        return rounds_ok_;
    }
    std::string
    log() const
    {
        std::ifstream in(dir_ / "pgbench.log");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

  private:
    std::filesystem::path dir_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> status_{0};
    std::atomic<int> rounds_ok_{0};
};

} // namespace pymigrate::testing::sync

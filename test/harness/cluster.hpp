// Throwaway PostgreSQL 15 clusters for tests, benchmarks and the demo.
//
// A cluster lives in its own directory under a run directory
// ($PYMIGRATE_CLUSTER_DIR, default /tmp/pymigrate-clusters/run-<pid>-<n>):
// data/, the Unix socket, postgres.log. It is copied from a cached initdb
// template (initdb once per server build), configured for pymigrate
// (wal_level=logical, track_commit_timestamp, the preload line, slots and
// workers), run as the `postgres` user when we are root, on a free port.
//
// Clean-up is guaranteed three ways: destructors; a SIGINT/SIGTERM/SIGHUP
// handler that stops every live cluster and removes its directory; and,
// for clusters owned by a process, PR_SET_PDEATHSIG so the server dies with
// its owner even on SIGKILL. Run directories whose owner died anyway are
// swept by the next harness that starts.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/pq.hpp"

namespace pymigrate::testing {

// A cluster that could not be created or started: which one, why, and the
// tail of its log.
class ClusterError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct ClusterOptions {
    std::string name = "pg";
    // Extra postgresql.conf settings, appended last (so they win).
    std::vector<std::pair<std::string, std::string>> settings;
    bool preload = true; // shared_preload_libraries = 'pymigrate'
    bool tcp = true;     // also listen on 127.0.0.1 (for peers such as pgbouncer)
    // The server outlives the creating process (pm-cluster start): no
    // parent-death signal, and the destructor leaves it running.
    bool detached = false;
};

enum class StopMode { Fast, Immediate };

class Cluster {
  public:
    // Creates (from the template) and starts the cluster.
    explicit Cluster(ClusterOptions options);
    // Adopts an existing cluster directory (pm-cluster stop/start/kill).
    static Cluster adopt(const std::filesystem::path &cluster_dir);
    ~Cluster();
    Cluster(Cluster &&) noexcept;
    Cluster(const Cluster &) = delete;
    Cluster &operator=(const Cluster &) = delete;

    void start();
    void stop(StopMode mode = StopMode::Fast);
    // SIGKILL the postmaster and all its children at once: a crash of the
    // whole server, as an OOM kill or a lost container would do.
    void kill9();
    void restart(StopMode mode = StopMode::Fast);
    [[nodiscard]] bool running() const;

    const std::string &name() const noexcept { return name_; }
    int port() const noexcept { return port_; }
    std::filesystem::path dir() const { return dir_; }
    std::filesystem::path data_dir() const { return dir_ / "data"; }
    std::filesystem::path socket_dir() const { return dir_; }
    std::filesystem::path log_file() const { return dir_ / "postgres.log"; }
    // keyword=value connection string for `dbname` over the Unix socket.
    std::string dsn(const std::string &dbname = "postgres") const;
    std::string log_tail(size_t lines = 30) const;
    // Current postmaster pid (from postmaster.pid), or -1.
    pid_t postmaster_pid() const;

    pq::Connection connect(const std::string &dbname = "postgres") const { return pq::Connection(dsn(dbname)); }
    // Runs a SQL file with psql (ON_ERROR_STOP); throws with psql's output.
    void psql_file(const std::filesystem::path &file, const std::string &dbname = "postgres",
                   const std::vector<std::string> &variables = {}) const;

    // Keeps the directory (and a detached server) after destruction.
    void release() noexcept { owned_ = false; }

  private:
    Cluster() = default;
    void configure(const ClusterOptions &options);
    void start_once();
    void wait_stopped(pid_t pid, int timeout_ms);

    std::string name_;
    std::filesystem::path dir_;
    int port_ = 0;
    bool detached_ = false;
    bool owned_ = true;
    pid_t child_ = -1; // our own child postmaster, to reap
};

// The directory holding PostgreSQL's binaries the harness runs
// ($PYMIGRATE_PGBIN, default the system's PostgreSQL 15).
std::filesystem::path pg_bindir();

// Stops every cluster this process started and removes their directories.
// Called by the signal handler and at exit; safe to call more than once.
void cleanup_all_clusters() noexcept;

} // namespace pymigrate::testing

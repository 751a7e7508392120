// Where the routes come from, for the whole process: the control plane (the
// monolith database: pymigrate.route_snapshot() at connect, then LISTEN
// pymigrate_route) or a route file (re-read when it changes).
//
// No thread: the work is done on the application's own libpq calls, at most
// every PYMIGRATE_POLL_INTERVAL_MS, without blocking (a non-blocking control
// connection; one recv(2) that finds nothing costs about a microsecond).
// A process that was idle sees a pending NOTIFY on its next statement, before
// that statement is routed. The only wait is at the first application
// connection, for the first routes, bounded by PYMIGRATE_CONTROL_WAIT_MS.
//
// Fail safe: a snapshot, a NOTIFY or a file that does not parse is logged
// and ignored (the last good routes stay); an unreachable control plane keeps
// the last good routes and reconnects with backoff; with none ever loaded,
// everything goes to the monolith.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "router/route_table.hpp"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace pymigrate::shim
{

class ControlPlane
{
  public:
    static ControlPlane &instance();

    // Bumps every time new routes are applied: connections compare it with
    // the one they cached, one relaxed load per statement.
    uint64_t
    generation() const noexcept
    {
        return generation_.load(std::memory_order_acquire);
    }
    std::shared_ptr<const router::RouteTable> routes() const;
    int64_t route_version() const noexcept;

    void poll() noexcept;       // cheap unless due
    void first_load() noexcept; // the bounded wait at the first connection
    void after_fork_in_child() noexcept;
    // Publishes the counters now and waits (at most 500 ms) for the answer:
    // at the last PQfinish, so short-lived processes are counted too.
    void final_report() noexcept;

  private:
    ControlPlane() = default;
    enum class State { Disconnected, Connecting, Ready, Loading, Reporting };

    void step(int64_t now);
    void step_file(int64_t now);
    void start_connect(int64_t now);
    void advance_connect(int64_t now);
    void drop_connection(int64_t now, const std::string &why);
    void read_results(int64_t now);
    void handle_result(PGresult *r, int64_t now);
    void handle_notifications(int64_t now);
    void send_snapshot_query(bool listen);
    void maybe_report(int64_t now, bool force = false);
    void apply(router::RouteTable table, const std::string &source);
    bool apply_document(const std::string &text, const std::string &source, bool only_newer);
    bool
    routes_loaded() const noexcept
    {
        return loaded_.load(std::memory_order_acquire);
    }

    mutable std::mutex routes_mutex_;
    std::shared_ptr<const router::RouteTable> routes_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<bool> loaded_{false};
    std::atomic<int64_t> next_poll_ns_{0};

    std::mutex work_; // one thread at a time does the control-plane work
    State state_ = State::Disconnected;
    PGconn *conn_ = nullptr;
    int connect_wants_ = 0; // PostgresPollingStatusType of the connection in progress
    int64_t next_connect_ns_ = 0;
    int backoff_ms_ = 250;
    bool reload_wanted_ = false;
    int64_t next_reload_ns_ = 0;
    int64_t next_report_ns_ = 0;
    int64_t last_report_ns_ = 0;
    std::string last_report_body_;
    std::string last_error_; // logged once until it changes
    std::string shim_id_;

    // route file mode
    int64_t file_mtime_ns_ = -1;
    int64_t file_size_ = -1;
};

} // namespace pymigrate::shim

#include "shim/control_plane.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "common/dsn.hpp"
#include "router/route_json.hpp"
#include "shim/config.hpp"
#include "shim/log.hpp"
#include "shim/real_libpq.hpp"
#include "shim/service_stats.hpp"

namespace pymigrate::shim
{

namespace
{

constexpr const char *kChannel = "pymigrate_route";
constexpr const char *kSnapshotQuery = "SELECT pymigrate.route_snapshot()::text";
constexpr const char *kListenAndSnapshot = "LISTEN pymigrate_route; SELECT pymigrate.route_snapshot()::text";
constexpr const char *kReportQuery = "SELECT pymigrate.route_report($1, $2::jsonb)";

std::string
program_name()
{
    std::ifstream f("/proc/self/comm");
    std::string name;
    std::getline(f, name);
    return name.empty() ? "unknown" : name;
}

std::string
host_name()
{
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0)
        return "unknown";
    return buf;
}

std::string
make_shim_id()
{
    return program_name() + "@" + host_name() + ":" + std::to_string(getpid()) + ":" + std::to_string(now_ns());
}

void
child_after_fork()
{
    ControlPlane::instance().after_fork_in_child();
}

} // namespace

ControlPlane &
ControlPlane::instance()
{
    // Never destroyed: application threads may still call in during exit.
    static ControlPlane *cp = [] {
        auto *p = new ControlPlane();
        p->shim_id_ = make_shim_id();
        pthread_atfork(nullptr, nullptr, child_after_fork);
        return p;
    }();
    return *cp;
}

std::shared_ptr<const router::RouteTable>
ControlPlane::routes() const
{
    std::lock_guard<std::mutex> lock(routes_mutex_);
    return routes_;
}

int64_t
ControlPlane::route_version() const noexcept
{
    std::lock_guard<std::mutex> lock(routes_mutex_);
    return routes_ ? routes_->version() : -1;
}

void
ControlPlane::apply(router::RouteTable table, const std::string &source)
{
    int64_t old_version = -1;
    {
        std::lock_guard<std::mutex> lock(routes_mutex_);
        old_version = routes_ ? routes_->version() : -1;
        routes_ = std::make_shared<const router::RouteTable>(std::move(table));
        loaded_.store(true, std::memory_order_release);
    }
    generation_.fetch_add(1, std::memory_order_acq_rel);
    int64_t v = route_version();
    if (v != old_version)
        log("routes version " + std::to_string(v) + " applied (from " + source + ")");
}

bool
ControlPlane::apply_document(const std::string &text, const std::string &source, bool only_newer)
{
    std::string error;
    auto table = router::parse_route_document(text, error);
    if (!table) {
        std::string msg = "ignoring routes from " + source + " (keeping the last good ones): " + error;
        if (msg != last_error_)
            log(msg);
        last_error_ = msg;
        return false;
    }
    if (only_newer && table->version() < route_version())
        return true;
    last_error_.clear();
    apply(std::move(*table), source);
    return true;
}

void
ControlPlane::poll() noexcept
{
    // Called before every statement: the common answer ("not yet") costs a
    // coarse clock read, not a precise one.
    int64_t coarse = coarse_now_ns();
    if (coarse < next_poll_ns_.load(std::memory_order_relaxed))
        return;
    std::unique_lock<std::mutex> lock(work_, std::try_to_lock);
    if (!lock.owns_lock())
        return; // another thread is at it
    next_poll_ns_.store(coarse + static_cast<int64_t>(config().poll_interval_ms) * 1'000'000,
                        std::memory_order_relaxed);
    try {
        step(now_ns());
    } catch (const std::exception &e) {
        log(std::string("control plane: ") + e.what());
    } catch (...) {
    }
}

void
ControlPlane::first_load() noexcept
{
    try {
        std::unique_lock<std::mutex> lock(work_);
        if (routes_loaded())
            return;
        int64_t deadline = now_ns() + static_cast<int64_t>(config().control_wait_ms) * 1'000'000;
        for (;;) {
            int64_t now = now_ns();
            step(now);
            if (routes_loaded() || now >= deadline || !config().route_file.empty())
                break;
            if (state_ == State::Disconnected && next_connect_ns_ > now)
                break; // the control plane is unreachable: do not hold the application up
            if (state_ == State::Ready && next_reload_ns_ > now)
                break; // it answered, with an error (logged)
            int fd = conn_ ? real().PQsocket(conn_) : -1;
            int wait_ms = static_cast<int>((deadline - now) / 1'000'000) + 1;
            if (fd >= 0) {
                pollfd p{fd,
                         static_cast<short>(
                             state_ == State::Connecting && connect_wants_ == PGRES_POLLING_WRITING ? POLLOUT : POLLIN),
                         0};
                ::poll(&p, 1, wait_ms > 50 ? 50 : wait_ms);
            } else {
                ::usleep(1000);
            }
        }
        if (!routes_loaded())
            log("no routes loaded within " + std::to_string(config().control_wait_ms) +
                " ms of the first connection; everything goes to the monolith until they are");
    } catch (...) {
    }
}

void
ControlPlane::after_fork_in_child() noexcept
{
    // The mutexes may be held by threads that do not exist in the child.
    new (&work_) std::mutex();
    new (&routes_mutex_) std::mutex();
    if (conn_) {
        // The socket is shared with the parent: close our copy, and never
        // PQfinish (its Terminate message would end the parent's session).
        int fd = real().PQsocket(conn_);
        if (fd >= 0)
            ::close(fd);
        conn_ = nullptr;
    }
    state_ = State::Disconnected;
    next_connect_ns_ = 0;
    shim_id_ = make_shim_id();
    last_report_body_.clear();
    for (auto *s : all_service_stats())
        s->reset();
}

void
ControlPlane::step(int64_t now)
{
    if (!config().route_file.empty()) {
        step_file(now);
        return;
    }
    if (config().control_dsn.empty())
        return;
    switch (state_) {
    case State::Disconnected:
        if (now >= next_connect_ns_)
            start_connect(now);
        return;
    case State::Connecting:
        advance_connect(now);
        return;
    case State::Ready:
    case State::Loading:
    case State::Reporting:
        read_results(now);
        return;
    }
}

void
ControlPlane::step_file(int64_t now)
{
    (void)now;
    struct stat st {
    };
    const std::string &path = config().route_file;
    if (::stat(path.c_str(), &st) != 0) {
        std::string msg = "route file " + path + " cannot be read; keeping the last good routes";
        if (msg != last_error_)
            log(msg);
        last_error_ = msg;
        return;
    }
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (mtime == file_mtime_ns_ && st.st_size == file_size_)
        return;
    if (st.st_size > static_cast<off_t>(router::kMaxRouteDocument)) {
        log("route file " + path + " is larger than the limit; ignored");
        file_mtime_ns_ = mtime;
        file_size_ = st.st_size;
        return;
    }
    std::ifstream f(path, std::ios::binary);
    std::stringstream buf;
    buf << f.rdbuf();
    file_mtime_ns_ = mtime;
    file_size_ = st.st_size;
    (void)apply_document(buf.str(), "route file " + path, false);
}

void
ControlPlane::start_connect(int64_t now)
{
    const RealLibpq &pq = real();
    std::string timeout = std::to_string(config().connect_timeout_s);
    const char *keys[] = {"dbname", "application_name", "connect_timeout", nullptr};
    const char *values[] = {config().control_dsn.c_str(), "pymigrate-shim", timeout.c_str(), nullptr};
    conn_ = pq.PQconnectStartParams(keys, values, 1);
    if (!conn_ || pq.PQstatus(conn_) == CONNECTION_BAD) {
        drop_connection(now, conn_ ? pq.PQerrorMessage(conn_) : "out of memory");
        return;
    }
    state_ = State::Connecting;
    connect_wants_ = PGRES_POLLING_WRITING;
    advance_connect(now);
}

void
ControlPlane::advance_connect(int64_t now)
{
    const RealLibpq &pq = real();
    for (;;) {
        int fd = pq.PQsocket(conn_);
        if (fd < 0) {
            drop_connection(now, pq.PQerrorMessage(conn_));
            return;
        }
        // PQconnectPoll only when the socket is ready, as libpq asks.
        pollfd p{fd, static_cast<short>(connect_wants_ == PGRES_POLLING_WRITING ? POLLOUT : POLLIN), 0};
        if (::poll(&p, 1, 0) <= 0)
            return;
        PostgresPollingStatusType s = pq.PQconnectPoll(conn_);
        if (s == PGRES_POLLING_FAILED) {
            drop_connection(now, pq.PQerrorMessage(conn_));
            return;
        }
        if (s == PGRES_POLLING_OK)
            break;
        connect_wants_ = s;
    }
    if (pq.PQsetnonblocking(conn_, 1) != 0) {
        drop_connection(now, pq.PQerrorMessage(conn_));
        return;
    }
    backoff_ms_ = 250;
    log("control plane connected: " + redact_dsn(config().control_dsn));
    send_snapshot_query(true);
}

void
ControlPlane::drop_connection(int64_t now, const std::string &why)
{
    std::string reason = why;
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' '))
        reason.pop_back();
    std::string msg = "control plane " + redact_dsn(config().control_dsn) + " unavailable (" + reason +
                      "); keeping the last good routes, retrying in " + std::to_string(backoff_ms_) + " ms";
    if (msg != last_error_)
        log(msg);
    last_error_ = msg;
    if (conn_)
        real().PQfinish(conn_);
    conn_ = nullptr;
    state_ = State::Disconnected;
    next_connect_ns_ = now + static_cast<int64_t>(backoff_ms_) * 1'000'000;
    backoff_ms_ = backoff_ms_ * 2 > 10000 ? 10000 : backoff_ms_ * 2;
}

void
ControlPlane::send_snapshot_query(bool listen)
{
    const RealLibpq &pq = real();
    if (!pq.PQsendQuery(conn_, listen ? kListenAndSnapshot : kSnapshotQuery)) {
        drop_connection(now_ns(), pq.PQerrorMessage(conn_));
        return;
    }
    (void)pq.PQflush(conn_);
    state_ = State::Loading;
    reload_wanted_ = false;
}

void
ControlPlane::read_results(int64_t now)
{
    const RealLibpq &pq = real();
    if (state_ != State::Ready && pq.PQflush(conn_) < 0) {
        drop_connection(now, pq.PQerrorMessage(conn_));
        return;
    }
    if (!pq.PQconsumeInput(conn_)) {
        drop_connection(now, pq.PQerrorMessage(conn_));
        return;
    }
    while (state_ == State::Loading || state_ == State::Reporting) {
        if (pq.PQisBusy(conn_))
            break;
        PGresult *r = pq.PQgetResult(conn_);
        if (!r) {
            state_ = State::Ready;
            break;
        }
        handle_result(r, now);
        pq.PQclear(r);
    }
    if (pq.PQstatus(conn_) == CONNECTION_BAD) {
        drop_connection(now, pq.PQerrorMessage(conn_));
        return;
    }
    handle_notifications(now);
    if (state_ != State::Ready)
        return;
    if (reload_wanted_ || (!routes_loaded() && now >= next_reload_ns_))
        send_snapshot_query(false);
    else
        maybe_report(now);
}

void
ControlPlane::handle_result(PGresult *r, int64_t now)
{
    const RealLibpq &pq = real();
    ExecStatusType st = pq.PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR) {
        const char *msg = pq.PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        std::string what = state_ == State::Loading ? "loading routes" : "publishing counters";
        std::string line = "control plane: " + what + " failed: " + (msg ? msg : "unknown error");
        if (line != last_error_)
            log(line + (state_ == State::Loading ? " (is the pymigrate extension installed there?)" : ""));
        last_error_ = line;
        if (state_ == State::Loading)
            next_reload_ns_ = now + 5'000'000'000LL;
        return;
    }
    if (state_ == State::Loading && st == PGRES_TUPLES_OK && pq.PQntuples(r) == 1 && !pq.PQgetisnull(r, 0, 0))
        (void)apply_document(pq.PQgetvalue(r, 0, 0), "control plane", false);
}

void
ControlPlane::handle_notifications(int64_t now)
{
    (void)now;
    const RealLibpq &pq = real();
    while (PGnotify *n = pq.PQnotifies(conn_)) {
        std::string channel = n->relname ? n->relname : "";
        std::string payload = n->extra ? n->extra : "";
        pq.PQfreemem(n);
        if (channel != kChannel)
            continue;
        // The payload is the whole snapshot when it fits, else {"version": N}.
        if (payload.find("\"services\"") != std::string::npos) {
            if (!apply_document(payload, "NOTIFY", true))
                reload_wanted_ = true;
        } else {
            reload_wanted_ = true;
        }
    }
}

void
ControlPlane::final_report() noexcept
{
    try {
        std::unique_lock<std::mutex> lock(work_);
        int64_t deadline = now_ns() + 500'000'000;
        const RealLibpq &pq = real();
        bool sent = false;
        while (conn_ && now_ns() < deadline) {
            int64_t now = now_ns();
            if (state_ == State::Ready) {
                if (sent)
                    return;
                maybe_report(now, true);
                if (state_ != State::Reporting)
                    return; // nothing to say
                sent = true;
            }
            pollfd p{pq.PQsocket(conn_), POLLIN, 0};
            ::poll(&p, 1, 50);
            read_results(now_ns());
        }
    } catch (...) {
    }
}

void
ControlPlane::maybe_report(int64_t now, bool force)
{
    if (now < next_report_ns_ && !force)
        return;
    next_report_ns_ = now + static_cast<int64_t>(config().stats_interval_ms) * 1'000'000;
    nlohmann::json services = nlohmann::json::object();
    for (ServiceStats *s : all_service_stats()) {
        router::HealthCounters h = s->snapshot();
        services[s->name] = {
            {"routed", h.routed}, {"errors", h.errors}, {"fallbacks", h.fallbacks}, {"latency_us", h.latency}};
    }
    if (services.empty())
        return;
    std::string body = services.dump();
    // Unchanged counters are re-sent every 10 s only, as a sign of life.
    if (body == last_report_body_ && now - last_report_ns_ < 10'000'000'000LL)
        return;
    nlohmann::json report = {{"program", program_name()},
                             {"pid", getpid()},
                             {"host", host_name()},
                             {"route_version", route_version()},
                             {"services", services}};
    std::string text = report.dump();
    const char *values[] = {shim_id_.c_str(), text.c_str()};
    const RealLibpq &pq = real();
    if (!pq.PQsendQueryParams(conn_, kReportQuery, 2, nullptr, values, nullptr, nullptr, 0)) {
        drop_connection(now, pq.PQerrorMessage(conn_));
        return;
    }
    (void)pq.PQflush(conn_);
    state_ = State::Reporting;
    last_report_body_ = body;
    last_report_ns_ = now;
}

} // namespace pymigrate::shim

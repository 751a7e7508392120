#include "shim/backend.hpp"

#include <algorithm>

#include "common/dsn.hpp"
#include "common/pq.hpp"
#include "shim/config.hpp"
#include "shim/log.hpp"
#include "shim/real_libpq.hpp"

namespace pymigrate::shim
{

namespace
{

bool
exec_ok(PGconn *conn, const std::string &sql, std::string *error = nullptr)
{
    const RealLibpq &pq = real();
    PGresult *r = pq.PQexec(conn, sql.c_str());
    ExecStatusType st = r ? pq.PQresultStatus(r) : PGRES_FATAL_ERROR;
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
    if (!ok && error) {
        *error = pq.PQerrorMessage(conn);
        while (!error->empty() && error->back() == '\n')
            error->pop_back();
    }
    if (r)
        pq.PQclear(r);
    return ok;
}

// Makes the service session look like the application's monolith session.
void
match_session(ConnState &s, ServiceBackend &b)
{
    const RealLibpq &pq = real();
    std::string sync;
    for (const char *guc : {"DateStyle", "IntervalStyle", "TimeZone"}) {
        const char *want = pq.PQparameterStatus(s.app, guc);
        const char *have = pq.PQparameterStatus(b.conn, guc);
        if (want && (!have || std::string(want) != have))
            sync += std::string("SET ") + guc + " = " + pq::quote_literal(want) + ";";
    }
    std::string error;
    if (!sync.empty() && !exec_ok(b.conn, sync, &error))
        log("service \"" + b.service + "\": could not match session settings: " + error);
    for (; b.sets_applied < s.session_sets.size(); ++b.sets_applied)
        if (!exec_ok(b.conn, s.session_sets[b.sets_applied], &error))
            log("service \"" + b.service + "\": replaying \"" + s.session_sets[b.sets_applied] + "\" failed: " + error);
    if (s.nonblocking)
        (void)pq.PQsetnonblocking(b.conn, s.nonblocking);
    if (s.notice_receiver)
        (void)pq.PQsetNoticeReceiver(b.conn, s.notice_receiver, s.notice_receiver_arg);
    if (s.notice_processor)
        (void)pq.PQsetNoticeProcessor(b.conn, s.notice_processor, s.notice_processor_arg);
}

} // namespace

ServiceBackend *
service_backend(ConnState &s, const std::string &service, const std::string &dsn, ServiceStats &stats)
{
    uint64_t epoch = stats.epoch.load(std::memory_order_relaxed);
    for (auto &b : s.backends) {
        if (b->service != service)
            continue;
        if (b->dsn == dsn && b->epoch == epoch && real().PQstatus(b->conn) == CONNECTION_OK)
            return b.get();
        // Made before the service last failed, or for another address: not
        // trusted; a transaction pinned there is never moved (it cannot be).
        if (s.pinned_svc == b.get() || s.op.svc == b.get())
            return b.get();
        close_backend(s, b.get());
        break;
    }
    const RealLibpq &pq = real();
    const char *app_name = pq.PQparameterStatus(s.app, "application_name");
    const char *encoding = pq.PQparameterStatus(s.app, "client_encoding");
    std::string timeout = std::to_string(config().connect_timeout_s);
    // Later keywords win: the service DSN may set its own application_name
    // and timeout; the client encoding must be the application's.
    const char *keys[] = {"application_name", "connect_timeout", "dbname", "client_encoding", nullptr};
    const char *values[] = {app_name && *app_name ? app_name : "pymigrate-shim", timeout.c_str(), dsn.c_str(), encoding,
                            nullptr};
    if (!encoding)
        keys[3] = nullptr;
    PGconn *conn = pq.PQconnectdbParams(keys, values, 1);
    if (!conn || pq.PQstatus(conn) != CONNECTION_OK) {
        std::string why = conn ? pq.PQerrorMessage(conn) : "out of memory";
        while (!why.empty() && (why.back() == '\n' || why.back() == ' '))
            why.pop_back();
        if (conn)
            pq.PQfinish(conn);
        log("service \"" + service + "\" at " + redact_dsn(dsn) + " cannot be reached: " + why +
            "; using the monolith");
        stats.failed(now_ns(), config().retry_after_ms);
        return nullptr;
    }
    auto b = std::make_unique<ServiceBackend>();
    b->service = service;
    b->dsn = dsn;
    b->epoch = epoch;
    b->stats = &stats;
    b->conn = conn;
    b->cancel = pq.PQgetCancel(conn);
    if (b->cancel)
        s.cancel->own(b->cancel);
    match_session(s, *b);
    s.backends.push_back(std::move(b));
    return s.backends.back().get();
}

void
close_backend(ConnState &s, ServiceBackend *b) noexcept
{
    if (!b)
        return;
    if (s.pinned_svc == b)
        s.pinned_svc = nullptr;
    if (s.last == b)
        s.last = nullptr;
    if (s.op.svc == b)
        s.op.svc = nullptr;
    PGcancel *expected = b->cancel;
    s.cancel->service.compare_exchange_strong(expected, nullptr);
    if (b->conn)
        real().PQfinish(b->conn);
    auto it = std::find_if(s.backends.begin(), s.backends.end(), [b](const auto &p) { return p.get() == b; });
    if (it != s.backends.end())
        s.backends.erase(it);
}

void
close_all_backends(ConnState &s) noexcept
{
    while (!s.backends.empty())
        close_backend(s, s.backends.back().get());
}

void
backend_failed(ConnState &s, ServiceBackend *b, const std::string &why) noexcept
{
    try {
        std::string reason = why;
        while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' '))
            reason.pop_back();
        log("service \"" + b->service + "\" failed (" + reason + "); using the monolith for " +
            std::to_string(config().retry_after_ms) + " ms");
    } catch (...) {
    }
    if (b->stats)
        b->stats->failed(now_ns(), config().retry_after_ms);
    close_backend(s, b);
}

void
record_session_set(ConnState &s, const std::string &text, const router::Classification &c)
{
    if (c.resets_session) {
        s.session_sets.clear();
        for (auto &b : s.backends)
            b->sets_applied = 0;
    }
    if (c.discards_prepared)
        forget_prepared(s, "");
    if (s.session_sets.size() >= 256) {
        log("more than 256 session SETs on one connection; later ones are not replayed on service connections");
        return;
    }
    s.session_sets.push_back(text);
    for (auto &b : s.backends) {
        std::string error;
        for (; b->sets_applied < s.session_sets.size(); ++b->sets_applied)
            if (!exec_ok(b->conn, s.session_sets[b->sets_applied], &error))
                log("service \"" + b->service + "\": \"" + s.session_sets[b->sets_applied] + "\" failed: " + error);
    }
}

void
forget_prepared(ConnState &s, const std::string &name)
{
    if (name.empty())
        s.prepared.clear();
    else
        s.prepared.erase(name);
    for (auto &b : s.backends) {
        if (name.empty()) {
            if (!b->prepared.empty())
                (void)exec_ok(b->conn, "DEALLOCATE ALL");
            b->prepared.clear();
        } else if (b->prepared.erase(name)) {
            std::string quoted = "\"";
            for (char c : name)
                quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
            (void)exec_ok(b->conn, "DEALLOCATE " + quoted + "\"");
        }
    }
}

} // namespace pymigrate::shim

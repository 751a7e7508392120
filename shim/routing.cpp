#include "shim/routing.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>

#include "router/decide.hpp"
#include "router/sqlcommenter.hpp"
#include "shim/backend.hpp"
#include "shim/config.hpp"
#include "shim/control_plane.hpp"
#include "shim/log.hpp"
#include "shim/real_libpq.hpp"

namespace pymigrate::shim
{

using router::Classification;
using router::StatementKind;

namespace
{

thread_local router::ClassifierCache t_cache;
thread_local std::string t_key;

bool
in_transaction(PGTransactionStatusType t) noexcept
{
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

// The routing key: a sqlcommenter route_key tag, else the API's, else none
// (decide() then uses the connection's random key).
std::string_view
key_for(ConnState &s, std::string_view comment)
{
    if (!comment.empty() && router::sqlcommenter_value(comment, "route_key", t_key) && !t_key.empty())
        return t_key;
    return s.api_key;
}

// The first keyword, lower-cased, after whitespace and comments.
bool
starts_with_session_keyword(const char *sql) noexcept
{
    const char *p = sql;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '(')
            ++p;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                ++p;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = std::strstr(p + 2, "*/");
            if (!end)
                return false;
            p = end + 2;
        } else {
            break;
        }
    }
    // ASCII only (keywords are), inline: this runs on every statement at 0 %.
    char word[12] = {};
    for (size_t i = 0; i < sizeof word - 1; ++i) {
        char lower = static_cast<char>(p[i] | 0x20);
        if (lower < 'a' || lower > 'z')
            break;
        word[i] = lower;
    }
    std::string_view w(word);
    return w == "set" || w == "reset" || w == "discard" || w == "deallocate";
}

// The session on the service is gone: libpq saw the connection close, or
// the server said FATAL (it sends that, then closes; libpq returns the error
// before it notices the close).
bool
connection_lost(const RealLibpq &pq, PGresult *r, PGconn *conn)
{
    if (!r || pq.PQresultStatus(r) != PGRES_FATAL_ERROR)
        return false;
    if (pq.PQstatus(conn) == CONNECTION_BAD)
        return true;
    const char *severity = pq.PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    return severity && (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0);
}

// A write is sent again only when the server said it ended the session
// before doing anything (shutdown, crash recovery, terminated), or when it
// reset the connection: a server that closes its socket with our request
// still unread in it makes the kernel answer with a reset (ECONNRESET), so
// the request was not read whole, and a statement not read whole was not
// committed (a simple Query is one message; an extended-protocol statement
// commits at Sync, its last message). An answer that is merely missing (a
// clean close) could also mean it committed: that is the application's
// error to see.
bool
server_ended_session(const RealLibpq &pq, PGresult *r)
{
    const char *state = pq.PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return state && std::string_view(state).substr(0, 3) == "57P";
}

void
count_error(Op &op)
{
    if (op.stats && !op.error_counted) {
        op.stats->errors.fetch_add(1, std::memory_order_relaxed);
        op.error_counted = true;
    }
}

// Starts a statement on the monolith after the service failed; for the
// statement that had moved a fresh transaction there, the transaction is
// opened again on the monolith first.
int
resend_on_monolith(ConnState &s, bool reopen_transaction)
{
    const RealLibpq &pq = real();
    if (reopen_transaction && !s.begin_text.empty()) {
        PGresult *r = pq.PQexec(s.app, s.begin_text.c_str());
        if (r)
            pq.PQclear(r);
    }
    s.op.svc = nullptr;
    s.op.pinning = false;
    s.op.retryable = false;
    s.last = nullptr;
    s.cancel->service.store(nullptr);
    if (s.op.stats)
        s.op.stats->fallbacks.fetch_add(1, std::memory_order_relaxed);
    return s.op.req.send(s.app);
}

// A notice receiver that only notes a FATAL (used while peeking at an idle
// service connection, so the shutdown message is not shown as a notice).
void
note_fatal(void *arg, const PGresult *r)
{
    const char *severity = real().PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity && (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0))
        *static_cast<bool *>(arg) = true;
}

// Before a write goes to the service: has the server already ended this
// idle session (shutdown, terminate)? A write sent into a dying session
// can come back as a bare "connection closed", and then it cannot be sent
// again safely; found now, it goes to the monolith instead. One poll(2).
bool
session_already_ended(const ConnState &s, ServiceBackend &b)
{
    const RealLibpq &pq = real();
    int fd = pq.PQsocket(b.conn);
    if (fd < 0)
        return true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0)
        return false;
    bool fatal = false;
    PQnoticeReceiver old = pq.PQsetNoticeReceiver(b.conn, note_fatal, &fatal);
    int ok = pq.PQconsumeInput(b.conn);
    // libpq's default receiver ignores its argument; the application's own is known.
    if (s.notice_receiver)
        pq.PQsetNoticeReceiver(b.conn, s.notice_receiver, s.notice_receiver_arg);
    else
        pq.PQsetNoticeReceiver(b.conn, old, nullptr);
    return !ok || fatal || pq.PQstatus(b.conn) == CONNECTION_BAD;
}

} // namespace

namespace
{

// The service session under the statement in flight is gone and `r` is the
// error libpq made of it. When it is safe, the statement is started again on
// the monolith (true; `r` is consumed). Otherwise the caller hands `r` to the
// application.
bool
take_over_lost(ConnState &s, PGresult *r, bool reset_by_server)
{
    const RealLibpq &pq = real();
    Op &op = s.op;
    ServiceBackend *b = op.svc;
    count_error(op);
    bool safe = op.retryable && op.delivered == 0 && (!op.write || server_ended_session(pq, r) || reset_by_server);
    if (!safe) {
        const char *state = pq.PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const char *msg = pq.PQresultErrorMessage(r);
        log("service \"" + b->service + "\" failed under a statement that cannot be sent again (" +
            (!op.retryable  ? "inside a transaction on the service"
             : op.delivered ? "results already delivered"
                            : "a write whose outcome is unknown") +
            "; " + (state ? state : "no SQLSTATE") + ": " + (msg ? msg : "") + "); the application gets the error");
        op.failed = true;
        op.lost = true;
        return false;
    }
    const char *primary = pq.PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    std::string why = primary ? primary : "connection lost";
    pq.PQclear(r);
    bool reopen = op.pinning;
    backend_failed(s, b, why);
    if (!resend_on_monolith(s, reopen)) {
        // The monolith refused it too: its error is the application's.
        op.failed = true;
        op.held = pq.PQgetResult(s.app);
    }
    return true;
}

} // namespace

void
rescue_lost_service(ConnState &s, bool reset_by_server)
{
    const RealLibpq &pq = real();
    Op &op = s.op;
    if (!op.active || !op.svc || op.held || pq.PQstatus(op.svc->conn) != CONNECTION_BAD)
        return;
    // libpq does not block on a closed connection: this is the error it made.
    PGresult *r = pq.PQgetResult(op.svc->conn);
    if (!r)
        r = pq.PQmakeEmptyPGresult(op.svc->conn, PGRES_FATAL_ERROR);
    if (!take_over_lost(s, r, reset_by_server))
        op.held = r;
}

void
refresh_routes(ConnState &s)
{
    ControlPlane &cp = ControlPlane::instance();
    uint64_t g = cp.generation();
    if (g == s.routes_generation)
        return;
    s.routes = cp.routes();
    s.routes_generation = g;
    s.by_rule.clear();
    if (s.routes)
        for (const auto &r : s.routes->rules()) {
            std::string dsn = service_dsn_override(r.service);
            s.by_rule.push_back({&service_stats(r.service), dsn.empty() ? r.dsn : std::move(dsn)});
        }
}

Classified
classify_text(ConnState &s, const char *sql)
{
    router::ScanResult scan;
    const auto &cls = t_cache.classify(sql, std::strlen(sql), scan);
    return Classified{cls, key_for(s, scan.route_comment)};
}

Classified
classify_prepared(ConnState &s, PreparedStatement &ps)
{
    router::ScanResult scan;
    if (!ps.cls) {
        ps.cls = t_cache.classify(ps.text.c_str(), ps.text.size(), scan);
        if (!scan.route_comment.empty() && router::sqlcommenter_value(scan.route_comment, "route_key", t_key))
            ps.route_key = t_key;
    }
    return Classified{ps.cls, ps.route_key.empty() ? std::string_view(s.api_key) : std::string_view(ps.route_key)};
}

bool
pass_through(ConnState &s, const char *sql)
{
    if (s.pipeline)
        return true;
    refresh_routes(s);
    if (s.routes && !s.routes->routes_nothing())
        return false;
    if (s.pinned_svc || (s.op.active && s.op.svc))
        return false;
    return !starts_with_session_keyword(sql);
}

Choice
choose(ConnState &s, const Classification &c, std::string_view key)
{
    const RealLibpq &pq = real();
    Choice none;
    if (s.pipeline)
        return none;
    if (s.pinned_svc) {
        PGTransactionStatusType t = pq.PQtransactionStatus(s.pinned_svc->conn);
        if (t == PQTRANS_IDLE || t == PQTRANS_UNKNOWN) {
            s.pinned_svc = nullptr;
        } else {
            Choice pinned;
            pinned.backend = s.pinned_svc;
            pinned.stats = s.pinned_svc->stats;
            pinned.stats->routed.fetch_add(1, std::memory_order_relaxed);
            return pinned;
        }
    }
    bool in_txn = in_transaction(pq.PQtransactionStatus(s.app));
    if (!in_txn)
        s.txn_fresh = false;
    else if (!s.txn_fresh)
        return none; // the transaction already ran something on the monolith: it stays there
    if (c.kind != StatementKind::Data)
        return none;
    refresh_routes(s);
    if (!s.routes || s.routes->routes_nothing())
        return none;
    int idx = router::resolve_service(c, *s.routes);
    if (idx < 0)
        return none;
    const router::RouteRule &rule = s.routes->rules()[static_cast<size_t>(idx)];
    router::RoutingKey rk{key, s.conn_key};
    uint64_t draw = rule.sticky ? 0 : router::random_u64();
    if (router::decide(rule, s.routes->seed(idx), rk, draw) != router::Target::Service)
        return none;
    const ConnState::RuleState &rs = s.by_rule[static_cast<size_t>(idx)];
    ServiceStats *stats = rs.stats;
    stats->routed.fetch_add(1, std::memory_order_relaxed);
    Choice out;
    out.stats = stats;
    auto fallback = [&] {
        stats->errors.fetch_add(1, std::memory_order_relaxed);
        stats->fallbacks.fetch_add(1, std::memory_order_relaxed);
        return out;
    };
    if (!stats->healthy(now_ns()))
        return fallback();
    if (in_txn) {
        if (rule.transactions == router::TransactionPolicy::Monolith)
            return out; // not a failure: the policy keeps transactions on the monolith
        out.pin_first = true;
    }
    out.backend = service_backend(s, rule.service, rs.dsn, *stats);
    if (!out.backend)
        return fallback();
    return out;
}

Start
start_on_service(ConnState &s, const Choice &choice, Request req, std::shared_ptr<const Classification> cls)
{
    const RealLibpq &pq = real();
    ServiceBackend *b = choice.backend;
    bool was_pinned = s.pinned_svc == b;
    auto fail = [&](const std::string &why) {
        choice.stats->errors.fetch_add(1, std::memory_order_relaxed);
        if (was_pinned) {
            // A transaction on the service cannot move: PostgreSQL would fail
            // it too. The application sees the service's error.
            choice.stats->failed(now_ns(), config().retry_after_ms);
            s.last = b;
            return Start::Failed;
        }
        choice.stats->fallbacks.fetch_add(1, std::memory_order_relaxed);
        backend_failed(s, b, why);
        return Start::UseMonolith;
    };
    // Prepared statements are prepared lazily on each backend that runs them.
    // The unnamed one is replaced by every PQexecParams, so it is prepared
    // every time.
    if (req.kind == Request::Kind::Prepared && (req.text.empty() || !b->prepared.count(req.text))) {
        auto it = s.prepared.find(req.text);
        if (it == s.prepared.end()) {
            if (was_pinned)
                return fail("prepared statement \"" + req.text + "\" is not known to the shim");
            return Start::UseMonolith; // prepared behind the shim's back: the monolith has it
        }
        const PreparedStatement &ps = it->second;
        PGresult *r = pq.PQprepare(b->conn, req.text.c_str(), ps.text.c_str(), ps.nparams,
                                   ps.types.empty() ? nullptr : ps.types.data());
        bool ok = r && pq.PQresultStatus(r) == PGRES_COMMAND_OK;
        bool lost = !r || pq.PQstatus(b->conn) == CONNECTION_BAD;
        if (r)
            pq.PQclear(r);
        if (!ok) {
            if (lost || was_pinned)
                return fail(pq.PQerrorMessage(b->conn));
            // The service cannot prepare what the monolith could (a schema
            // difference): counted, and the monolith runs it.
            choice.stats->errors.fetch_add(1, std::memory_order_relaxed);
            choice.stats->fallbacks.fetch_add(1, std::memory_order_relaxed);
            return Start::UseMonolith;
        }
        b->prepared.insert(req.text);
    }
    if (choice.pin_first) {
        // Move the fresh transaction: BEGIN (with its options) on the service,
        // then end the empty one on the monolith.
        if (s.begin_text.empty())
            s.begin_text = "BEGIN";
        PGresult *r = pq.PQexec(b->conn, s.begin_text.c_str());
        bool ok = r && pq.PQresultStatus(r) == PGRES_COMMAND_OK;
        if (r)
            pq.PQclear(r);
        if (!ok)
            return fail(pq.PQerrorMessage(b->conn));
        r = pq.PQexec(s.app, "ROLLBACK");
        if (r)
            pq.PQclear(r);
        s.pinned_svc = b;
        s.txn_fresh = false;
    }
    if (!was_pinned && !choice.pin_first && (!cls || cls->write) && session_already_ended(s, *b))
        return fail("the server ended the session");
    if (!req.send(b->conn)) {
        std::string why = pq.PQerrorMessage(b->conn);
        if (choice.pin_first) {
            // Give the transaction back to the monolith, still fresh.
            s.pinned_svc = nullptr;
            PGresult *r = pq.PQexec(s.app, s.begin_text.c_str());
            if (r)
                pq.PQclear(r);
            s.txn_fresh = true;
        }
        return fail(why);
    }
    Op &op = s.op;
    op = Op{};
    op.active = true;
    op.svc = b;
    op.stats = choice.stats;
    op.retryable = !was_pinned;
    op.pinning = choice.pin_first;
    op.write = cls ? cls->write : true;
    op.start_ns = now_ns();
    op.cls = std::move(cls);
    op.req = std::move(req);
    s.last = b;
    s.cancel->service.store(b->cancel);
    return Start::Sent;
}

PGresult *
failed_result(ConnState &s)
{
    const RealLibpq &pq = real();
    PGconn *from = s.last ? s.last->conn : s.app;
    return pq.PQmakeEmptyPGresult(from, PGRES_FATAL_ERROR);
}

int
start_on_monolith(ConnState &s, const Request &req, std::shared_ptr<const Classification> cls, const char *text)
{
    const RealLibpq &pq = real();
    bool was_idle = pq.PQtransactionStatus(s.app) == PQTRANS_IDLE;
    int ok = req.send(s.app);
    s.last = nullptr;
    if (!ok)
        return ok;
    Op &op = s.op;
    ServiceStats *stats = op.stats; // a fallback keeps counting for the service the route chose
    op = Op{};
    op.active = true;
    op.stats = stats;
    op.was_idle = was_idle;
    op.cls = std::move(cls);
    if (op.cls && (op.cls->kind == StatementKind::Begin || op.cls->kind == StatementKind::SessionSet) && text)
        op.text = text;
    return ok;
}

void
after_monolith_exec(ConnState &s, const Classification *c, const char *text, PGresult *r, bool was_idle)
{
    const RealLibpq &pq = real();
    s.last = nullptr;
    PGTransactionStatusType t = pq.PQtransactionStatus(s.app);
    bool ok = r && pq.PQresultStatus(r) != PGRES_FATAL_ERROR && pq.PQresultStatus(r) != PGRES_NONFATAL_ERROR;
    if (!in_transaction(t)) {
        s.txn_fresh = false;
    } else if (c && c->kind == StatementKind::Begin && was_idle && ok) {
        s.txn_fresh = true;
        s.begin_text = text;
    } else {
        s.txn_fresh = false;
    }
    if (!ok || !c || !text)
        return;
    if (c->kind == StatementKind::SessionSet && was_idle && t == PQTRANS_IDLE)
        record_session_set(s, text, *c);
    else if (c->kind == StatementKind::Deallocate)
        forget_prepared(s, c->deallocate_name);
}

void
finish_op(ConnState &s)
{
    const RealLibpq &pq = real();
    Op &op = s.op;
    if (!op.active)
        return;
    op.active = false;
    if (ServiceBackend *b = op.svc) {
        s.cancel->service.store(nullptr);
        if (!op.failed && op.stats)
            op.stats->answered(now_ns() - op.start_ns);
        if (op.lost || pq.PQstatus(b->conn) == CONNECTION_BAD) {
            backend_failed(s, b, pq.PQerrorMessage(b->conn));
        } else {
            PGTransactionStatusType t = pq.PQtransactionStatus(b->conn);
            s.pinned_svc = (t == PQTRANS_IDLE || t == PQTRANS_UNKNOWN) ? nullptr : b;
        }
    } else {
        PGTransactionStatusType t = pq.PQtransactionStatus(s.app);
        const Classification *c = op.cls.get();
        if (!in_transaction(t)) {
            s.txn_fresh = false;
        } else if (c && c->kind == StatementKind::Begin && op.was_idle && !op.failed) {
            s.txn_fresh = true;
            s.begin_text = op.text;
        } else {
            s.txn_fresh = false;
        }
        if (c && !op.failed) {
            if (c->kind == StatementKind::SessionSet && op.was_idle && t == PQTRANS_IDLE)
                record_session_set(s, op.text, *c);
            else if (c->kind == StatementKind::Deallocate)
                forget_prepared(s, c->deallocate_name);
        }
    }
    op.req = Request{};
    op.cls.reset();
    if (op.held) {
        pq.PQclear(op.held);
        op.held = nullptr;
    }
}

PGresult *
routed_get_result(ConnState &s)
{
    const RealLibpq &pq = real();
    Op &op = s.op;
    if (!op.active)
        return pq.PQgetResult(s.app);
    if (!op.svc) {
        PGresult *r = pq.PQgetResult(s.app);
        if (!r) {
            finish_op(s);
            return nullptr;
        }
        ++op.delivered;
        ExecStatusType st = pq.PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR)
            op.failed = true;
        return r;
    }
    if (op.held) {
        PGresult *r = op.held;
        op.held = nullptr;
        ++op.delivered;
        return r;
    }
    ServiceBackend *b = op.svc;
    errno = 0;
    PGresult *r = pq.PQgetResult(b->conn);
    bool reset = errno == ECONNRESET;
    if (connection_lost(pq, r, b->conn)) {
        if (take_over_lost(s, r, reset))
            return routed_get_result(s);
        ++op.delivered;
        return r;
    }
    if (!r) {
        finish_op(s);
        return nullptr;
    }
    ++op.delivered;
    if (pq.PQresultStatus(r) == PGRES_FATAL_ERROR) {
        op.failed = true;
        const char *state = pq.PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (router::counts_as_service_error(state ? state : ""))
            count_error(op);
    }
    return r;
}

PGresult *
exec_finish(ConnState &s)
{
    const RealLibpq &pq = real();
    PGresult *last = nullptr;
    while (PGresult *r = routed_get_result(s)) {
        if (last)
            pq.PQclear(last);
        last = r;
        ExecStatusType st = pq.PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
            break;
        PGconn *c = io_conn(s);
        if (pq.PQstatus(c) == CONNECTION_BAD || s.op.lost) {
            // Drain: the next call returns NULL and finishes the statement.
            while (s.op.active) {
                PGresult *more = routed_get_result(s);
                if (!more)
                    break;
                pq.PQclear(more);
            }
            break;
        }
    }
    return last;
}

bool
settle_previous(ConnState &s, bool drain)
{
    const RealLibpq &pq = real();
    if (!s.op.active)
        return true;
    PGconn *c = io_conn(s);
    // libpq accepts a new statement once ReadyForQuery was read, even if
    // PQgetResult has not returned NULL yet; so does the shim.
    (void)pq.PQisBusy(c);
    if (pq.PQtransactionStatus(c) != PQTRANS_ACTIVE) {
        finish_op(s);
        return true;
    }
    if (!drain)
        return false; // still running: libpq will refuse the new statement, as it would without the shim
    while (s.op.active) {
        PGresult *r = routed_get_result(s);
        if (!r)
            break;
        ExecStatusType st = pq.PQresultStatus(r);
        pq.PQclear(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
            return false; // libpq refuses a new statement during COPY; so will the backend
    }
    return true;
}

PGconn *
io_conn(ConnState &s) noexcept
{
    return s.op.active && s.op.svc ? s.op.svc->conn : s.app;
}

} // namespace pymigrate::shim

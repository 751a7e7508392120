// Statements, synchronous and asynchronous: classified, routed, and for the
// service, run there with the results coming back through the application's
// own PGconn.
#include "shim/control_plane.hpp"
#include "shim/entry.hpp"
#include "shim/routing.hpp"

using namespace pymigrate::shim;
using pymigrate::router::Classification;

namespace {

void
begin_monolith_op(ConnState &s, std::shared_ptr<const Classification> cls, const char *text, bool was_idle,
                  ServiceStats *stats)
{
    Op &op = s.op;
    op = Op{};
    op.active = true;
    op.stats = stats;
    op.was_idle = was_idle;
    op.start_ns = now_ns();
    if (cls && text &&
        (cls->kind == pymigrate::router::StatementKind::Begin ||
         cls->kind == pymigrate::router::StatementKind::SessionSet))
        op.text = text;
    op.cls = std::move(cls);
    s.last = nullptr;
}

bool
monolith_idle(ConnState &s)
{
    return real().PQtransactionStatus(s.app) == PQTRANS_IDLE;
}

// A statement whose text decides its route (PQexec, PQexecParams and their
// async forms). `exec_on` runs it synchronously on a connection, `send_on`
// sends it; `make` builds the copy that goes with a service statement.
template <typename ExecOn, typename MakeRequest>
PGresult *
exec_routed(ConnState &s, const char *query, ExecOn exec_on, MakeRequest make)
{
    ControlPlane::instance().poll();
    if (!settle_previous(s, true))
        return exec_on(io_conn(s)); // a COPY is in progress: libpq says so
    if (!query || pass_through(s, query))
        return exec_on(s.app);
    Classified c = classify_text(s, query);
    Choice ch = choose(s, *c.cls, c.key);
    if (ch.backend) {
        switch (start_on_service(s, ch, make(), c.cls)) {
        case Start::Sent:
            return exec_finish(s);
        case Start::Failed:
            return failed_result(s);
        case Start::UseMonolith:
            break;
        }
    }
    bool was_idle = monolith_idle(s);
    PGresult *r = exec_on(s.app);
    after_monolith_exec(s, c.cls.get(), query, r, was_idle);
    return r;
}

template <typename SendOn, typename MakeRequest>
int
send_routed(ConnState &s, const char *query, SendOn send_on, MakeRequest make)
{
    ControlPlane::instance().poll();
    if (!settle_previous(s, false))
        return send_on(io_conn(s)); // still busy: libpq refuses, as without the shim
    if (!query || pass_through(s, query))
        return send_on(s.app);
    Classified c = classify_text(s, query);
    Choice ch = choose(s, *c.cls, c.key);
    if (ch.backend) {
        switch (start_on_service(s, ch, make(), c.cls)) {
        case Start::Sent:
            return 1;
        case Start::Failed:
            return 0;
        case Start::UseMonolith:
            break;
        }
    }
    bool was_idle = monolith_idle(s);
    int ok = send_on(s.app);
    if (ok)
        begin_monolith_op(s, c.cls, query, was_idle, ch.stats);
    return ok;
}

void
remember_prepared(ConnState &s, const char *name, const char *query, int nparams, const Oid *types)
{
    PreparedStatement ps;
    ps.text = query ? query : "";
    ps.nparams = nparams;
    if (types && nparams > 0)
        ps.types.assign(types, types + nparams);
    std::string key = name ? name : "";
    s.prepared[key] = std::move(ps);
    for (auto &b : s.backends)
        b->prepared.erase(key); // re-prepared lazily with the new text
}

} // namespace

PYMIGRATE_EXPORT PGresult *
PQexec(PGconn *conn, const char *query)
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return real().PQexec(conn, query);
    Inside in;
    return guarded(
        *s,
        [&] {
            return exec_routed(
                *s, query, [&](PGconn *c) { return real().PQexec(c, query); }, [&] { return Request::query(query); });
        },
        [&] { return real().PQexec(conn, query); });
}

PYMIGRATE_EXPORT PGresult *
PQexecParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes, const char *const *paramValues,
             const int *paramLengths, const int *paramFormats, int resultFormat)
{
    auto direct = [&](PGconn *c) {
        return real().PQexecParams(c, command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
                                   resultFormat);
    };
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return direct(conn);
    Inside in;
    return guarded(
        *s,
        [&] {
            return exec_routed(*s, command, direct, [&] {
                return Request::params(command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
                                       resultFormat);
            });
        },
        [&] { return direct(conn); });
}

PYMIGRATE_EXPORT int
PQsendQuery(PGconn *conn, const char *query)
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return real().PQsendQuery(conn, query);
    Inside in;
    return guarded(
        *s,
        [&] {
            return send_routed(
                *s, query, [&](PGconn *c) { return real().PQsendQuery(c, query); },
                [&] { return Request::query(query); });
        },
        [&] { return real().PQsendQuery(conn, query); });
}

PYMIGRATE_EXPORT int
PQsendQueryParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                  const char *const *paramValues, const int *paramLengths, const int *paramFormats, int resultFormat)
{
    auto direct = [&](PGconn *c) {
        return real().PQsendQueryParams(c, command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
                                        resultFormat);
    };
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return direct(conn);
    Inside in;
    return guarded(
        *s,
        [&] {
            return send_routed(*s, command, direct, [&] {
                return Request::params(command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
                                       resultFormat);
            });
        },
        [&] { return direct(conn); });
}

// Prepared statements: prepared on the monolith (its answer is the
// application's answer), remembered, and prepared on a service the first
// time a route sends them there.
PYMIGRATE_EXPORT PGresult *
PQprepare(PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes)
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return real().PQprepare(conn, stmtName, query, nParams, paramTypes);
    Inside in;
    return guarded(
        *s,
        [&] {
            ControlPlane::instance().poll();
            if (!settle_previous(*s, true))
                return real().PQprepare(io_conn(*s), stmtName, query, nParams, paramTypes);
            PGresult *r = real().PQprepare(conn, stmtName, query, nParams, paramTypes);
            s->last = nullptr;
            if (r && real().PQresultStatus(r) == PGRES_COMMAND_OK)
                remember_prepared(*s, stmtName, query, nParams, paramTypes);
            return r;
        },
        [&] { return real().PQprepare(conn, stmtName, query, nParams, paramTypes); });
}

PYMIGRATE_EXPORT int
PQsendPrepare(PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes)
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return real().PQsendPrepare(conn, stmtName, query, nParams, paramTypes);
    Inside in;
    return guarded(
        *s,
        [&] {
            ControlPlane::instance().poll();
            if (!settle_previous(*s, false))
                return real().PQsendPrepare(io_conn(*s), stmtName, query, nParams, paramTypes);
            int ok = real().PQsendPrepare(conn, stmtName, query, nParams, paramTypes);
            if (ok) {
                // Remembered now; if the monolith refuses it, executing it fails there too.
                remember_prepared(*s, stmtName, query, nParams, paramTypes);
                begin_monolith_op(*s, nullptr, nullptr, monolith_idle(*s), nullptr);
            }
            return ok;
        },
        [&] { return real().PQsendPrepare(conn, stmtName, query, nParams, paramTypes); });
}

namespace {

template <typename ExecOn>
PGresult *
exec_prepared_routed(ConnState &s, const char *name, ExecOn exec_on, int n, const char *const *values,
                     const int *lengths, const int *formats, int result_format)
{
    ControlPlane::instance().poll();
    if (!settle_previous(s, true))
        return exec_on(io_conn(s));
    auto it = s.prepared.find(name ? name : "");
    if (it == s.prepared.end() || pass_through(s, it->second.text.c_str()))
        return exec_on(s.app);
    Classified c = classify_prepared(s, it->second);
    Choice ch = choose(s, *c.cls, c.key);
    if (ch.backend) {
        switch (start_on_service(s, ch, Request::prepared(name, n, values, lengths, formats, result_format), c.cls)) {
        case Start::Sent:
            return exec_finish(s);
        case Start::Failed:
            return failed_result(s);
        case Start::UseMonolith:
            break;
        }
    }
    bool was_idle = monolith_idle(s);
    std::string text = it->second.text; // a prepared BEGIN is what a moved transaction starts with
    PGresult *r = exec_on(s.app);
    after_monolith_exec(s, c.cls.get(), text.c_str(), r, was_idle);
    return r;
}

} // namespace

PYMIGRATE_EXPORT PGresult *
PQexecPrepared(PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues,
               const int *paramLengths, const int *paramFormats, int resultFormat)
{
    auto direct = [&](PGconn *c) {
        return real().PQexecPrepared(c, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat);
    };
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return direct(conn);
    Inside in;
    return guarded(
        *s,
        [&] {
            return exec_prepared_routed(*s, stmtName, direct, nParams, paramValues, paramLengths, paramFormats,
                                        resultFormat);
        },
        [&] { return direct(conn); });
}

PYMIGRATE_EXPORT int
PQsendQueryPrepared(PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues,
                    const int *paramLengths, const int *paramFormats, int resultFormat)
{
    auto direct = [&](PGconn *c) {
        return real().PQsendQueryPrepared(c, stmtName, nParams, paramValues, paramLengths, paramFormats,
                                          resultFormat);
    };
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return direct(conn);
    Inside in;
    return guarded(
        *s,
        [&] {
            ControlPlane::instance().poll();
            if (!settle_previous(*s, false))
                return direct(io_conn(*s));
            auto it = s->prepared.find(stmtName ? stmtName : "");
            if (it == s->prepared.end() || pass_through(*s, it->second.text.c_str()))
                return direct(conn);
            Classified c = classify_prepared(*s, it->second);
            Choice ch = choose(*s, *c.cls, c.key);
            if (ch.backend) {
                switch (start_on_service(
                    *s, ch, Request::prepared(stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat),
                    c.cls)) {
                case Start::Sent:
                    return 1;
                case Start::Failed:
                    return 0;
                case Start::UseMonolith:
                    break;
                }
            }
            bool was_idle = monolith_idle(*s);
            std::string text = it->second.text;
            int ok = direct(conn);
            if (ok)
                begin_monolith_op(*s, c.cls, text.c_str(), was_idle, ch.stats);
            return ok;
        },
        [&] { return direct(conn); });
}

// Describing: a prepared statement exists on the monolith; a portal lives in
// the transaction, wherever that runs.
PYMIGRATE_EXPORT PGresult *
PQdescribePrepared(PGconn *conn, const char *stmt)
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return real().PQdescribePrepared(conn, stmt);
    Inside in;
    if (!settle_previous(*s, true))
        return real().PQdescribePrepared(io_conn(*s), stmt);
    s->last = nullptr;
    return real().PQdescribePrepared(conn, stmt);
}

PYMIGRATE_EXPORT PGresult *
PQdescribePortal(PGconn *conn, const char *portal)
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return real().PQdescribePortal(conn, portal);
    Inside in;
    if (!settle_previous(*s, true))
        return real().PQdescribePortal(io_conn(*s), portal);
    s->last = s->pinned_svc;
    return real().PQdescribePortal(s->pinned_svc ? s->pinned_svc->conn : conn, portal);
}

PYMIGRATE_EXPORT int
PQsendDescribePrepared(PGconn *conn, const char *stmt)
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return real().PQsendDescribePrepared(conn, stmt);
    Inside in;
    if (!settle_previous(*s, false))
        return real().PQsendDescribePrepared(io_conn(*s), stmt);
    int ok = real().PQsendDescribePrepared(conn, stmt);
    if (ok)
        begin_monolith_op(*s, nullptr, nullptr, monolith_idle(*s), nullptr);
    return ok;
}

PYMIGRATE_EXPORT int
PQsendDescribePortal(PGconn *conn, const char *portal)
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return real().PQsendDescribePortal(conn, portal);
    Inside in;
    if (!settle_previous(*s, false))
        return real().PQsendDescribePortal(io_conn(*s), portal);
    if (ServiceBackend *b = s->pinned_svc) {
        int ok = real().PQsendDescribePortal(b->conn, portal);
        s->last = b;
        if (ok) {
            s->op = Op{};
            s->op.active = true;
            s->op.svc = b; // not retried, not counted: part of the transaction there
            s->op.start_ns = now_ns();
        }
        return ok;
    }
    int ok = real().PQsendDescribePortal(conn, portal);
    if (ok)
        begin_monolith_op(*s, nullptr, nullptr, monolith_idle(*s), nullptr);
    return ok;
}

PYMIGRATE_EXPORT PGresult *
PQgetResult(PGconn *conn)
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return real().PQgetResult(conn);
    Inside in;
    return guarded(*s, [&] { return routed_get_result(*s); }, [&] { return real().PQgetResult(conn); });
}

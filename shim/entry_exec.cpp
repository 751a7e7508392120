// Statements, synchronous and asynchronous: classified, routed, and for the
// service, run there with the results coming back through the application's
// own PGconn.
#include <optional>
#include <string>

#include "shim/control_plane.hpp"
#include "shim/entry.hpp"
#include "shim/routing.hpp"

using namespace pymigrate::shim;
using pymigrate::router::Classification;

namespace
{

void
begin_monolith_op(ConnState &s, std::shared_ptr<const Classification> cls, const char *text, bool was_idle,
                  ServiceStats *stats)
{
    Op &op = s.op;
    op = Op{};
    op.active = true;
    op.stats = stats;
    op.was_idle = was_idle;
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
// A statement to route: its classification and key, and its text (what
// a BEGIN or SET is recorded as).
struct Statement {
    Classified c;
    const char *text = nullptr;
    std::string owned; // a prepared statement's text, copied (a DEALLOCATE may drop the original)
};

// By query text; nullopt when it goes straight to libpq.
auto
by_text(const char *query)
{
    return [query](ConnState &s) -> std::optional<Statement> {
        if (!query || pass_through(s, query))
            return std::nullopt;
        return Statement{classify_text(s, query), query, {}};
    };
}

// By prepared statement name; nullopt for one the shim did not see prepared.
auto
by_name(const char *name)
{
    return [name](ConnState &s) -> std::optional<Statement> {
        auto it = s.prepared.find(name ? name : "");
        if (it == s.prepared.end() || pass_through(s, it->second.text.c_str()))
            return std::nullopt;
        Statement st{classify_prepared(s, it->second), nullptr, it->second.text};
        st.text = st.owned.c_str();
        return st;
    };
}

// The synchronous entry points (PQexec, PQexecParams, PQexecPrepared):
// `find` says what the statement is, `exec_on` runs it synchronously on a
// connection, `make` builds the copy that goes with a service statement.
template <typename Find, typename ExecOn, typename MakeRequest>
PGresult *
exec_routed(ConnState &s, Find find, ExecOn exec_on, MakeRequest make)
{
    ControlPlane::instance().poll();
    if (!settle_previous(s, true))
        return exec_on(io_conn(s)); // a COPY is in progress: libpq says so
    std::optional<Statement> st = find(s);
    if (!st)
        return exec_on(s.app);
    Choice ch = choose(s, *st->c.cls, st->c.key);
    if (ch.backend) {
        switch (start_on_service(s, ch, make(), st->c.cls)) {
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
    after_monolith_exec(s, st->c.cls.get(), st->text, r, was_idle);
    return r;
}

// The asynchronous ones (PQsendQuery, PQsendQueryParams, PQsendQueryPrepared).
template <typename Find, typename SendOn, typename MakeRequest>
int
send_routed(ConnState &s, Find find, SendOn send_on, MakeRequest make)
{
    ControlPlane::instance().poll();
    if (!settle_previous(s, false))
        return send_on(io_conn(s)); // still busy: libpq refuses, as without the shim
    std::optional<Statement> st = find(s);
    if (!st)
        return send_on(s.app);
    Choice ch = choose(s, *st->c.cls, st->c.key);
    if (ch.backend) {
        switch (start_on_service(s, ch, make(), st->c.cls)) {
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
        begin_monolith_op(s, st->c.cls, st->text, was_idle, ch.stats);
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
    auto direct = [&](PGconn *c) { return real().PQexec(c, query); };
    return entry(conn, direct, [&](ConnState &s) {
        return exec_routed(s, by_text(query), direct, [&] { return Request::query(query); });
    });
}

PYMIGRATE_EXPORT PGresult *
PQexecParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes, const char *const *paramValues,
             const int *paramLengths, const int *paramFormats, int resultFormat)
{
    auto direct = [&](PGconn *c) {
        return real().PQexecParams(c, command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
                                   resultFormat);
    };
    return entry(conn, direct, [&](ConnState &s) {
        return exec_routed(s, by_text(command), direct, [&] {
            return Request::params(command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat);
        });
    });
}

PYMIGRATE_EXPORT int
PQsendQuery(PGconn *conn, const char *query)
{
    auto direct = [&](PGconn *c) { return real().PQsendQuery(c, query); };
    return entry(conn, direct, [&](ConnState &s) {
        return send_routed(s, by_text(query), direct, [&] { return Request::query(query); });
    });
}

PYMIGRATE_EXPORT int
PQsendQueryParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes, const char *const *paramValues,
                  const int *paramLengths, const int *paramFormats, int resultFormat)
{
    auto direct = [&](PGconn *c) {
        return real().PQsendQueryParams(c, command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
                                        resultFormat);
    };
    return entry(conn, direct, [&](ConnState &s) {
        return send_routed(s, by_text(command), direct, [&] {
            return Request::params(command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat);
        });
    });
}

// Prepared statements: prepared on the monolith (its answer is the
// application's answer), remembered, and prepared on a service the first
// time a route sends them there.
PYMIGRATE_EXPORT PGresult *
PQprepare(PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes)
{
    auto direct = [&](PGconn *c) { return real().PQprepare(c, stmtName, query, nParams, paramTypes); };
    return entry(conn, direct, [&](ConnState &s) {
        ControlPlane::instance().poll();
        if (!settle_previous(s, true))
            return direct(io_conn(s));
        PGresult *r = direct(conn);
        s.last = nullptr;
        if (r && real().PQresultStatus(r) == PGRES_COMMAND_OK)
            remember_prepared(s, stmtName, query, nParams, paramTypes);
        return r;
    });
}

PYMIGRATE_EXPORT int
PQsendPrepare(PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes)
{
    auto direct = [&](PGconn *c) { return real().PQsendPrepare(c, stmtName, query, nParams, paramTypes); };
    return entry(conn, direct, [&](ConnState &s) {
        ControlPlane::instance().poll();
        if (!settle_previous(s, false))
            return direct(io_conn(s));
        bool was_idle = monolith_idle(s);
        int ok = direct(conn);
        if (ok) {
            // Remembered now; if the monolith refuses it, executing it fails there too.
            remember_prepared(s, stmtName, query, nParams, paramTypes);
            begin_monolith_op(s, nullptr, nullptr, was_idle, nullptr);
        }
        return ok;
    });
}

PYMIGRATE_EXPORT PGresult *
PQexecPrepared(PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues, const int *paramLengths,
               const int *paramFormats, int resultFormat)
{
    auto direct = [&](PGconn *c) {
        return real().PQexecPrepared(c, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat);
    };
    return entry(conn, direct, [&](ConnState &s) {
        return exec_routed(s, by_name(stmtName), direct, [&] {
            return Request::prepared(stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat);
        });
    });
}

PYMIGRATE_EXPORT int
PQsendQueryPrepared(PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues,
                    const int *paramLengths, const int *paramFormats, int resultFormat)
{
    auto direct = [&](PGconn *c) {
        return real().PQsendQueryPrepared(c, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat);
    };
    return entry(conn, direct, [&](ConnState &s) {
        return send_routed(s, by_name(stmtName), direct, [&] {
            return Request::prepared(stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat);
        });
    });
}

// Describing: a prepared statement exists on the monolith; a portal lives in
// the transaction, wherever that runs.
PYMIGRATE_EXPORT PGresult *
PQdescribePrepared(PGconn *conn, const char *stmt)
{
    auto direct = [&](PGconn *c) { return real().PQdescribePrepared(c, stmt); };
    return entry(conn, direct, [&](ConnState &s) {
        if (!settle_previous(s, true))
            return direct(io_conn(s));
        s.last = nullptr;
        return direct(conn);
    });
}

PYMIGRATE_EXPORT PGresult *
PQdescribePortal(PGconn *conn, const char *portal)
{
    auto direct = [&](PGconn *c) { return real().PQdescribePortal(c, portal); };
    return entry(conn, direct, [&](ConnState &s) {
        if (!settle_previous(s, true))
            return direct(io_conn(s));
        s.last = s.pinned_svc;
        return direct(s.pinned_svc ? s.pinned_svc->conn : conn);
    });
}

PYMIGRATE_EXPORT int
PQsendDescribePrepared(PGconn *conn, const char *stmt)
{
    auto direct = [&](PGconn *c) { return real().PQsendDescribePrepared(c, stmt); };
    return entry(conn, direct, [&](ConnState &s) {
        if (!settle_previous(s, false))
            return direct(io_conn(s));
        bool was_idle = monolith_idle(s);
        int ok = direct(conn);
        if (ok)
            begin_monolith_op(s, nullptr, nullptr, was_idle, nullptr);
        return ok;
    });
}

PYMIGRATE_EXPORT int
PQsendDescribePortal(PGconn *conn, const char *portal)
{
    auto direct = [&](PGconn *c) { return real().PQsendDescribePortal(c, portal); };
    return entry(conn, direct, [&](ConnState &s) {
        if (!settle_previous(s, false))
            return direct(io_conn(s));
        if (ServiceBackend *b = s.pinned_svc) {
            int ok = direct(b->conn);
            s.last = b;
            if (ok) {
                s.op = Op{};
                s.op.active = true;
                s.op.svc = b; // not retried, not counted: part of the transaction there
                s.op.start_ns = now_ns();
            }
            return ok;
        }
        bool was_idle = monolith_idle(s);
        int ok = direct(conn);
        if (ok)
            begin_monolith_op(s, nullptr, nullptr, was_idle, nullptr);
        return ok;
    });
}

PYMIGRATE_EXPORT PGresult *
PQgetResult(PGconn *conn)
{
    return entry(
        conn, [&](PGconn *c) { return real().PQgetResult(c); }, [&](ConnState &s) { return routed_get_result(s); });
}

// Connections: registered for routing when they are made, their service
// connections closed with them, reset together.
#include <algorithm>
#include <atomic>

#include "shim/backend.hpp"
#include "shim/config.hpp"
#include "shim/control_plane.hpp"
#include "shim/entry.hpp"
#include "shim/log.hpp"

namespace pymigrate::shim
{

bool g_enabled = false;

namespace
{

std::atomic<bool> g_first_connection{true};

__attribute__((constructor)) void
init_shim()
{
    (void)real();
    const Config &c = config();
    g_enabled = c.enabled && real().PQexec != nullptr;
    if (!c.problems.empty())
        log(c.problems);
}

// Routes the new connection if it is to one of the configured databases.
void
adopt(PGconn *conn, bool wait_for_routes) noexcept
{
    if (!g_enabled || t_depth || !conn)
        return;
    Inside in;
    try {
        const RealLibpq &pq = real();
        if (pq.PQstatus(conn) == CONNECTION_BAD)
            return;
        const auto &dbs = config().databases;
        if (!dbs.empty()) {
            const char *db = pq.PQdb(conn);
            if (!db || std::find(dbs.begin(), dbs.end(), std::string(db)) == dbs.end())
                return;
        }
        register_connection(conn);
        if (wait_for_routes && g_first_connection.exchange(false))
            ControlPlane::instance().first_load();
        else
            ControlPlane::instance().poll();
    } catch (...) {
        log("could not set up routing for a connection; it goes to the monolith only");
    }
}

// After PQreset the monolith session is new: nothing prepared, no SETs, no
// transaction; the service connections are closed and made again on demand.
void
forget_session(PGconn *conn) noexcept
{
    ConnState *s = routed(conn);
    if (!s)
        return;
    Inside in;
    close_all_backends(*s);
    s->prepared.clear();
    s->session_sets.clear();
    s->pinned_svc = nullptr;
    s->txn_fresh = false;
    s->op = Op{};
    s->pipeline = false;
    s->last = nullptr;
}

} // namespace

void
give_up(ConnState &s, const char *what) noexcept
{
    log(std::string("routing disabled for one connection after an internal error: ") + (what ? what : ""));
    s.passthrough = true;
    close_all_backends(s);
}

} // namespace pymigrate::shim

using namespace pymigrate::shim;

PYMIGRATE_EXPORT PGconn *
PQconnectdb(const char *conninfo)
{
    PGconn *c = real().PQconnectdb(conninfo);
    adopt(c, true);
    return c;
}

PYMIGRATE_EXPORT PGconn *
PQconnectdbParams(const char *const *keywords, const char *const *values, int expand_dbname)
{
    PGconn *c = real().PQconnectdbParams(keywords, values, expand_dbname);
    adopt(c, true);
    return c;
}

PYMIGRATE_EXPORT PGconn *
PQsetdbLogin(const char *pghost, const char *pgport, const char *pgoptions, const char *pgtty, const char *dbName,
             const char *login, const char *pwd)
{
    PGconn *c = real().PQsetdbLogin(pghost, pgport, pgoptions, pgtty, dbName, login, pwd);
    adopt(c, true);
    return c;
}

// The non-blocking connects never wait for routes: an event loop must not stall.
PYMIGRATE_EXPORT PGconn *
PQconnectStart(const char *conninfo)
{
    PGconn *c = real().PQconnectStart(conninfo);
    adopt(c, false);
    return c;
}

PYMIGRATE_EXPORT PGconn *
PQconnectStartParams(const char *const *keywords, const char *const *values, int expand_dbname)
{
    PGconn *c = real().PQconnectStartParams(keywords, values, expand_dbname);
    adopt(c, false);
    return c;
}

PYMIGRATE_EXPORT void
PQfinish(PGconn *conn)
{
    if (g_enabled && !t_depth && conn) {
        Inside in;
        if (lookup(conn)) {
            forget_connection(conn);
            if (registered_connections() == 0)
                ControlPlane::instance().final_report();
        }
    }
    real().PQfinish(conn);
}

PYMIGRATE_EXPORT void
PQreset(PGconn *conn)
{
    forget_session(conn);
    real().PQreset(conn);
}

PYMIGRATE_EXPORT int
PQresetStart(PGconn *conn)
{
    forget_session(conn);
    return real().PQresetStart(conn);
}

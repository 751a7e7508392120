// The calls that act on "the connection": while a statement runs on a
// service they act on the service connection (the socket to wait on, the
// input to consume, COPY data), otherwise on the monolith.
#include <cerrno>

#include "shim/entry.hpp"
#include "shim/routing.hpp"

using namespace pymigrate::shim;

namespace
{

// Before an I/O call: a service connection that died under the statement is
// taken over by the monolith first (see rescue_lost_service).
PGconn *
live_io_conn(ConnState &s, bool reset_by_server = false)
{
    if (s.op.active && s.op.svc) {
        Inside in;
        rescue_lost_service(s, reset_by_server);
    }
    return io_conn(s);
}

} // namespace

PYMIGRATE_EXPORT int
PQsocket(const PGconn *conn)
{
    ConnState *s = routed(const_cast<PGconn *>(conn));
    return real().PQsocket(s ? live_io_conn(*s) : conn);
}

PYMIGRATE_EXPORT int
PQconsumeInput(PGconn *conn)
{
    ConnState *s = routed(conn);
    if (!s)
        return real().PQconsumeInput(conn);
    PGconn *c = live_io_conn(*s);
    errno = 0;
    int ok = real().PQconsumeInput(c);
    bool reset = errno == ECONNRESET;
    if (!ok && s->op.active && s->op.svc && c == s->op.svc->conn) {
        // It found the service's connection closed just now.
        c = live_io_conn(*s, reset);
        if (c == s->app)
            return real().PQconsumeInput(c);
    }
    return ok;
}

PYMIGRATE_EXPORT int
PQisBusy(PGconn *conn)
{
    ConnState *s = routed(conn);
    if (!s)
        return real().PQisBusy(conn);
    PGconn *c = live_io_conn(*s);
    if (s->op.held)
        return 0;
    return real().PQisBusy(c);
}

PYMIGRATE_EXPORT int
PQflush(PGconn *conn)
{
    ConnState *s = routed(conn);
    if (!s)
        return real().PQflush(conn);
    int r = real().PQflush(live_io_conn(*s));
    if (r < 0 && s->op.active && s->op.svc) {
        PGconn *c = live_io_conn(*s);
        if (c == s->app)
            return real().PQflush(c);
    }
    return r;
}

PYMIGRATE_EXPORT int
PQsetSingleRowMode(PGconn *conn)
{
    ConnState *s = routed(conn);
    if (!s)
        return real().PQsetSingleRowMode(conn);
    int ok = real().PQsetSingleRowMode(io_conn(*s));
    if (ok && s->op.active && s->op.svc)
        s->op.req.single_row = true; // and again if the statement is sent to the monolith instead
    return ok;
}

PYMIGRATE_EXPORT PGTransactionStatusType
PQtransactionStatus(const PGconn *conn)
{
    ConnState *s = routed(const_cast<PGconn *>(conn));
    if (!s)
        return real().PQtransactionStatus(conn);
    if (s->op.active && s->op.svc)
        return real().PQtransactionStatus(s->op.svc->conn);
    if (s->pinned_svc)
        return real().PQtransactionStatus(s->pinned_svc->conn);
    return real().PQtransactionStatus(conn);
}

PYMIGRATE_EXPORT char *
PQerrorMessage(const PGconn *conn)
{
    ConnState *s = routed(const_cast<PGconn *>(conn));
    return real().PQerrorMessage(s && s->last ? s->last->conn : conn);
}

PYMIGRATE_EXPORT int
PQsetnonblocking(PGconn *conn, int arg)
{
    ConnState *s = routed(conn);
    int r = real().PQsetnonblocking(conn, arg);
    if (s && r == 0) {
        Inside in;
        s->nonblocking = arg;
        for (auto &b : s->backends)
            (void)real().PQsetnonblocking(b->conn, arg);
    }
    return r;
}

// COPY follows its table: the data goes to, and comes from, the backend that
// runs the COPY statement.
PYMIGRATE_EXPORT int
PQputCopyData(PGconn *conn, const char *buffer, int nbytes)
{
    ConnState *s = routed(conn);
    return real().PQputCopyData(s ? io_conn(*s) : conn, buffer, nbytes);
}

PYMIGRATE_EXPORT int
PQputCopyEnd(PGconn *conn, const char *errormsg)
{
    ConnState *s = routed(conn);
    return real().PQputCopyEnd(s ? io_conn(*s) : conn, errormsg);
}

PYMIGRATE_EXPORT int
PQgetCopyData(PGconn *conn, char **buffer, int async)
{
    ConnState *s = routed(conn);
    return real().PQgetCopyData(s ? io_conn(*s) : conn, buffer, async);
}

PYMIGRATE_EXPORT int
PQgetline(PGconn *conn, char *buffer, int length)
{
    ConnState *s = routed(conn);
    return real().PQgetline(s ? io_conn(*s) : conn, buffer, length);
}

PYMIGRATE_EXPORT int
PQgetlineAsync(PGconn *conn, char *buffer, int bufsize)
{
    ConnState *s = routed(conn);
    return real().PQgetlineAsync(s ? io_conn(*s) : conn, buffer, bufsize);
}

PYMIGRATE_EXPORT int
PQputline(PGconn *conn, const char *string)
{
    ConnState *s = routed(conn);
    return real().PQputline(s ? io_conn(*s) : conn, string);
}

PYMIGRATE_EXPORT int
PQputnbytes(PGconn *conn, const char *buffer, int nbytes)
{
    ConnState *s = routed(conn);
    return real().PQputnbytes(s ? io_conn(*s) : conn, buffer, nbytes);
}

PYMIGRATE_EXPORT int
PQendcopy(PGconn *conn)
{
    ConnState *s = routed(conn);
    if (!s)
        return real().PQendcopy(conn);
    Inside in;
    return real().PQendcopy(io_conn(*s));
}

// Pipeline mode stays on the monolith: entering it while a transaction or a
// statement is on a service is refused (as libpq refuses it when busy).
PYMIGRATE_EXPORT int
PQenterPipelineMode(PGconn *conn)
{
    ConnState *s = routed(conn);
    if (!s)
        return real().PQenterPipelineMode(conn);
    Inside in;
    if (s->pinned_svc || (s->op.active && s->op.svc))
        return 0;
    if (s->op.active && !settle_previous(*s, false))
        return 0;
    int ok = real().PQenterPipelineMode(conn);
    if (ok)
        s->pipeline = true;
    return ok;
}

PYMIGRATE_EXPORT int
PQexitPipelineMode(PGconn *conn)
{
    ConnState *s = lookup(conn);
    int ok = real().PQexitPipelineMode(conn);
    if (s && ok && g_enabled && !t_depth)
        s->pipeline = false;
    return ok;
}

// Notices: the application's receiver and processor are installed on the
// service connections too, so a NOTICE or WARNING from either backend reaches
// it the same way.
PYMIGRATE_EXPORT PQnoticeReceiver
PQsetNoticeReceiver(PGconn *conn, PQnoticeReceiver proc, void *arg)
{
    ConnState *s = routed(conn);
    PQnoticeReceiver old = real().PQsetNoticeReceiver(conn, proc, arg);
    if (s && proc) {
        Inside in;
        s->notice_receiver = proc;
        s->notice_receiver_arg = arg;
        for (auto &b : s->backends)
            (void)real().PQsetNoticeReceiver(b->conn, proc, arg);
    }
    return old;
}

PYMIGRATE_EXPORT PQnoticeProcessor
PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg)
{
    ConnState *s = routed(conn);
    PQnoticeProcessor old = real().PQsetNoticeProcessor(conn, proc, arg);
    if (s && proc) {
        Inside in;
        s->notice_processor = proc;
        s->notice_processor_arg = arg;
        for (auto &b : s->backends)
            (void)real().PQsetNoticeProcessor(b->conn, proc, arg);
    }
    return old;
}

#include "pg/remote.hpp"

#include "pg/guard.hpp"

#include <libpq-fe.h>

extern "C" {
#include "storage/latch.h"
#include "utils/wait_event.h"
}

#include <chrono>

#include "common/dsn.hpp"

namespace pymigrate::pg {
namespace {

std::string
trimmed(const char *s)
{
    std::string out = s ? s : "";
    while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
        out.pop_back();
    return out;
}

// connect_timeout from the connection string: PQconnectPoll leaves it to us.
long
connect_timeout_ms(const std::string &dsn)
{
    char *err = nullptr;
    PQconninfoOption *opts = PQconninfoParse(dsn.c_str(), &err);
    if (err)
        PQfreemem(err);
    long ms = 30000;
    for (PQconninfoOption *o = opts; o && o->keyword; ++o) {
        if (std::string_view(o->keyword) == "connect_timeout" && o->val && *o->val) {
            long s = strtol(o->val, nullptr, 10);
            if (s > 0)
                ms = std::max(2L, s) * 1000;
        }
    }
    if (opts)
        PQconninfoFree(opts);
    return ms;
}

} // namespace

RemoteConnection::RemoteConnection(const std::string &dsn, const std::string &what)
    : description_(what + " (" + redact_dsn(dsn) + ")")
{
    conn_.reset(PQconnectStart(dsn.c_str()));
    if (!conn_)
        throw Error(ERRCODE_OUT_OF_MEMORY, "out of memory connecting to " + description_);
    if (PQstatus(conn_.get()) == CONNECTION_BAD)
        throw Error(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                    "could not connect to " + description_ + ": " + trimmed(PQerrorMessage(conn_.get())));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(connect_timeout_ms(dsn));
    PostgresPollingStatusType status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED) {
        long left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0)
            throw Error(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                        "could not connect to " + description_ + ": timed out", {},
                        "Check that the server is up, or raise connect_timeout in the connection string.");
        wait(status == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE, left);
        status = PQconnectPoll(conn_.get());
    }
    if (PQstatus(conn_.get()) != CONNECTION_OK)
        throw Error(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                    "could not connect to " + description_ + ": " + trimmed(PQerrorMessage(conn_.get())));
}

int
RemoteConnection::wait(int socket_events, long timeout_ms)
{
    int events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | socket_events | (timeout_ms >= 0 ? WL_TIMEOUT : 0);
    pgsocket sock = PQsocket(conn_.get());
    int rc = pg_call([&] { return WaitLatchOrSocket(MyLatch, events, sock, timeout_ms, PG_WAIT_EXTENSION); });
    if (rc & WL_LATCH_SET) {
        ResetLatch(MyLatch);
        try {
            pg_call([] { CHECK_FOR_INTERRUPTS(); });
        } catch (const PgError &) {
            // Interrupted (cancel, terminate): stop the remote query too. Only
            // a query in flight on an established connection has anything to
            // cancel; while connecting, PQcancel would itself wait on a peer
            // that may never answer.
            bool query_in_flight = PQstatus(conn_.get()) == CONNECTION_OK &&
                                   PQtransactionStatus(conn_.get()) == PQTRANS_ACTIVE;
            if (PGcancel *cancel = query_in_flight ? PQgetCancel(conn_.get()) : nullptr) {
                char buf[256];
                PQcancel(cancel, buf, sizeof(buf));
                PQfreeCancel(cancel);
            }
            throw;
        }
    }
    return rc;
}

bool
RemoteConnection::wait_readable(long timeout_ms)
{
    return (wait(WL_SOCKET_READABLE, timeout_ms) & WL_SOCKET_READABLE) != 0;
}

void
RemoteConnection::wait_writable()
{
    wait(WL_SOCKET_WRITEABLE, -1);
}

void
RemoteConnection::consume_input()
{
    if (PQconsumeInput(conn_.get()) == 0)
        raise(nullptr, "reading from the server");
}

void
RemoteConnection::flush()
{
    for (;;) {
        int rc = PQflush(conn_.get());
        if (rc == 0)
            return;
        if (rc < 0)
            raise(nullptr, "sending to the server");
        wait(WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE, -1);
        consume_input();
    }
}

void
RemoteConnection::raise(PGresult *r, const std::string &doing) const
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    int sqlstate = ERRCODE_CONNECTION_FAILURE;
    if (state && strlen(state) == 5)
        sqlstate = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);
    std::string message;
    std::string detail;
    std::string hint;
    if (r && PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) {
        message = trimmed(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
        detail = trimmed(PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL));
        hint = trimmed(PQresultErrorField(r, PG_DIAG_MESSAGE_HINT));
    } else {
        message = trimmed(PQerrorMessage(conn_.get()));
    }
    throw Error(sqlstate, "error from " + description_ + " while " + doing + ": " + message, detail, hint);
}

pq::Result
RemoteConnection::finish_command(const std::string &what_for)
{
    pq::ResultPtr last;
    pq::ResultPtr error;
    for (;;) {
        while (PQisBusy(conn_.get())) {
            (void)wait_readable(-1);
            consume_input();
        }
        pq::ResultPtr r(PQgetResult(conn_.get()));
        if (!r)
            break;
        ExecStatusType st = PQresultStatus(r.get());
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
            return pq::Result(std::move(r)); // the caller runs the COPY
        if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
            if (!error)
                error = std::move(r);
            continue; // drain to the end so the connection stays usable
        }
        last = std::move(r);
    }
    if (error)
        raise(error.get(), what_for);
    if (!last && PQstatus(conn_.get()) == CONNECTION_BAD)
        raise(nullptr, what_for);
    return pq::Result(std::move(last));
}

pq::Result
RemoteConnection::exec(const std::string &sql)
{
    if (!PQsendQuery(conn_.get(), sql.c_str()))
        raise(nullptr, "sending a query");
    return finish_command("running: " + sql.substr(0, 120));
}

pq::Result
RemoteConnection::exec(const std::string &sql, const std::vector<pq::Param> &params)
{
    std::vector<const char *> values;
    values.reserve(params.size());
    for (const auto &p : params)
        values.push_back(p ? p->c_str() : nullptr);
    if (!PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                           nullptr, 0))
        raise(nullptr, "sending a query");
    return finish_command("running: " + sql.substr(0, 120));
}

} // namespace pymigrate::pg

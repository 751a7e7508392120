// The routing of one application connection's statements: which backend
// runs each one, transactions pinned to one backend, results read from the
// backend that has the statement, and the transparent retry on the monolith
// when a service fails before answering.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "shim/conn_state.hpp"

namespace pymigrate::shim
{

// A statement's classification and routing key.
struct Classified {
    std::shared_ptr<const router::Classification> cls;
    std::string_view key; // valid until the next classify on this thread
};

Classified classify_text(ConnState &s, const char *sql);
Classified classify_prepared(ConnState &s, PreparedStatement &ps);

// True when this statement can go straight to libpq without being looked at:
// no route can send anything anywhere but the monolith, nothing of this
// connection is on a service, and the text is not session state the service
// connections must follow (SET, RESET, DISCARD, DEALLOCATE).
[[nodiscard]] bool pass_through(ConnState &s, const char *sql);

// The backend for a statement: null for the monolith.
struct Choice {
    ServiceBackend *backend = nullptr;
    ServiceStats *stats = nullptr; // the route chose this service (even if the monolith runs it after all)
    bool pin_first = false;        // moves a fresh explicit transaction to the service
};
Choice choose(ConnState &s, const router::Classification &c, std::string_view key);

enum class Start {
    Sent,        // the statement runs on the service
    UseMonolith, // nothing was sent: the caller sends it on the monolith (failures are counted)
    Failed,      // inside a transaction on the service, which failed: an error for the application
};
// Sends on the service the choice names.
[[nodiscard]] Start start_on_service(ConnState &s, const Choice &choice, Request req,
                                     std::shared_ptr<const router::Classification> cls);
// The error result for Start::Failed (the service connection's message).
PGresult *failed_result(ConnState &s);
// Sends on the monolith and tracks the statement.
int start_on_monolith(ConnState &s, const Request &req, std::shared_ptr<const router::Classification> cls,
                      const char *text);
// A statement the shim tracks but the monolith ran synchronously (PQexec).
void after_monolith_exec(ConnState &s, const router::Classification *c, const char *text, PGresult *r, bool was_idle);

PGresult *routed_get_result(ConnState &s);
// PQexec's loop over PQgetResult (libpq's PQexecFinish).
PGresult *exec_finish(ConnState &s);
// Before a new statement: an earlier one whose results were all read is
// finished; one still running is drained (as PQexec does), or, for the async
// API, left for libpq to refuse the new one. Returns false when a statement
// is still running on a service.
bool settle_previous(ConnState &s, bool drain);

// A statement on a service whose connection libpq found closed (PQsocket -1,
// PQconsumeInput or PQflush failing): sent again on the monolith when that is
// safe (as PQgetResult would), so an event loop waiting on the socket never
// sees the failure; otherwise the error waits for the next PQgetResult.
// `reset_by_server`: the failing read got ECONNRESET (see routing.cpp).
void rescue_lost_service(ConnState &s, bool reset_by_server = false);

// The connection that libpq I/O calls (PQsocket, PQconsumeInput, PQisBusy,
// PQflush, COPY) act on: the service's while a statement runs there.
PGconn *io_conn(ConnState &s) noexcept;
void finish_op(ConnState &s);

// Refreshes the connection's cached routes from the control plane.
void refresh_routes(ConnState &s);

} // namespace pymigrate::shim

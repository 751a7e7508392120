// libpq connections made from inside a backend or background worker to
// another PostgreSQL server (the provider of a subscription, the other side
// of a validation).
//
// Every wait sleeps on the process latch and the socket, so a query cancel,
// pg_terminate_backend() or postmaster death interrupts it (the approach of
// libpqwalreceiver and of PostgreSQL 16's libpq-be-fe-helpers.h); a remote
// query interrupted that way is cancelled on the remote server too. Errors
// become pg::Error carrying the remote SQLSTATE and naming the server with
// its password masked.
#pragma once

#include <string>
#include <vector>

#include "common/pq.hpp"

namespace pymigrate::pg {

class RemoteConnection {
  public:
    // `what` names the peer in messages, e.g. "provider of subscription s1".
    // Honors connect_timeout from the connection string (default 30 s).
    RemoteConnection(const std::string &dsn, const std::string &what);

    // Runs one or more statements (simple protocol), or one with $n parameters.
    pq::Result exec(const std::string &sql);
    pq::Result exec(const std::string &sql, const std::vector<pq::Param> &params);

    // Pieces for protocols beyond request/response (COPY, replication):
    // wait until readable (false on timeout; -1 waits forever), writable,
    // read what arrived (throws if the connection broke), flush pending output.
    [[nodiscard]] bool wait_readable(long timeout_ms);
    void wait_writable();
    void consume_input();
    void flush();
    // Drains the results of a command sent with PQsend*; throws on error.
    pq::Result finish_command(const std::string &what_for);
    // Throws pg::Error for an error result (or, with r null, the connection's error).
    [[noreturn]] void raise(PGresult *r, const std::string &doing) const;

    PGconn *get() const noexcept { return conn_.get(); }
    // "provider of subscription s1 (host='...' port='...' ...)", password masked.
    const std::string &description() const noexcept { return description_; }

  private:
    int wait(int socket_events, long timeout_ms);
    pq::ConnPtr conn_;
    std::string description_;
};

} // namespace pymigrate::pg

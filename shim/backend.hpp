// The shim's own connections to service databases: made on first use per
// application connection and service, in the application connection's image
// (client encoding, DateStyle, IntervalStyle, TimeZone, the session SETs it
// ran), and closed with it.
#pragma once

#include <string>

#include "router/rule.hpp"
#include "shim/conn_state.hpp"

namespace pymigrate::shim
{

// The open connection to `service` at `dsn` for `s`, connecting if needed
// (blocking, PYMIGRATE_CONNECT_TIMEOUT). Null when it cannot be made; the
// caller counts the failure and uses the monolith.
ServiceBackend *service_backend(ConnState &s, const std::string &service, const std::string &dsn, ServiceStats &stats);

// Closes one backend and forgets every pointer to it.
void close_backend(ConnState &s, ServiceBackend *b) noexcept;
void close_all_backends(ConnState &s) noexcept;

// A service failed: counted, marked unhealthy for PYMIGRATE_RETRY_AFTER_MS in
// this process, its connection closed.
void backend_failed(ConnState &s, ServiceBackend *b, const std::string &why) noexcept;

// A session SET / RESET / DISCARD succeeded on the monolith: remember it, and
// run it on the open service connections too.
void record_session_set(ConnState &s, const std::string &text, const router::Classification &c);
// DEALLOCATE succeeded on the monolith ("" = ALL).
void forget_prepared(ConnState &s, const std::string &name);

} // namespace pymigrate::shim

// What every exported libpq entry point does first: decide whether to route
// at all. The shim calls the real libpq for its own work, and libpq calls its
// own exported functions internally (PQexec calls PQsendQuery and
// PQgetResult through the PLT); a per-thread depth counter sends every such
// nested call straight through.
#pragma once

#include <exception>
#include <string>

#include "shim/conn_state.hpp"
#include "shim/real_libpq.hpp"

#define PYMIGRATE_EXPORT extern "C" __attribute__((visibility("default")))

namespace pymigrate::shim
{

// True when the environment configured routing (set by the library's
// constructor; false before it runs: pass-through).
extern bool g_enabled;
// Read on every libpq call. Static TLS (initial-exec): no __tls_get_addr call
// per read, which the default model for a shared library costs. The shim is
// loaded at startup (LD_PRELOAD or linked), where static TLS is always
// there; glibc also keeps a reserve for a few bytes of it in libraries
// loaded later with dlopen.
#define PYMIGRATE_STATIC_TLS __attribute__((tls_model("initial-exec")))
inline thread_local int t_depth PYMIGRATE_STATIC_TLS = 0;

struct Inside {
    Inside() noexcept { ++t_depth; }
    ~Inside() { --t_depth; }
    Inside(const Inside &) = delete;
    Inside &operator=(const Inside &) = delete;
};

// The connection's routing state, or null when the call goes straight to
// libpq (not configured, nested call, a connection the shim does not route).
inline ConnState *
routed(PGconn *conn) noexcept
{
    if (!g_enabled || t_depth)
        return nullptr;
    ConnState *s = lookup(conn);
    return s && !s->passthrough ? s : nullptr;
}

// An internal error (out of memory, a bug): this connection stops being
// routed, and the call is done by libpq on the monolith.
void give_up(ConnState &s, const char *what) noexcept;

template <typename Body, typename Fallback>
auto
guarded(ConnState &s, Body &&body, Fallback &&fallback) noexcept -> decltype(fallback())
{
    try {
        return body();
    } catch (const std::exception &e) {
        give_up(s, e.what());
    } catch (...) {
        give_up(s, "unknown exception");
    }
    return fallback();
}

// The shape of every statement entry point: straight to libpq unless the
// connection is routed (and not in pipeline mode), else `body` inside the
// guard, with libpq on the monolith as the fallback.
template <typename Direct, typename Body>
auto
entry(PGconn *conn, Direct &&direct, Body &&body) noexcept -> decltype(direct(conn))
{
    ConnState *s = routed(conn);
    if (!s || s->pipeline)
        return direct(conn);
    Inside in;
    return guarded(
        *s, [&] { return body(*s); }, [&] { return direct(conn); });
}

} // namespace pymigrate::shim

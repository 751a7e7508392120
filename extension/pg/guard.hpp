// The C++/PostgreSQL error boundary (CONVENTIONS.md, after pg_duckdb's
// cpp_wrapper.hpp and PostgresFunctionGuard):
//
//  - A C++ exception never unwinds into PostgreSQL: every entry point from
//    PostgreSQL (SQL function, hook, worker main, output plugin callback)
//    runs its body through boundary(), which catches everything, copies the
//    error into fixed buffers and raises it with ereport() only once no C++
//    object is left alive.
//  - A PostgreSQL error never longjmps over a live C++ destructor: a call
//    into PostgreSQL made while RAII objects are alive goes through
//    pg_call(), which catches the longjmp and rethrows it as pg::PgError.
//
// Code between the two must not call anything that can ereport(ERROR)
// outside pg_call() while it owns objects with destructors.
#pragma once

#include <type_traits>

#include "pg/errors.hpp"
#include "pg/postgres.hpp"

namespace pymigrate::pg {

// What the boundary raises once the C++ frames are gone: fixed-size, so that
// filling it inside a catch handler allocates nothing and cannot fail.
struct PendingError {
    int sqlstate = 0;
    bool from_postgres = false;
    char message[2048] = {};
    char detail[2048] = {};
    char hint[1024] = {};
    char context[2048] = {};
};

// Fills `out` from the exception being handled. Call only inside a catch.
void capture_current_exception(PendingError &out, const char *where) noexcept;

// ereport(ERROR) with what capture_current_exception() recorded.
[[noreturn]] void raise_pending(const PendingError &pending);

// Throws PgError built from (and then freeing) an ErrorData copied by pg_call().
[[noreturn]] void throw_pg_error(ErrorData *edata);

// Runs `body` (C++) and turns any exception into a PostgreSQL ERROR.
template <typename F>
auto
boundary(const char *where, F &&body) -> decltype(body())
{
    PendingError pending;
    try {
        return body();
    } catch (...) {
        capture_current_exception(pending, where);
    }
    raise_pending(pending);
}

// Runs `call` (PostgreSQL) and turns an ERROR it raises into a PgError. The
// lambda itself must hold no object with a destructor. Results are limited
// to trivially copyable types (Datum, pointers, scalars), which is what
// PostgreSQL functions return.
template <typename F>
auto
pg_call(F &&call) -> decltype(call())
{
    using R = decltype(call());
    static_assert(std::is_void_v<R> || std::is_trivially_copyable_v<R>, "pg_call returns only plain values");
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData *volatile edata = nullptr;
    if constexpr (std::is_void_v<R>) {
        PG_TRY();
        {
            call();
        }
        PG_CATCH();
        {
            MemoryContextSwitchTo(caller_context);
            edata = CopyErrorData();
            FlushErrorState();
        }
        PG_END_TRY();
        if (edata)
            throw_pg_error(edata);
    } else {
        // volatile: assigned after sigsetjmp; read only on the normal path.
        std::remove_cv_t<R> volatile result{};
        PG_TRY();
        {
            result = call();
        }
        PG_CATCH();
        {
            MemoryContextSwitchTo(caller_context);
            edata = CopyErrorData();
            FlushErrorState();
        }
        PG_END_TRY();
        if (edata)
            throw_pg_error(edata);
        return result;
    }
}

} // namespace pymigrate::pg

// Declares a SQL-callable function `name` whose body is C++ run inside the
// boundary; write the body after the macro like a normal function body:
//
//     PYMIGRATE_FUNCTION(pymigrate_version)
//     {
//         return CStringGetTextDatum(PYMIGRATE_VERSION);
//     }
#define PYMIGRATE_FUNCTION(name)                                                                                       \
    extern "C" {                                                                                                       \
    PG_FUNCTION_INFO_V1(name);                                                                                         \
    }                                                                                                                  \
    static Datum name##_body(FunctionCallInfo fcinfo);                                                                 \
    extern "C" Datum name(PG_FUNCTION_ARGS)                                                                            \
    {                                                                                                                  \
        return pymigrate::pg::boundary(#name, [fcinfo]() { return name##_body(fcinfo); });                             \
    }                                                                                                                  \
    static Datum name##_body(FunctionCallInfo fcinfo)

// Library entry: module magic, _PG_init, and the core SQL functions.
#include "pg/guard.hpp"
#include "validate/schedule.hpp"
#include "sync/sync.hpp"
#include "worker/worker.hpp"

#include <string>

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);
}

void
_PG_init(void)
{
    pymigrate::pg::boundary("_PG_init", [] {
        // The worker framework first: features register their manager
        // tasks with it (worker/worker.hpp).
        pymigrate::worker::init();
        pymigrate::worker::register_task({"validation scheduler", &pymigrate::validate::scheduler_tick});
        pymigrate::sync::init();
    });
}

PYMIGRATE_FUNCTION(pymigrate_version)
{
    return CStringGetTextDatum(PYMIGRATE_VERSION);
}

namespace {

// Counts destructor runs, so the self test can show that a PostgreSQL error
// unwound through C++ frames the way C++ expects.
struct DestructorProbe {
    int &runs;
    ~DestructorProbe() { ++runs; }
};

Datum
raise_division_by_zero()
{
    return DirectFunctionCall2(int4div, Int32GetDatum(1), Int32GetDatum(0));
}

} // namespace

PYMIGRATE_FUNCTION(pymigrate_boundary_selftest)
{
    using pymigrate::pg::Error;
    using pymigrate::pg::pg_call;
    using pymigrate::pg::PgError;

    std::string kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
    std::string result;
    if (kind == "ok") {
        result = "ok";
    } else if (kind == "error") {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "selftest: an error raised by pymigrate",
                    "Raised as pymigrate::pg::Error with SQLSTATE 22023.", "This is what a hint looks like.");
    } else if (kind == "std") {
        throw std::runtime_error("selftest: a std::runtime_error");
    } else if (kind == "bad_alloc") {
        throw std::bad_alloc();
    } else if (kind == "pg") {
        // A PostgreSQL ERROR raised while C++ objects are alive: it must come
        // back to SQL with its own SQLSTATE (22012) after they are destroyed.
        std::string alive = "a live std::string";
        int runs = 0;
        DestructorProbe probe{runs};
        pg_call(raise_division_by_zero);
    } else if (kind == "pg_caught") {
        int runs = 0;
        try {
            DestructorProbe probe{runs};
            pg_call(raise_division_by_zero);
        } catch (const PgError &e) {
            char code[6];
            memcpy(code, unpack_sql_state(e.sqlstate()), sizeof(code));
            result = std::string("caught ") + code + " (" + e.what() + "), destructors run: " + std::to_string(runs);
        }
    } else {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "unknown selftest kind \"" + kind + "\"", {},
                    "Use one of: ok, error, std, bad_alloc, pg, pg_caught.");
    }
    // cstring_to_text pallocs; an out-of-memory ERROR there must not jump
    // over `result`, hence pg_call.
    return pg_call([&result] { return PointerGetDatum(cstring_to_text_with_len(result.data(), result.size())); });
}

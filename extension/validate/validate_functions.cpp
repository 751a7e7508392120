// SQL entry points of cross-server validation: validate() and recheck().
#include "pg/guard.hpp"

extern "C" {
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

#include "validate/sql_args.hpp"
#include "validate/validate_run.hpp"

using namespace pymigrate::validate;
using pymigrate::pg::Error;
using pymigrate::pg::pg_call;

namespace {

double
interval_seconds(FunctionCallInfo fcinfo, int n, double if_null)
{
    if (arg_is_null(fcinfo, n))
        return if_null;
    Interval *i = PG_GETARG_INTERVAL_P(n);
    return i->time / 1e6 + i->day * 86400.0 + i->month * 30.0 * 86400.0;
}

std::string
jsonb_text(FunctionCallInfo fcinfo, int n, const char *if_null)
{
    if (arg_is_null(fcinfo, n))
        return if_null;
    char *s = pg_call([fcinfo, n] {
        Jsonb *j = PG_GETARG_JSONB_P(n);
        return JsonbToCString(nullptr, &j->root, VARSIZE(j));
    });
    return s;
}

} // namespace

// validate(tables, remote_dsn, mapping, with_rows, recheck, recheck_delay,
//          wait, buckets, merge_ratio, parallel, recheck_timeout) -> run id
PYMIGRATE_FUNCTION(pymigrate_validate)
{
    ValidationRequest r;
    r.tables = text_array_arg(fcinfo, 0, "tables");
    r.dsn = text_arg(fcinfo, 1, "remote_dsn");
    r.mapping_json = jsonb_text(fcinfo, 2, "{}");
    r.with_rows = bool_arg(fcinfo, 3, false);
    r.recheck = bool_arg(fcinfo, 4, true);
    r.recheck_delay = interval_seconds(fcinfo, 5, 2.0);
    r.wait = bool_arg(fcinfo, 6, true);
    if (auto b = int_arg(fcinfo, 7)) {
        if (*b < 1)
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "buckets must be at least 1, not " + std::to_string(*b));
        r.buckets = static_cast<uint32_t>(*b);
    }
    if (!arg_is_null(fcinfo, 8))
        r.merge_ratio = PG_GETARG_FLOAT8(8);
    r.parallel = int_arg(fcinfo, 9);
    r.recheck_timeout = interval_seconds(fcinfo, 10, 30.0);
    return Int64GetDatum(run_validation(r));
}

PYMIGRATE_FUNCTION(pymigrate_recheck)
{
    if (arg_is_null(fcinfo, 0))
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, "run must not be NULL");
    std::optional<double> timeout;
    if (!arg_is_null(fcinfo, 1)) {
        timeout = interval_seconds(fcinfo, 1, 30.0);
        if (*timeout < 0)
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "recheck_timeout must not be negative");
    }
    return Int64GetDatum(recheck_run(PG_GETARG_INT64(0), timeout));
}

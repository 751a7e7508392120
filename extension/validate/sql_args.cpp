#include "validate/sql_args.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
}

namespace pymigrate::validate {

using pg::Error;
using pg::pg_call;

namespace {

[[noreturn]] void
null_argument(const char *name)
{
    throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(name) + " must not be NULL");
}

// Deconstructs a one-dimensional array argument (palloc'd results).
void
array_elements(FunctionCallInfo fcinfo, int n, Oid elem_type, Datum **elems, bool **nulls, int *count)
{
    pg_call([=] {
        ArrayType *a = PG_GETARG_ARRAYTYPE_P(n);
        int16 len;
        bool byval;
        char align;
        get_typlenbyvalalign(elem_type, &len, &byval, &align);
        if (ARR_NDIM(a) > 1)
            ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("expected a one-dimensional array")));
        deconstruct_array(a, elem_type, len, byval, align, elems, nulls, count);
    });
}

} // namespace

bool
arg_is_null(FunctionCallInfo fcinfo, int n)
{
    return PG_NARGS() <= n || PG_ARGISNULL(n);
}

std::string
text_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
    if (arg_is_null(fcinfo, n))
        null_argument(name);
    char *s = pg_call([=] { return text_to_cstring(PG_GETARG_TEXT_PP(n)); });
    return s;
}

Oid
oid_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
    if (arg_is_null(fcinfo, n))
        null_argument(name);
    return PG_GETARG_OID(n);
}

std::optional<int32_t>
int_arg(FunctionCallInfo fcinfo, int n)
{
    if (arg_is_null(fcinfo, n))
        return std::nullopt;
    return PG_GETARG_INT32(n);
}

bool
bool_arg(FunctionCallInfo fcinfo, int n, bool if_null)
{
    return arg_is_null(fcinfo, n) ? if_null : PG_GETARG_BOOL(n);
}

std::optional<std::vector<std::string>>
text_array_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
    if (arg_is_null(fcinfo, n))
        return std::nullopt;
    Datum *elems;
    bool *nulls;
    int count;
    array_elements(fcinfo, n, TEXTOID, &elems, &nulls, &count);
    std::vector<std::string> out;
    for (int i = 0; i < count; ++i) {
        if (nulls[i])
            throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(name) + " must not contain NULL");
        Datum d = elems[i];
        char *s = pg_call([d] { return TextDatumGetCString(d); });
        out.emplace_back(s);
    }
    return out;
}

std::vector<int32_t>
int_array_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
    if (arg_is_null(fcinfo, n))
        null_argument(name);
    Datum *elems;
    bool *nulls;
    int count;
    array_elements(fcinfo, n, INT4OID, &elems, &nulls, &count);
    std::vector<int32_t> out;
    for (int i = 0; i < count; ++i) {
        if (nulls[i])
            throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(name) + " must not contain NULL");
        out.push_back(DatumGetInt32(elems[i]));
    }
    return out;
}

SetResult
begin_set_result(FunctionCallInfo fcinfo)
{
    SetResult out{};
    pg_call([fcinfo, &out] {
        InitMaterializedSRF(fcinfo, 0);
        auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
        out.store = rsinfo->setResult;
        out.desc = rsinfo->setDesc;
    });
    return out;
}

Snapshot
active_snapshot()
{
    return pg_call([] { return GetActiveSnapshot(); });
}

} // namespace pymigrate::validate

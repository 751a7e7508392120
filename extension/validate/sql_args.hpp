// Reading the arguments of the validator's SQL functions into C++ values,
// and returning sets: each call goes through pg_call, so a bad value raises
// a clean error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/pg_fwd.hpp"
#include "validate/column_plan.hpp"

extern "C" {
struct Tuplestorestate;
struct TupleDescData;
typedef struct TupleDescData *TupleDesc;
}

namespace pymigrate::validate {

bool arg_is_null(FunctionCallInfo fcinfo, int n);
// A required argument: NULL is an error naming `name`.
std::string text_arg(FunctionCallInfo fcinfo, int n, const char *name);
Oid oid_arg(FunctionCallInfo fcinfo, int n, const char *name);
std::optional<int32_t> int_arg(FunctionCallInfo fcinfo, int n);
bool bool_arg(FunctionCallInfo fcinfo, int n, bool if_null);
// text[]: NULL gives nullopt; a NULL element is an error naming `name`.
std::optional<std::vector<std::string>> text_array_arg(FunctionCallInfo fcinfo, int n, const char *name);
std::vector<int32_t> int_array_arg(FunctionCallInfo fcinfo, int n, const char *name);

// A set-returning function in materialize mode: the tuple store and the
// result descriptor the caller expects.
struct SetResult {
    Tuplestorestate *store;
    TupleDesc desc;
};
SetResult begin_set_result(FunctionCallInfo fcinfo);

// The active snapshot of the calling query, the one a SQL function reads in.
Snapshot active_snapshot();

} // namespace pymigrate::validate

// Forward declarations of the PostgreSQL types that C++-heavy headers of the
// extension mention, so that those headers need not include postgres.h.
#pragma once

#include <cstdint>

extern "C" {
typedef uintptr_t Datum;
typedef unsigned int Oid;
struct FunctionCallInfoBaseData;
typedef struct FunctionCallInfoBaseData *FunctionCallInfo;
struct MemoryContextData;
typedef struct MemoryContextData *MemoryContext;
struct ErrorData;
}

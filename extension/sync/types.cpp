#include "sync/types.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace pymigrate::sync {

bool
binary_portable(Oid type)
{
    HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
    if (!HeapTupleIsValid(tup))
        return false;
    auto *t = reinterpret_cast<Form_pg_type>(GETSTRUCT(tup));
    char typtype = t->typtype;
    Oid send = t->typsend;
    Oid elem = t->typelem;
    bool is_array = OidIsValid(elem) && t->typlen == -1 && IsTrueArrayType(t);
    Oid base = t->typbasetype;
    ReleaseSysCache(tup);
    switch (typtype) {
    case TYPTYPE_DOMAIN:
        return binary_portable(base);
    case TYPTYPE_ENUM:
        return OidIsValid(send);
    case TYPTYPE_BASE:
        if (!OidIsValid(send))
            return false;
        if (is_array) // array_send writes the element type's oid
            return elem < FirstGenbkiObjectId && binary_portable(elem);
        return true;
    case TYPTYPE_RANGE:
    case TYPTYPE_MULTIRANGE:
        return type < FirstGenbkiObjectId;
    default: // composite, pseudo
        return false;
    }
}

char *
qualified_type_name(Oid type)
{
    HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
    if (!HeapTupleIsValid(tup))
        elog(ERROR, "cache lookup failed for type %u", type);
    auto *t = reinterpret_cast<Form_pg_type>(GETSTRUCT(tup));
    char *name = psprintf("%s.%s", get_namespace_name(t->typnamespace), NameStr(t->typname));
    ReleaseSysCache(tup);
    return name;
}

} // namespace pymigrate::sync

#include "sync/conflict.hpp"


namespace pymigrate::sync::apply {

uint64 conflicts_in_txn = 0;

Resolution
resolve_conflict(ConflictKind kind, RelMapEntry *rel, TupleTableSlot *, TupleTableSlot *)
{
    ++conflicts_in_txn;
    ereport(LOG, (errmsg("pymigrate: %s on %s found no row with its key; skipped",
                         kind == ConflictKind::UpdateMissing ? "UPDATE" : "DELETE", rel->local_name)));
    return Resolution::Skip;
}

} // namespace pymigrate::sync::apply

// Per-table state of the triggers (capture, tombstones), built once and
// kept until the relcache says the table changed (ALTER TABLE, a new
// replica identity, DROP): a hash by relation oid (in TopMemoryContext),
// each entry with a memory context of its own under CacheMemoryContext that
// is reset when the entry is rebuilt.
//
// `Entry` starts with `Oid relid` (the hash key) and has `bool valid` and
// `MemoryContext cxt`; the rest is the caller's.
//
// PostgreSQL-style: call inside pg_call().
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/rel.h"
}

namespace pymigrate::sync {

template <typename Entry> class RelCache
{
  public:
    // The entry of `rel`; `*fresh` when it must be (re)built, with its
    // context empty: the caller builds it, then sets `valid` (an ERROR
    // during the build leaves it invalid, to be built again).
    static Entry *
    get(Relation rel, const char *name, bool *fresh)
    {
        if (table == nullptr) {
            HASHCTL info{};
            info.keysize = sizeof(Oid);
            info.entrysize = sizeof(Entry);
            table = hash_create(name, 32, &info, HASH_ELEM | HASH_BLOBS);
            CacheRegisterRelcacheCallback(invalidate, 0);
        }
        Oid relid = RelationGetRelid(rel);
        bool found = false;
        auto *e = static_cast<Entry *>(hash_search(table, &relid, HASH_ENTER, &found));
        if (!found) {
            e->valid = false;
            // `name` is a string literal of the caller (it outlives the context).
            e->cxt = AllocSetContextCreateInternal(CacheMemoryContext, name, ALLOCSET_SMALL_SIZES);
        }
        *fresh = !e->valid;
        if (*fresh)
            MemoryContextReset(e->cxt);
        return e;
    }

  private:
    static void
    invalidate(Datum, Oid relid)
    {
        HASH_SEQ_STATUS it;
        hash_seq_init(&it, table);
        while (auto *e = static_cast<Entry *>(hash_seq_search(&it)))
            if (!OidIsValid(relid) || e->relid == relid)
                e->valid = false;
    }

    static inline HTAB *table = nullptr;
};

} // namespace pymigrate::sync

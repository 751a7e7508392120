// The seen set (causal.hpp) across restarts of an apply worker. A worker
// restarts often (reconnects, alter_subscription, a held change retried),
// and the SEENs it read before are not sent again: without them every local
// version of the last window would count as unknown, and a hand-over just
// before the restart as a conflict. So the worker writes the set to a file
// when it exits, with the provider position up to which everything it read
// is applied here (flushed first), and the next worker of the subscription
// reads it back if it resumes from that same position: then nothing was
// missed in between. The worker that loaded it marks the file as in use;
// if it dies without writing its own (a crash), the next one keeps the
// entries and the newest SEEN, which stay true, but takes the set as
// incomplete. A position after the one streaming resumes from, or a file
// of another provider or slot, is discarded. Trigger capture keeps its set
// the same way, its position being its origin's (the largest change log
// seq applied).
//
// Files: $PGDATA/pg_pymigrate/seen_<database oid>_<subscription id>.
//
// PostgreSQL-style: call inside pg_call() (load) or from an exit callback
// (save), where errors are only logged.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "access/xlogdefs.h"
}

namespace pymigrate::sync::apply {

// Who the set belongs to: the subscription, its provider and the slot it
// reads (what the SEENs name).
struct SeenOwner {
    int32 subid;
    uint64 provider_sysid;
    char reader[2 * NAMEDATALEN];
};

// Loads the saved set into causal.cpp's, if it fits `owner` and streaming
// resumes from `resume_from` (the origin's position); returns whether it
// did (complete or not).
bool load_seen_set(const SeenOwner &owner, XLogRecPtr resume_from);

// Saves the set when this process exits (before_shmem_exit), with the
// session origin's position.
void save_seen_set_at_exit(const SeenOwner &owner);

// Removes a dropped subscription's file.
void remove_seen_set(int32 subid);

} // namespace pymigrate::sync::apply

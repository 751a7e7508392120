// Triggers of ours fire in the application's session, as the application's
// role, which has no rights on pymigrate's own tables (and must not get
// them: it could then forge change log rows or tombstones). The trigger
// writes those tables as their owner instead, the way PostgreSQL runs
// index expressions during maintenance: a local user id change with
// SECURITY_RESTRICTED_OPERATION. The transaction's abort restores the user
// too, so an ERROR in between needs no handler.
//
// PostgreSQL-style: call inside pg_call().
#pragma once

#include "pg/postgres.hpp"

namespace pymigrate::pg {

struct SavedUser {
    Oid user;
    int sec_context;
};

// Becomes the owner of relation `relid`; returns what to restore.
SavedUser become_owner_of(Oid relid);

void restore_user(const SavedUser &saved);

} // namespace pymigrate::pg

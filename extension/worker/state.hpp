// Shared memory of the worker framework (internal to extension/worker/).
//
// One slot per database that has (or had) a manager. The supervisor owns the
// slots: it assigns one before starting a manager and reads what the manager
// reported when it exits. Every pymigrate worker process also records its pid
// under its database, so DROP DATABASE can stop them all.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
}

namespace pymigrate::worker {

enum class ManagerState : int {
    Free = 0,     // slot unused
    Starting,     // the supervisor started a manager, which has not attached yet
    Running,      // attached; `latch` is its latch
    Stopped,      // not running: the database has no extension, or the manager
                  // crashed; started again when `wanted` or after `retry_after`
    Dropping,     // DROP DATABASE in progress: start nothing there
};

struct ManagerSlot {
    Oid database;
    ManagerState state;
    int manager_pid;
    Latch *latch;
    bool wanted;              // CREATE EXTENSION asked for a manager now
    TimestampTz retry_after;  // supervisor: no restart before this time
    int failures;             // consecutive crashes, for the back-off
};

// pids of every pymigrate worker process, by database (DROP DATABASE).
struct WorkerPid {
    Oid database;
    int pid;
};

struct SharedState {
    slock_t mutex;
    Latch *supervisor_latch;
    int nslots;
    int npids;
    ManagerSlot *slots; // nslots entries, after the struct
    WorkerPid *pids;    // npids entries, after the slots
};

// Attached in every process by the shmem startup hook; null without
// shared_preload_libraries (then no background work runs anywhere).
extern SharedState *shared;

// The slot of `database`, or null. Call with shared->mutex held.
ManagerSlot *find_slot(Oid database);

// Records this process (a pymigrate worker or manager) as connected to
// MyDatabaseId until it exits.
void register_worker_pid();

// Entry points of the static and per-database workers.
extern "C" {
PGDLLEXPORT void pymigrate_supervisor_main(Datum arg);
PGDLLEXPORT void pymigrate_manager_main(Datum arg);
}

// Settings (GUCs registered by init()).
extern int naptime_ms;         // pymigrate.naptime: how often the supervisor looks for databases
extern int extension_recheck_s; // pymigrate.extension_recheck: how often a database without the extension is looked at again

// A worker of this library running `function`, connected to a database,
// named `type` (callers set bgw_name, the argument and the notify pid).
BackgroundWorker worker_definition(const char *function, const char *type, int restart_time);

void install_shmem_hooks();
void install_dropdb_hook();

} // namespace pymigrate::worker

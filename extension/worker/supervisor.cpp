// The supervisor: keeps one manager running per database with the extension.
//
// Connected to no database (it reads only the shared catalog pg_database), it
// starts a manager in every connectable non-template database; a manager that
// finds no extension says so in its slot and exits, and is tried again after
// pymigrate.extension_recheck seconds, or at once when CREATE EXTENSION wakes
// the supervisor. A manager that crashed is restarted with exponential
// back-off. The loop holds no C++ object with a destructor: a PostgreSQL
// ERROR here ends the supervisor, and the postmaster restarts it.
#include "worker/state.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
}

namespace pymigrate::worker {
namespace {

constexpr int kMaxBackoffMs = 60 * 1000;

struct Database {
    Oid oid;
    NameData name;
};

// Connectable, non-template databases, palloc'd in `cxt`.
Database *
list_databases(MemoryContext cxt, int *count)
{
    int capacity = 16;
    int n = 0;
    Database *out = static_cast<Database *>(MemoryContextAlloc(cxt, sizeof(Database) * capacity));
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    (void)GetTransactionSnapshot();
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tup;
    while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
        if (!db->datallowconn || db->datistemplate)
            continue;
        if (n == capacity) {
            capacity *= 2;
            out = static_cast<Database *>(repalloc(out, sizeof(Database) * capacity));
        }
        out[n].oid = db->oid;
        out[n].name = db->datname;
        ++n;
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    CommitTransactionCommand();
    *count = n;
    return out;
}

BackgroundWorkerHandle *
start_manager(const Database &db)
{
    BackgroundWorker w = worker_definition("pymigrate_manager_main", "pymigrate manager", BGW_NEVER_RESTART);
    snprintf(w.bgw_name, sizeof(w.bgw_name), "pymigrate manager %s", NameStr(db.name));
    w.bgw_main_arg = ObjectIdGetDatum(db.oid);
    w.bgw_notify_pid = MyProcPid;
    BackgroundWorkerHandle *handle = nullptr;
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    bool ok = RegisterDynamicBackgroundWorker(&w, &handle);
    MemoryContextSwitchTo(old);
    if (!ok) {
        ereport(WARNING, (errmsg("pymigrate: no free background worker slot for the manager of database \"%s\"",
                                 NameStr(db.name)),
                          errhint("Raise max_worker_processes (now %d).", max_worker_processes)));
        return nullptr;
    }
    return handle;
}

bool
exists(const Database *dbs, int n, Oid oid)
{
    for (int i = 0; i < n; ++i)
        if (dbs[i].oid == oid)
            return true;
    return false;
}

// One pass: forget dropped databases, notice exited managers, start those due.
void
supervise(BackgroundWorkerHandle **handles, MemoryContext pass_cxt)
{
    int n = 0;
    Database *dbs = list_databases(pass_cxt, &n);
    TimestampTz now = GetCurrentTimestamp();

    for (int i = 0; i < shared->nslots; ++i) {
        ManagerSlot &slot = shared->slots[i];
        if (slot.state == ManagerState::Free)
            continue;
        bool alive = false;
        if (handles[i]) {
            pid_t pid;
            BgwHandleStatus st = GetBackgroundWorkerPid(handles[i], &pid);
            alive = st == BGWH_STARTED || st == BGWH_NOT_YET_STARTED;
            if (!alive) {
                pfree(handles[i]);
                handles[i] = nullptr;
            }
        } else if (slot.state == ManagerState::Running) {
            // Started by an earlier supervisor (this one restarted after an
            // error): still ours while its process lives.
            alive = slot.manager_pid > 0 && kill(slot.manager_pid, 0) == 0;
        }
        SpinLockAcquire(&shared->mutex);
        if (!alive && (slot.state == ManagerState::Starting || slot.state == ManagerState::Running)) {
            // Died without saying why: a crash. Back off 1 s, 2 s, 4 s ... 60 s.
            slot.failures = std::min(slot.failures + 1, 16);
            long backoff = std::min<long>(kMaxBackoffMs, 1000L << std::min(slot.failures - 1, 6));
            slot.retry_after = TimestampTzPlusMilliseconds(now, backoff);
            slot.state = ManagerState::Stopped;
            slot.manager_pid = 0;
            slot.latch = nullptr;
        }
        if (!exists(dbs, n, slot.database) && slot.state != ManagerState::Dropping && !alive)
            slot.state = ManagerState::Free;
        SpinLockRelease(&shared->mutex);
    }

    for (int d = 0; d < n; ++d) {
        SpinLockAcquire(&shared->mutex);
        ManagerSlot *slot = find_slot(dbs[d].oid);
        bool start = false;
        if (!slot) {
            for (int i = 0; i < shared->nslots && !slot; ++i)
                if (shared->slots[i].state == ManagerState::Free)
                    slot = &shared->slots[i];
            if (slot) {
                *slot = ManagerSlot{dbs[d].oid, ManagerState::Stopped, 0, nullptr, true, 0, 0};
            }
        }
        if (slot && slot->state == ManagerState::Stopped && (slot->wanted || now >= slot->retry_after)) {
            start = true;
            slot->state = ManagerState::Starting;
            slot->wanted = false;
        }
        int index = slot ? static_cast<int>(slot - shared->slots) : -1;
        SpinLockRelease(&shared->mutex);
        if (!start)
            continue;
        handles[index] = start_manager(dbs[d]);
        if (!handles[index]) {
            SpinLockAcquire(&shared->mutex);
            slot->state = ManagerState::Stopped;
            slot->retry_after = TimestampTzPlusMilliseconds(now, 10 * 1000);
            SpinLockRelease(&shared->mutex);
        }
    }
}

void
supervisor_loop()
{
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    if (!shared)
        ereport(ERROR, (errmsg("pymigrate supervisor started without its shared memory")));
    SpinLockAcquire(&shared->mutex);
    shared->supervisor_latch = MyLatch;
    SpinLockRelease(&shared->mutex);

    auto **handles = static_cast<BackgroundWorkerHandle **>(
        MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle *) * shared->nslots));
    MemoryContext pass_cxt = AllocSetContextCreate(TopMemoryContext, "pymigrate supervisor", ALLOCSET_DEFAULT_SIZES);
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        supervise(handles, pass_cxt);
        MemoryContextReset(pass_cxt);
        pgstat_report_stat(false);
        int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, naptime_ms, PG_WAIT_EXTENSION);
        if (rc & WL_LATCH_SET)
            ResetLatch(MyLatch);
    }
}

} // namespace

extern "C" void
pymigrate_supervisor_main(Datum)
{
    pg::boundary("pymigrate supervisor", [] { supervisor_loop(); });
}

} // namespace pymigrate::worker

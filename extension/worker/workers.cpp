// Dynamic workers (start_worker, PYMIGRATE_WORKER's prologue), wake-ups,
// the transaction and wait helpers, and the framework's registration in
// _PG_init.
#include "worker/state.hpp"
#include "worker/worker.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "access/xact.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
}

namespace pymigrate::worker {

using pg::pg_call;

int naptime_ms = 5000;
int extension_recheck_s = 60;

namespace {

// bgw_extra: the database's oid, then the length and bytes of spec.extra.
constexpr size_t kExtraOffset = sizeof(Oid) + 1;
constexpr size_t kMaxExtra = BGW_EXTRALEN - kExtraOffset;

bool wake_pending = false;

void
wake_at_commit(XactEvent event, void *)
{
    if (!wake_pending)
        return;
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
        wake_pending = false;
        wake_manager(MyDatabaseId);
    } else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
        wake_pending = false;
    }
}

void
register_supervisor()
{
    BackgroundWorker w = worker_definition("pymigrate_supervisor_main", "pymigrate supervisor", 5);
    RegisterBackgroundWorker(&w);
}

} // namespace

BackgroundWorker
worker_definition(const char *function, const char *type, int restart_time)
{
    BackgroundWorker w;
    memset(&w, 0, sizeof(w));
    w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    w.bgw_start_time = BgWorkerStart_RecoveryFinished;
    w.bgw_restart_time = restart_time;
    strlcpy(w.bgw_library_name, "pymigrate", sizeof(w.bgw_library_name));
    strlcpy(w.bgw_function_name, function, sizeof(w.bgw_function_name));
    strlcpy(w.bgw_type, type, sizeof(w.bgw_type));
    strlcpy(w.bgw_name, type, sizeof(w.bgw_name));
    return w;
}

int
WorkerHandle::pid() const
{
    if (!handle_)
        return -1;
    pid_t pid = 0;
    BackgroundWorkerHandle *h = handle_;
    BgwHandleStatus st = pg_call([h, &pid] { return GetBackgroundWorkerPid(h, &pid); });
    if (st == BGWH_STARTED)
        return pid;
    return st == BGWH_NOT_YET_STARTED ? 0 : -1;
}

void
WorkerHandle::terminate() const
{
    if (BackgroundWorkerHandle *h = handle_)
        pg_call([h] { TerminateBackgroundWorker(h); });
}

void
WorkerHandle::release()
{
    if (handle_)
        pfree(handle_);
    handle_ = nullptr;
}

WorkerHandle
start_worker(const WorkerSpec &spec)
{
    if (spec.extra.size() > kMaxExtra)
        throw pg::Error(ERRCODE_INTERNAL_ERROR, "worker argument too long for " + spec.name);
    BackgroundWorker w = worker_definition(spec.function.c_str(), spec.type.c_str(), BGW_NEVER_RESTART);
    strlcpy(w.bgw_name, spec.name.c_str(), sizeof(w.bgw_name));
    w.bgw_main_arg = Int64GetDatum(spec.arg);
    memcpy(w.bgw_extra, &MyDatabaseId, sizeof(Oid));
    w.bgw_extra[sizeof(Oid)] = static_cast<char>(spec.extra.size());
    memcpy(w.bgw_extra + kExtraOffset, spec.extra.data(), spec.extra.size());
    w.bgw_notify_pid = MyProcPid;
    BackgroundWorkerHandle *handle = nullptr;
    bool ok = pg_call([&w, &handle] {
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        bool registered = RegisterDynamicBackgroundWorker(&w, &handle);
        MemoryContextSwitchTo(old);
        return registered;
    });
    if (!ok)
        throw pg::Error(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, "could not start " + spec.name + ": no free background worker slot",
                        "max_worker_processes is " + std::to_string(max_worker_processes) + ".",
                        "Raise max_worker_processes (each subscription and each running validation needs one).");
    return WorkerHandle(handle);
}

void
wake_manager(Oid database)
{
    if (!shared)
        return;
    if (database == InvalidOid)
        database = MyDatabaseId;
    Latch *latch = nullptr;
    SpinLockAcquire(&shared->mutex);
    ManagerSlot *slot = find_slot(database);
    if (slot && slot->state == ManagerState::Running && slot->latch) {
        latch = slot->latch;
    } else {
        if (slot && slot->state == ManagerState::Stopped)
            slot->wanted = true;
        latch = shared->supervisor_latch; // it starts a manager for a database without one
    }
    SpinLockRelease(&shared->mutex);
    if (latch)
        SetLatch(latch);
}

void
wake_manager_at_commit()
{
    static bool registered = false;
    if (!registered) {
        pg_call([] { RegisterXactCallback(wake_at_commit, nullptr); });
        registered = true;
    }
    wake_pending = true;
}

bool
stop_requested()
{
    return ProcDiePending;
}

namespace {

void
handle_interrupts_pg()
{
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
    }
}

} // namespace

int
wait_latch(long timeout_ms, int socket, int socket_events)
{
    int events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout_ms >= 0 ? WL_TIMEOUT : 0);
    if (socket >= 0)
        events |= socket_events;
    return pg_call([events, socket, timeout_ms] {
        int rc = WaitLatchOrSocket(MyLatch, events, socket, timeout_ms, PG_WAIT_EXTENSION);
        if (rc & WL_LATCH_SET)
            ResetLatch(MyLatch);
        handle_interrupts_pg();
        return rc;
    });
}

void
handle_interrupts()
{
    pg_call([] { handle_interrupts_pg(); });
}

namespace detail {

void
worker_prologue()
{
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    Oid database;
    memcpy(&database, MyBgworkerEntry->bgw_extra, sizeof(Oid));
    BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
    register_worker_pid();
}

std::string
worker_extra()
{
    const char *extra = MyBgworkerEntry->bgw_extra;
    size_t len = std::min(static_cast<size_t>(static_cast<unsigned char>(extra[sizeof(Oid)])), kMaxExtra);
    return std::string(extra + kExtraOffset, len);
}

void
start_transaction()
{
    pg_call([] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
    });
}

void
commit_transaction()
{
    pg_call([] {
        if (ActiveSnapshotSet())
            PopActiveSnapshot();
        CommitTransactionCommand();
        pgstat_report_stat(false);
    });
}

} // namespace detail

void
init()
{
    DefineCustomIntVariable("pymigrate.naptime", "How often the supervisor looks for new databases (ms).",
                            "Managers also look at their database at least this often.", &naptime_ms, 5000, 100,
                            3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pymigrate.extension_recheck",
                            "How often a database without the pymigrate extension is looked at again (s).",
                            "CREATE EXTENSION pymigrate starts its manager at once regardless.", &extension_recheck_s,
                            60, 1, 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
    if (!process_shared_preload_libraries_in_progress)
        return; // loaded on demand: no background work in this server
    install_shmem_hooks();
    install_dropdb_hook();
    register_supervisor();
}

} // namespace pymigrate::worker

// CREATE EXTENSION calls it (sql/install/05_worker.sql): the new database's
// manager starts when the creating transaction commits.
PYMIGRATE_FUNCTION(pymigrate_wake_manager)
{
    pymigrate::worker::wake_manager_at_commit();
    PG_RETURN_VOID();
}

// The manager of one database: runs every registered task's tick, sleeps
// until the earliest next one (or a wake-up), and leaves when the extension
// is dropped. An error in a tick is logged and that task alone backs off, so
// one feature's broken state never stops another's work.
#include "worker/state.hpp"
#include "worker/worker.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/extension.h"
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

constexpr int kMaxTasks = 16;
constexpr long kErrorBackoffMs = 10 * 1000;

Task tasks[kMaxTasks];
int ntasks = 0;

bool
extension_present()
{
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    bool present = OidIsValid(get_extension_oid("pymigrate", true));
    CommitTransactionCommand();
    return present;
}

// Runs one tick; returns when to run it again. C-style on purpose: the
// PG_TRY frame must not hold C++ objects.
long
run_tick(const Task &task, MemoryContext loop_cxt)
{
    volatile long next_ms = kErrorBackoffMs;
    PG_TRY();
    {
        next_ms = pg::boundary(task.name, task.tick);
    }
    PG_CATCH();
    {
        HOLD_INTERRUPTS();
        MemoryContextSwitchTo(loop_cxt);
        EmitErrorReport();
        AbortOutOfAnyTransaction();
        FlushErrorState();
        RESUME_INTERRUPTS();
        ereport(LOG, (errmsg("pymigrate manager: task \"%s\" failed; it runs again in %ld s", task.name,
                             kErrorBackoffMs / 1000)));
        next_ms = kErrorBackoffMs;
    }
    PG_END_TRY();
    return next_ms;
}

void
leave_slot(int, Datum)
{
    SpinLockAcquire(&shared->mutex);
    if (ManagerSlot *slot = find_slot(MyDatabaseId); slot && slot->manager_pid == MyProcPid)
        slot->latch = nullptr;
    SpinLockRelease(&shared->mutex);
}

[[noreturn]] void
exit_without_extension()
{
    SpinLockAcquire(&shared->mutex);
    if (ManagerSlot *slot = find_slot(MyDatabaseId); slot && slot->state == ManagerState::Running) {
        slot->state = ManagerState::Stopped;
        slot->failures = 0;
        slot->manager_pid = 0;
        slot->latch = nullptr;
        slot->retry_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), extension_recheck_s * 1000L);
    }
    SpinLockRelease(&shared->mutex);
    proc_exit(0);
}

void
manager_loop(Oid database)
{
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
    register_worker_pid();

    SpinLockAcquire(&shared->mutex);
    ManagerSlot *slot = find_slot(database);
    bool ours = slot && slot->state == ManagerState::Starting;
    if (ours) {
        slot->state = ManagerState::Running;
        slot->manager_pid = MyProcPid;
        slot->latch = MyLatch;
    }
    SpinLockRelease(&shared->mutex);
    if (!ours)
        proc_exit(0); // the database is being dropped, or another manager took over
    on_shmem_exit(leave_slot, 0);

    MemoryContext loop_cxt = AllocSetContextCreate(TopMemoryContext, "pymigrate manager", ALLOCSET_DEFAULT_SIZES);
    TimestampTz next_run[kMaxTasks] = {};
    bool first_pass = true;
    for (;;) {
        MemoryContextSwitchTo(loop_cxt);
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        if (!extension_present())
            exit_without_extension();
        TimestampTz now = GetCurrentTimestamp();
        long sleep_ms = naptime_ms;
        for (int i = 0; i < ntasks; ++i) {
            if (now >= next_run[i]) {
                long ms = run_tick(tasks[i], loop_cxt);
                now = GetCurrentTimestamp();
                next_run[i] = TimestampTzPlusMilliseconds(now, std::max(0L, ms));
            }
            long until = (next_run[i] - now) / 1000;
            sleep_ms = std::max(0L, std::min(sleep_ms, until));
        }
        if (first_pass) {
            // A full pass worked: the crash back-off starts over.
            SpinLockAcquire(&shared->mutex);
            slot->failures = 0;
            SpinLockRelease(&shared->mutex);
            first_pass = false;
        }
        MemoryContextReset(loop_cxt);
        pgstat_report_stat(false);
        int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
        if (rc & WL_LATCH_SET) {
            ResetLatch(MyLatch);
            // A wake-up: every task runs now.
            for (int i = 0; i < ntasks; ++i)
                next_run[i] = 0;
        }
    }
}

} // namespace

void
register_task(const Task &task)
{
    for (int i = 0; i < ntasks; ++i)
        if (strcmp(tasks[i].name, task.name) == 0)
            return; // _PG_init ran again (the library was reloaded)
    if (ntasks == kMaxTasks)
        throw pg::Error(ERRCODE_INTERNAL_ERROR, std::string("too many pymigrate manager tasks at ") + task.name);
    tasks[ntasks++] = task;
}

extern "C" void
pymigrate_manager_main(Datum arg)
{
    Oid database = DatumGetObjectId(arg);
    pg::boundary("pymigrate manager", [database] { manager_loop(database); });
}

} // namespace pymigrate::worker

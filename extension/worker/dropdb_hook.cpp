// DROP DATABASE waits for, then refuses, a database that other processes
// are connected to; our manager and workers would be such processes. The
// utility hook stops them first and keeps the supervisor from starting new
// ones while the drop runs (pglogical does the same).
#include "worker/state.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "commands/dbcommands.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
}

#include <csignal>

namespace pymigrate::worker {
namespace {

ProcessUtility_hook_type prev_utility = nullptr;
constexpr int kStopWaitMs = 10 * 1000;

int
signal_workers(Oid database)
{
    int remaining = 0;
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->npids; ++i) {
        if (shared->pids[i].pid != 0 && shared->pids[i].database == database) {
            kill(shared->pids[i].pid, SIGTERM);
            ++remaining;
        }
    }
    SpinLockRelease(&shared->mutex);
    return remaining;
}

// Marks the database as being dropped (no manager starts there) and stops
// our processes in it, waiting up to kStopWaitMs. Returns the slot index.
int
stop_database(Oid database)
{
    int index = -1;
    SpinLockAcquire(&shared->mutex);
    ManagerSlot *slot = find_slot(database);
    for (int i = 0; i < shared->nslots && !slot; ++i)
        if (shared->slots[i].state == ManagerState::Free)
            slot = &shared->slots[i];
    if (slot) {
        slot->database = database;
        slot->state = ManagerState::Dropping;
        slot->latch = nullptr;
        index = static_cast<int>(slot - shared->slots);
    }
    SpinLockRelease(&shared->mutex);
    for (int waited = 0; signal_workers(database) > 0 && waited < kStopWaitMs; waited += 20) {
        pg_usleep(20 * 1000);
        CHECK_FOR_INTERRUPTS();
    }
    return index;
}

void
release_slot(int index)
{
    if (index < 0)
        return;
    SpinLockAcquire(&shared->mutex);
    // If the drop failed, the supervisor finds the database again.
    if (shared->slots[index].state == ManagerState::Dropping)
        shared->slots[index].state = ManagerState::Free;
    SpinLockRelease(&shared->mutex);
}

void
utility_hook(PlannedStmt *pstmt, const char *query, bool read_only_tree, ProcessUtilityContext context,
             ParamListInfo params, QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
    volatile int slot = -1; // read after the longjmp of PG_FINALLY
    if (shared && IsA(pstmt->utilityStmt, DropdbStmt)) {
        auto *stmt = reinterpret_cast<DropdbStmt *>(pstmt->utilityStmt);
        Oid database = get_database_oid(stmt->dbname, true);
        if (OidIsValid(database))
            slot = stop_database(database);
    }
    PG_TRY();
    {
        if (prev_utility)
            prev_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
        else
            standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
    }
    PG_FINALLY();
    {
        release_slot(slot);
    }
    PG_END_TRY();
}

} // namespace

void
install_dropdb_hook()
{
    prev_utility = ProcessUtility_hook;
    ProcessUtility_hook = utility_hook;
}

} // namespace pymigrate::worker

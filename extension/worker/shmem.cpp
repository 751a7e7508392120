// The worker framework's shared memory: requested and attached through
// PostgreSQL 15's shmem_request / shmem_startup hooks.
#include "worker/state.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
}

namespace pymigrate::worker {

SharedState *shared = nullptr;

namespace {

shmem_request_hook_type prev_shmem_request = nullptr;
shmem_startup_hook_type prev_shmem_startup = nullptr;

// One manager per database at most, and every process is a worker at most:
// both bounded by max_worker_processes.
int
slot_count()
{
    return max_worker_processes;
}

Size
state_size()
{
    Size size = MAXALIGN(sizeof(SharedState));
    size = add_size(size, mul_size(slot_count(), sizeof(ManagerSlot)));
    size = add_size(size, mul_size(slot_count(), sizeof(WorkerPid)));
    return size;
}

void
request_shmem()
{
    if (prev_shmem_request)
        prev_shmem_request();
    RequestAddinShmemSpace(state_size());
}

void
attach_shmem()
{
    if (prev_shmem_startup)
        prev_shmem_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    auto *state = static_cast<SharedState *>(ShmemInitStruct("pymigrate worker state", state_size(), &found));
    char *after = reinterpret_cast<char *>(state) + MAXALIGN(sizeof(SharedState));
    if (!found) {
        memset(state, 0, state_size());
        SpinLockInit(&state->mutex);
        state->nslots = slot_count();
        state->npids = slot_count();
    }
    // Pointers into shared memory are the same in every process (fork).
    state->slots = reinterpret_cast<ManagerSlot *>(after);
    state->pids = reinterpret_cast<WorkerPid *>(after + sizeof(ManagerSlot) * state->nslots);
    shared = state;
    LWLockRelease(AddinShmemInitLock);
}

void
forget_worker_pid(int, Datum)
{
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->npids; ++i)
        if (shared->pids[i].pid == MyProcPid)
            shared->pids[i] = WorkerPid{InvalidOid, 0};
    SpinLockRelease(&shared->mutex);
}

} // namespace

ManagerSlot *
find_slot(Oid database)
{
    for (int i = 0; i < shared->nslots; ++i)
        if (shared->slots[i].state != ManagerState::Free && shared->slots[i].database == database)
            return &shared->slots[i];
    return nullptr;
}

void
register_worker_pid()
{
    if (!shared)
        return;
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->npids; ++i) {
        if (shared->pids[i].pid == 0) {
            shared->pids[i] = WorkerPid{MyDatabaseId, MyProcPid};
            break;
        }
    }
    SpinLockRelease(&shared->mutex);
    on_shmem_exit(forget_worker_pid, 0);
}

void
install_shmem_hooks()
{
    prev_shmem_request = shmem_request_hook;
    shmem_request_hook = request_shmem;
    prev_shmem_startup = shmem_startup_hook;
    shmem_startup_hook = attach_shmem;
}

} // namespace pymigrate::worker

// Shared memory of sync (status.hpp), requested through PostgreSQL 15's
// shmem_request / shmem_startup hooks, chained after whatever was there.
#include "sync/status.hpp"

#include <cmath>

extern "C" {
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
}

namespace pymigrate::sync
{

SyncShared *shared = nullptr;

namespace
{

shmem_request_hook_type prev_request = nullptr;
shmem_startup_hook_type prev_startup = nullptr;

// Every running subscription needs a worker, and slots of stopped ones are
// reused, so twice max_worker_processes (at least 64) is plenty.
int
slot_count()
{
    return Max(64, 2 * max_worker_processes);
}

Size
shmem_size()
{
    return add_size(offsetof(SyncShared, slots), mul_size(slot_count(), sizeof(SubStatus)));
}

void
request()
{
    if (prev_request)
        prev_request();
    RequestAddinShmemSpace(shmem_size());
}

void
startup()
{
    if (prev_startup)
        prev_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    shared = static_cast<SyncShared *>(ShmemInitStruct("pymigrate sync status", shmem_size(), &found));
    if (!found) {
        memset(shared, 0, shmem_size());
        SpinLockInit(&shared->mutex);
        shared->nslots = slot_count();
    }
    LWLockRelease(AddinShmemInitLock);
}

} // namespace

void
install_shmem_hooks()
{
    prev_request = shmem_request_hook;
    shmem_request_hook = request;
    prev_startup = shmem_startup_hook;
    shmem_startup_hook = startup;
}

SubStatus *
find_status(int32 subid, bool create)
{
    if (shared == nullptr)
        return nullptr;
    SubStatus *free_slot = nullptr;
    SubStatus *idle_slot = nullptr; // a slot with no worker, reusable when full
    for (int i = 0; i < shared->nslots; ++i) {
        SubStatus &s = shared->slots[i];
        if (s.used && s.database == MyDatabaseId && s.subid == subid)
            return &s;
        if (!s.used && free_slot == nullptr)
            free_slot = &s;
        if (s.used && s.pid == 0 && idle_slot == nullptr)
            idle_slot = &s;
    }
    if (!create)
        return nullptr;
    SubStatus *s = free_slot ? free_slot : idle_slot;
    if (s == nullptr)
        return nullptr;
    memset(s, 0, sizeof(*s));
    s->used = true;
    s->database = MyDatabaseId;
    s->subid = subid;
    return s;
}

bool
read_status(int32 subid, SubStatus *out)
{
    if (shared == nullptr)
        return false;
    SpinLockAcquire(&shared->mutex);
    SubStatus *s = find_status(subid, false);
    if (s)
        *out = *s;
    SpinLockRelease(&shared->mutex);
    return s != nullptr;
}

void
update_rate(SubStatus &s, uint64 changes, TimestampTz now)
{
    if (s.rate_at == 0 || now <= s.rate_at) {
        if (s.rate_at == 0) {
            s.rate_at = now;
            s.apply_rate = 0;
        }
        return;
    }
    double seconds = static_cast<double>(now - s.rate_at) / 1e6;
    double alpha = 1.0 - exp(-seconds / 2.0);
    s.apply_rate += alpha * (static_cast<double>(changes) / seconds - s.apply_rate);
    s.rate_at = now;
}

void
add_applied(SubStatus &s, uint64 changes, uint64 txns, uint64 not_found, uint64 conflicts, TimestampTz last_commit_time,
            TimestampTz now)
{
    s.changes_applied += changes;
    s.txns_applied += txns;
    s.not_found += not_found;
    s.conflicts += conflicts;
    update_rate(s, changes, now);
    if (last_commit_time)
        s.last_commit_time = last_commit_time;
}

void
forget_status(int32 subid)
{
    if (shared == nullptr)
        return;
    SpinLockAcquire(&shared->mutex);
    if (SubStatus *s = find_status(subid, false))
        s->used = false;
    SpinLockRelease(&shared->mutex);
}

} // namespace pymigrate::sync

#include "validate/snapshot.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "storage/latch.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"
}

#include <chrono>

namespace pymigrate::validate {

using pg::pg_call;

HeldSnapshot
HeldSnapshot::transaction()
{
    return HeldSnapshot(pg_call([] { return RegisterSnapshot(GetTransactionSnapshot()); }));
}

HeldSnapshot
HeldSnapshot::latest()
{
    return HeldSnapshot(pg_call([] { return RegisterSnapshot(GetLatestSnapshot()); }));
}

HeldSnapshot::~HeldSnapshot()
{
    if (!snapshot_)
        return;
    try {
        Snapshot s = snapshot_;
        pg_call([s] { UnregisterSnapshot(s); });
    } catch (...) {
        // Only on a resource owner already torn down: abort releases it.
    }
}

void
sleep_interruptibly(double seconds)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(static_cast<long>(seconds * 1e6));
    for (;;) {
        long left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0)
            return;
        pg_call([left] {
            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
            CHECK_FOR_INTERRUPTS();
        });
    }
}

} // namespace pymigrate::validate

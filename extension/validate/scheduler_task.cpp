// The background side of continuous validation: a task of the per-database
// manager process (extension/worker/) that runs the schedules that are due,
// each in a transaction of its own, and says when it wants to run next.
#include "validate/schedule.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/snapmgr.h"
}

#include <algorithm>
#include <string>
#include <vector>

namespace pymigrate::validate {

using pg::pg_call;

namespace {

// Longest sleep between looks at the schedules: a schedule created or
// changed without a wake-up is noticed within this time.
constexpr long kMaxSleepMs = 60000;

template <typename F>
void
in_transaction(F &&body)
{
    pg_call([] {
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
    });
    try {
        body();
    } catch (...) {
        pg_call([] { AbortCurrentTransaction(); });
        throw;
    }
    pg_call([] {
        PopActiveSnapshot();
        CommitTransactionCommand();
    });
}

} // namespace

long
scheduler_tick()
{
    std::vector<int64_t> due;
    long sleep_ms = kMaxSleepMs;
    in_transaction([&] {
        pg::Spi spi;
        for (const auto &row : spi.query("SELECT id FROM pymigrate.validation_schedule WHERE enabled AND "
                                         "next_run_at <= pg_catalog.clock_timestamp() ORDER BY next_run_at",
                                         {}, true))
            due.push_back(std::stoll(*row[0]));
    });
    for (int64_t id : due) {
        try {
            in_transaction([id] { (void)run_scheduled(id); });
        } catch (const std::exception &e) {
            // run_scheduled records a failed validation itself; this is a
            // schedule that could not even be read (dropped meanwhile).
            const char *m = e.what();
            pg_call([id, m] {
                ereport(WARNING, (errmsg("pymigrate: scheduled validation %lld could not run: %s",
                                         static_cast<long long>(id), m)));
            });
        }
    }
    in_transaction([&] {
        pg::Spi spi;
        auto next = spi.scalar("SELECT ceil(extract(epoch FROM min(next_run_at) - pg_catalog.clock_timestamp()) "
                               "* 1000)::bigint FROM pymigrate.validation_schedule WHERE enabled",
                               {}, true);
        if (next)
            sleep_ms = std::clamp(std::stol(*next), 0L, kMaxSleepMs);
    });
    return sleep_ms;
}

void
wake_scheduler_at_commit()
{
    // Without the worker framework (extension/worker/) there is no manager
    // to wake; schedules then run when run_scheduled_validation() is called.
}

} // namespace pymigrate::validate

// The background side of continuous validation: a task of the per-database
// manager process (extension/worker/, registered from _PG_init) that runs the
// schedules that are due, each in a transaction of its own, and says when it
// wants to run next. Without shared_preload_libraries there is no manager:
// schedules then run only when run_scheduled_validation() is called.
#include "validate/schedule.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "worker/worker.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
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

} // namespace

long
scheduler_tick()
{
    std::vector<int64_t> due;
    long sleep_ms = kMaxSleepMs;
    worker::in_transaction([&] {
        pg::Spi spi;
        for (const auto &row : spi.query("SELECT id FROM pymigrate.validation_schedule WHERE enabled AND "
                                         "next_run_at <= pg_catalog.clock_timestamp() ORDER BY next_run_at",
                                         {}, true))
            due.push_back(std::stoll(*row[0]));
    });
    for (int64_t id : due) {
        try {
            worker::in_transaction([id] { (void)run_scheduled(id); });
        } catch (const std::exception &e) {
            pg_call([] { AbortCurrentTransaction(); });
            // run_scheduled records a failed validation itself; this is a
            // schedule that could not even be read or updated. Move it on,
            // or the next tick would try it again at once.
            std::string message = e.what();
            const char *m = message.c_str();
            pg_call([id, m] {
                ereport(WARNING, (errmsg("pymigrate: scheduled validation %lld could not run: %s",
                                         static_cast<long long>(id), m)));
            });
            worker::in_transaction([id, &message] {
                pg::Spi spi;
                spi.execute("UPDATE pymigrate.validation_schedule SET last_error = $2, "
                            "next_run_at = pg_catalog.clock_timestamp() + every WHERE id = $1",
                            {{INT8OID, std::to_string(id)}, {TEXTOID, message}});
            });
        }
    }
    worker::in_transaction([&] {
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
    worker::wake_manager_at_commit();
}

} // namespace pymigrate::validate

#include "sync/sync.hpp"

#include "pg/guard.hpp"
#include "sync/status.hpp"
#include "worker/worker.hpp"

extern "C" {
#include "utils/guc.h"
}

#include <climits>

namespace pymigrate::sync {

int sync_timeout_ms = 30000;
int sync_max_lag_ms = 1000;
int sync_retry_max_ms = 60000;
int capture_poll_ms = 100;
int conflict_log_retention_s = 7 * 24 * 3600;

long manager_tick();      // sync_manager.cpp
long conflict_log_tick(); // conflict_retention.cpp
long tombstone_tick();    // tombstone_trim.cpp

void
init()
{
    DefineCustomIntVariable("pymigrate.sync_timeout", "Silence from a provider after which an apply worker reconnects.",
                            "The worker asks for a keepalive after each quiet second.", &sync_timeout_ms, 30000, 2000,
                            3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pymigrate.sync_max_lag",
                            "Lag up to which pymigrate.subscription_status says 'streaming' rather than 'catchup'.",
                            nullptr, &sync_max_lag_ms, 1000, 0, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("pymigrate.sync_retry_max", "Longest wait before a failed apply worker is started again.",
                            "The wait doubles from 1 s after each consecutive failure, up to this.", &sync_retry_max_ms,
                            60000, 1000, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("pymigrate.capture_poll",
                            "How often an apply worker of a trigger-capture subscription reads the provider's "
                            "change log when it found nothing new.",
                            nullptr, &capture_poll_ms, 100, 10, 60000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("pymigrate.conflict_log_retention",
                            "Age after which rows of pymigrate.conflict_log are deleted (0: never).",
                            "The manager of each database trims the log every minute.", &conflict_log_retention_s,
                            7 * 24 * 3600, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
    worker::register_task({"subscriptions", &manager_tick});
    worker::register_task({"conflict log retention", &conflict_log_tick});
    worker::register_task({"tombstone trim", &tombstone_tick});
    if (process_shared_preload_libraries_in_progress)
        install_shmem_hooks();
}

} // namespace pymigrate::sync

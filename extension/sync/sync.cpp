#include "sync/sync.hpp"

#include "pg/guard.hpp"
#include "sync/status.hpp"
#include "worker/worker.hpp"

extern "C" {
#include "utils/guc.h"
}

namespace pymigrate::sync {

int sync_timeout_ms = 30000;
int sync_max_lag_ms = 1000;
int sync_retry_max_ms = 60000;

long manager_tick(); // sync_manager.cpp

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
    worker::register_task({"subscriptions", &manager_tick});
    if (process_shared_preload_libraries_in_progress)
        install_shmem_hooks();
}

} // namespace pymigrate::sync

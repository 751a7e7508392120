// Sync, part 1: change capture (the output plugin) and the apply side
// (manager task, apply workers, SQL API). Entry point and settings.
#pragma once

namespace pymigrate::sync {

// From _PG_init: settings, the manager task, and (with
// shared_preload_libraries) the shared memory of the status view.
void init();

// Settings (milliseconds).
extern int sync_timeout_ms;   // pymigrate.sync_timeout: silence from the provider before reconnecting
extern int sync_max_lag_ms;   // pymigrate.sync_max_lag: above it the state is 'catchup', not 'streaming'
extern int sync_retry_max_ms; // pymigrate.sync_retry_max: longest back-off between worker restarts

} // namespace pymigrate::sync

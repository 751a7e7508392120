// Sync: change capture (the output plugin, capture triggers) and the apply
// side (manager tasks, apply workers, conflict handling, SQL API). Entry
// point and settings.
#pragma once

namespace pymigrate::sync {

// From _PG_init: settings, the manager task, and (with
// shared_preload_libraries) the shared memory of the status view.
void init();

// Settings (milliseconds).
extern int sync_timeout_ms;   // pymigrate.sync_timeout: silence from the provider before reconnecting
extern int sync_max_lag_ms;   // pymigrate.sync_max_lag: above it the state is 'catchup', not 'streaming'
extern int sync_retry_max_ms; // pymigrate.sync_retry_max: longest back-off between worker restarts
extern int capture_poll_ms;   // pymigrate.capture_poll: trigger capture reads the provider's log this often
extern int conflict_log_retention_s; // pymigrate.conflict_log_retention: conflict_log rows older are trimmed

} // namespace pymigrate::sync

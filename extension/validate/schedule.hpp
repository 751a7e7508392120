// Continuous validation: the scheduled runs and the background worker task
// that starts them when they are due.
#pragma once

#include <cstdint>

namespace pymigrate::validate {

// One run of schedule `schedule_id` now: validates, raises an alert per
// table below the threshold (or one for a failed run), moves next_run_at.
// Returns the run id (of a failed run too).
int64_t run_scheduled(int64_t schedule_id);

// The manager task: runs the schedules that are due, each in its own
// transaction (call it outside any transaction), and returns the
// milliseconds until the next one is due.
long scheduler_tick();

// Asks the background worker to look at the schedules when the current
// transaction commits (nothing when there is no worker).
void wake_scheduler_at_commit();

} // namespace pymigrate::validate

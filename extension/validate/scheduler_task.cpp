// The background side of continuous validation. The worker framework
// (extension/worker/) runs registered tasks in a per-database manager
// process; until it is merged, schedules run only when
// pymigrate.run_scheduled_validation() is called.
#include "validate/schedule.hpp"

namespace pymigrate::validate {

void
wake_scheduler_at_commit()
{
}

} // namespace pymigrate::validate

// The manager task "conflict log retention": deletes rows of
// pymigrate.conflict_log older than pymigrate.conflict_log_retention, once a
// minute, in batches (a large backlog never holds one long transaction).
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "sync/sync.hpp"
#include "worker/worker.hpp"

extern "C" {
#include "catalog/pg_type.h"
}

namespace pymigrate::sync {

long
conflict_log_tick()
{
    if (conflict_log_retention_s <= 0)
        return 60 * 1000;
    std::string age = std::to_string(conflict_log_retention_s) + " seconds";
    uint64_t deleted = 0;
    do {
        worker::in_transaction([&] {
            pg::Spi spi;
            deleted = spi.execute("DELETE FROM pymigrate.conflict_log WHERE id IN (SELECT id FROM "
                                  "pymigrate.conflict_log WHERE logged_at < now() - $1::interval LIMIT 10000)",
                                  {{TEXTOID, age}});
        });
    } while (deleted == 10000 && !worker::stop_requested());
    return 60 * 1000;
}

} // namespace pymigrate::sync

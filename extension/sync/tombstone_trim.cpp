// The manager task "tombstone trim": deletes the tombstones
// (tombstone.hpp) that no subscription needs any more. A tombstone of a
// table is needed while a change of the table made before the provider had
// applied our delete may still arrive; once every subscription of the table
// has read, from its provider, the SEEN of a later transaction of ours by
// the window (its seen_horizon in the status), every change still to come
// was made after the delete. A subscription whose horizon is not known
// (its worker has not run since the server started) keeps them all.
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "sync/catalog.hpp"
#include "sync/status.hpp"
#include "worker/worker.hpp"

extern "C" {
#include "access/commit_ts.h"
#include "catalog/pg_type.h"
#include "utils/timestamp.h"
}

#include <string>

namespace pymigrate::sync {

long
tombstone_tick()
{
    std::string ids = "{";
    std::string horizons = "{";
    std::vector<SubscriptionSummary> subs;
    worker::in_transaction([&] { subs = list_subscriptions(); });
    for (size_t i = 0; i < subs.size(); ++i) {
        SubStatus st{};
        bool known = read_status(subs[i].id, &st) && st.seen_horizon != 0;
        ids += (i ? "," : "") + std::to_string(subs[i].id);
        horizons += i ? "," : "";
        if (known) {
            TimestampTz h = st.seen_horizon;
            horizons += '"';
            horizons += pg::pg_call([h] { return timestamptz_to_str(h); });
            horizons += '"';
        } else {
            horizons += "NULL";
        }
    }
    ids += "}";
    horizons += "}";
    // In batches (a backlog never holds one long transaction), skipping
    // tombstones an application's delete is rewriting right now (it must
    // never wait for, or deadlock with, this task).
    uint64_t deleted = 0;
    do {
    worker::in_transaction([&] {
        pg::Spi spi;
        if (!pg::pg_call([] { return track_commit_timestamp; })) {
            // Without commit timestamps no conflict is detected, and no
            // tombstone is ever asked for.
            spi.execute("DELETE FROM pymigrate.tombstone");
            deleted = 0;
            return;
        }
        deleted = spi.execute(
            "WITH h AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::int[]), pg_catalog.unnest($2::timestamptz[])) "
            "AS h(id, horizon)), "
            "t AS (SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', s.local_schema, s.local_table)) "
            "AS relid, min(h.horizon) AS horizon, bool_and(h.horizon IS NOT NULL) AS known "
            "FROM pymigrate.subscription_table s LEFT JOIN h ON h.id = s.subscription_id GROUP BY 1) "
            "DELETE FROM pymigrate.tombstone WHERE ctid = ANY (ARRAY("
            "SELECT b.ctid FROM pymigrate.tombstone b JOIN t ON b.relid = t.relid "
            "WHERE t.known AND b.deleted_at < t.horizon "
            "AND coalesce(pg_catalog.pg_xact_commit_timestamp(pg_catalog.xid(b.xid)), '-infinity') < t.horizon "
            "LIMIT 10000 FOR UPDATE OF b SKIP LOCKED))",
            {{TEXTOID, ids}, {TEXTOID, horizons}});
    });
    } while (deleted == 10000 && !worker::stop_requested());
    return 10 * 1000;
}

} // namespace pymigrate::sync

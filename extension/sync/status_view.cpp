// pymigrate._subscription_runtime(): the live half of the view
// pymigrate.subscription_status, from shared memory (status.hpp). The state
// names and lag definitions are documented with the view in
// sql/install/20_sync.sql.
#include "pg/guard.hpp"
#include "sync/status.hpp"
#include "sync/sync.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
}

namespace pymigrate::sync {
namespace {

const char *
state_name(const SubStatus &s, double lag_seconds, TimestampTz now)
{
    if (s.held || (s.pid == 0 && s.failures > 0))
        return "error";
    if (s.pid == 0)
        return "initializing";
    switch (s.phase) {
    case Phase::Copying:
        return "copying";
    case Phase::Streaming:
        // Fresh news from the provider, and not behind by more than allowed.
        if (lag_seconds * 1000.0 <= sync_max_lag_ms &&
            !TimestampDifferenceExceeds(s.last_msg_time, now, Max(sync_max_lag_ms, 10000)))
            return "streaming";
        return "catchup";
    default:
        return "initializing";
    }
}

Datum
runtime(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (shared == nullptr)
        return static_cast<Datum>(0);
    int n = 0;
    SubStatus *copy = static_cast<SubStatus *>(palloc(sizeof(SubStatus) * shared->nslots));
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < shared->nslots; ++i)
        if (shared->slots[i].used && shared->slots[i].database == MyDatabaseId)
            copy[n++] = shared->slots[i];
    SpinLockRelease(&shared->mutex);

    TimestampTz now = GetCurrentTimestamp();
    for (int i = 0; i < n; ++i) {
        const SubStatus &s = copy[i];
        Datum v[24];
        bool nulls[24];
        memset(nulls, 0, sizeof(nulls));
        bool streaming = s.pid != 0 && s.phase == Phase::Streaming;
        double lag_seconds = 0;
        if (streaming && s.in_txn && s.txn_commit_time != 0)
            lag_seconds = Max(0.0, static_cast<double>(now - s.txn_commit_time) / 1e6);
        v[0] = Int32GetDatum(s.subid);
        v[1] = CStringGetTextDatum(state_name(s, lag_seconds, now));
        v[2] = Int32GetDatum(s.pid);
        nulls[2] = s.pid == 0;
        v[3] = Int64GetDatum(s.received_lsn > s.applied_lsn ? static_cast<int64>(s.received_lsn - s.applied_lsn) : 0);
        nulls[3] = !streaming;
        v[4] = Float8GetDatum(lag_seconds);
        nulls[4] = !streaming;
        v[5] = LSNGetDatum(s.received_lsn);
        nulls[5] = s.received_lsn == InvalidXLogRecPtr;
        v[6] = LSNGetDatum(s.applied_lsn);
        nulls[6] = s.applied_lsn == InvalidXLogRecPtr;
        v[7] = LSNGetDatum(s.flushed_lsn);
        nulls[7] = s.flushed_lsn == InvalidXLogRecPtr;
        v[8] = Int64GetDatum(static_cast<int64>(s.changes_applied));
        v[9] = Int64GetDatum(static_cast<int64>(s.txns_applied));
        v[10] = Int64GetDatum(static_cast<int64>(s.not_found));
        v[11] = TimestampTzGetDatum(s.last_commit_time);
        nulls[11] = s.last_commit_time == 0;
        v[12] = TimestampTzGetDatum(s.last_msg_time);
        nulls[12] = s.last_msg_time == 0;
        v[13] = TimestampTzGetDatum(s.started_at);
        nulls[13] = s.started_at == 0 || s.pid == 0;
        bool copying = s.pid != 0 && s.phase == Phase::Copying;
        v[14] = Int32GetDatum(s.copy_tables_done);
        v[15] = Int32GetDatum(s.copy_tables_total);
        v[16] = Int64GetDatum(static_cast<int64>(s.copy_rows));
        v[17] = CStringGetTextDatum(s.copy_table);
        nulls[14] = nulls[15] = nulls[16] = !copying;
        nulls[17] = !copying || s.copy_table[0] == '\0';
        v[18] = Int32GetDatum(s.failures);
        v[19] = CStringGetTextDatum(s.last_error);
        nulls[19] = s.last_error[0] == '\0';
        v[20] = TimestampTzGetDatum(s.last_error_time);
        nulls[20] = s.last_error_time == 0;
        v[21] = Int64GetDatum(static_cast<int64>(s.conflicts));
        // The rate decays to 0 when nothing was applied for a while.
        double rate = s.apply_rate;
        if (s.rate_at != 0 && TimestampDifferenceExceeds(s.rate_at, now, 3000))
            rate = 0;
        v[22] = Float8GetDatum(s.pid != 0 ? rate : 0.0);
        v[23] = BoolGetDatum(s.held);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
    }
    return static_cast<Datum>(0);
}

} // namespace
} // namespace pymigrate::sync

PYMIGRATE_FUNCTION(pymigrate_subscription_runtime)
{
    return pymigrate::pg::pg_call([fcinfo] { return pymigrate::sync::runtime(fcinfo); });
}

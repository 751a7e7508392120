// Continuous validation: one run of a schedule (pymigrate.run_scheduled_validation),
// with alerts when a table falls below the schedule's threshold or the run fails.
// Before PostgreSQL's headers, whose port.h redefines snprintf.
#include <nlohmann/json.hpp>

#include "validate/schedule.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/resowner.h"
}

#include "common/dsn.hpp"
#include "validate/catalog.hpp"
#include "validate/sql_args.hpp"
#include "validate/validate_run.hpp"

namespace pymigrate::validate {

using pg::Error;
using pg::pg_call;
using pg::SpiParam;

namespace {

struct Schedule {
    int64_t id = 0;
    ValidationRequest request;
    std::string threshold; // numeric, as text
};

Schedule
load_schedule(int64_t id)
{
    pg::Spi spi;
    auto rows = spi.query("SELECT tables::text, remote_dsn, mapping::text, options::text, alert_threshold::text "
                          "FROM pymigrate.validation_schedule WHERE id = $1",
                          {{INT8OID, std::to_string(id)}}, true);
    if (rows.empty())
        throw Error(ERRCODE_NO_DATA_FOUND, "validation schedule " + std::to_string(id) + " does not exist");
    Schedule s;
    s.id = id;
    auto &r = s.request;
    if (rows[0][0])
        r.tables = parse_text_array(*rows[0][0]);
    r.dsn = *rows[0][1];
    r.mapping_json = *rows[0][2];
    r.schedule_id = id;
    s.threshold = *rows[0][4];
    nlohmann::json o;
    try {
        o = nlohmann::json::parse(*rows[0][3]);
        r.with_rows = o.value("with_rows", false);
        r.recheck = o.value("recheck", true);
        r.recheck_delay = o.value("recheck_delay", 2.0);
        r.recheck_timeout = o.value("recheck_timeout", 30.0);
        if (o.contains("buckets"))
            r.buckets = o["buckets"].get<uint32_t>();
        r.merge_ratio = o.value("merge_ratio", 0.25);
        if (o.contains("parallel"))
            r.parallel = o["parallel"].get<int>();
    } catch (const nlohmann::json::exception &e) {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                    "the options of validation schedule " + std::to_string(id) + " are not valid: " + e.what());
    }
    return s;
}

// A row in pymigrate.alert, NOTIFY pymigrate_alert with it as JSON, and a
// WARNING in the server log.
void
raise_alert(int64_t schedule, std::optional<int64_t> run, const std::optional<std::string> &table,
            const std::optional<std::string> &pct, const std::optional<std::string> &threshold,
            const std::string &message)
{
    {
        pg::Spi spi;
        spi.execute("WITH a AS (INSERT INTO pymigrate.alert (schedule_id, run_id, table_name, consistency_pct, "
                    "threshold, message) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *) "
                    "SELECT pg_catalog.pg_notify('pymigrate_alert', pg_catalog.jsonb_build_object('alert_id', a.id, "
                    "'schedule_id', a.schedule_id, 'run_id', a.run_id, 'table', a.table_name, 'consistency_pct', "
                    "a.consistency_pct, 'threshold', a.threshold, 'message', a.message, 'raised_at', a.raised_at)::text) "
                    "FROM a",
                    {{INT8OID, std::to_string(schedule)},
                     {INT8OID, run ? std::optional(std::to_string(*run)) : std::nullopt},
                     {TEXTOID, table},
                     {NUMERICOID, pct},
                     {NUMERICOID, threshold},
                     {TEXTOID, message}});
    }
    const char *m = message.c_str();
    pg_call([m] { ereport(WARNING, (errmsg("pymigrate: %s", m))); });
}

void
finish_schedule(int64_t schedule, int64_t run, const std::optional<std::string> &error)
{
    pg::Spi spi;
    spi.execute("UPDATE pymigrate.validation_schedule SET last_run_id = $2, last_run_at = pg_catalog.clock_timestamp(), "
                "next_run_at = pg_catalog.clock_timestamp() + every, last_error = $3 WHERE id = $1",
                {{INT8OID, std::to_string(schedule)}, {INT8OID, std::to_string(run)}, {TEXTOID, error}});
}

int64_t
record_failed_run(const Schedule &s, const std::string &error)
{
    pg::Spi spi;
    nlohmann::json options = {{"scheduled", true}};
    auto id = spi.scalar("INSERT INTO pymigrate.validation_run (started_at, finished_at, remote, status, options, "
                         "schedule_id, error) VALUES (pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp(), $1, "
                         "'failed', $2, $3, $4) RETURNING id",
                         {{TEXTOID, redact_dsn(s.request.dsn)},
                          {JSONBOID, options.dump()},
                          {INT8OID, std::to_string(s.id)},
                          {TEXTOID, error}});
    return std::stoll(*id);
}

// Runs the validation in a subtransaction, so that a failure (remote down,
// table dropped) is recorded and alerted instead of aborting the caller.
// Cancels and shutdowns are not failures of the run: they propagate.
int64_t
validate_or_record_failure(const Schedule &s, std::optional<std::string> &error)
{
    MemoryContext cxt = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    pg_call([cxt] {
        BeginInternalSubTransaction(nullptr);
        MemoryContextSwitchTo(cxt);
    });
    int64_t run = 0;
    int sqlstate = 0;
    try {
        run = run_validation(s.request);
    } catch (const pg::Error &e) {
        error = e.what();
        sqlstate = e.sqlstate();
    } catch (const std::exception &e) {
        error = e.what();
    }
    pg_call([cxt, owner, failed = error.has_value()] {
        if (failed)
            RollbackAndReleaseCurrentSubTransaction();
        else
            ReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(cxt);
        CurrentResourceOwner = owner;
    });
    if (sqlstate == ERRCODE_QUERY_CANCELED || sqlstate == ERRCODE_ADMIN_SHUTDOWN)
        throw Error(sqlstate, *error);
    if (error)
        run = record_failed_run(s, *error);
    return run;
}

} // namespace

int64_t
run_scheduled(int64_t schedule_id)
{
    Schedule s = load_schedule(schedule_id);
    std::optional<std::string> error;
    int64_t run = validate_or_record_failure(s, error);
    std::string sid = std::to_string(schedule_id);
    if (error) {
        raise_alert(schedule_id, run, std::nullopt, std::nullopt, s.threshold,
                    "scheduled validation " + sid + " failed (run " + std::to_string(run) + "): " + *error);
    } else {
        std::vector<pg::SpiRow> low;
        {
            pg::Spi spi;
            low = spi.query("SELECT table_name, consistency_pct::text FROM pymigrate.validation_result "
                            "WHERE run_id = $1 AND consistency_pct < $2 ORDER BY table_name",
                            {{INT8OID, std::to_string(run)}, {NUMERICOID, s.threshold}});
        }
        for (const auto &row : low)
            raise_alert(schedule_id, run, row[0], row[1], s.threshold,
                        "consistency of " + *row[0] + " is " + *row[1] + "%, below the alert threshold of " +
                            s.threshold + "% (scheduled validation " + sid + ", run " + std::to_string(run) + ")");
    }
    finish_schedule(schedule_id, run, error);
    return run;
}

} // namespace pymigrate::validate

using namespace pymigrate::validate;

PYMIGRATE_FUNCTION(pymigrate_run_scheduled_validation)
{
    if (arg_is_null(fcinfo, 0))
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, "schedule must not be NULL");
    return Int64GetDatum(run_scheduled(PG_GETARG_INT64(0)));
}

PYMIGRATE_FUNCTION(pymigrate_redact_dsn)
{
    std::string dsn = text_arg(fcinfo, 0, "dsn");
    std::string redacted = pymigrate::redact_dsn(dsn);
    return pg_call([&redacted] { return PointerGetDatum(cstring_to_text_with_len(redacted.data(), redacted.size())); });
}

PYMIGRATE_FUNCTION(pymigrate_wake_scheduler)
{
    wake_scheduler_at_commit();
    PG_RETURN_VOID();
}

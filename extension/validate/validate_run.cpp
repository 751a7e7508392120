// Before PostgreSQL's headers, whose port.h redefines snprintf.
#include <nlohmann/json.hpp>

#include "validate/validate_run.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"


#include <chrono>

#include "common/dsn.hpp"
#include "validate/catalog.hpp"
#include "validate/compare.hpp"
#include "validate/mapping.hpp"
#include "validate/snapshot.hpp"

namespace pymigrate::validate {

using pg::Error;
using pg::pg_call;

namespace {

constexpr const char *kRemoteWhat = "remote side of the validation";

std::optional<double>
local_sync_lag()
{
    pg::Spi spi;
    auto exists = spi.scalar("SELECT pg_catalog.to_regclass('pymigrate.subscription_status') IS NOT NULL", {}, true);
    if (exists != "t")
        return std::nullopt;
    auto lag = spi.scalar("SELECT max(lag_seconds) FROM pymigrate.subscription_status", {}, true);
    if (!lag)
        return std::nullopt;
    return std::stod(*lag);
}

RecheckDelay
recheck_delay(RemoteSide &remote, double fallback)
{
    std::optional<double> lag = local_sync_lag();
    if (auto r = remote.sync_lag_seconds(); r && (!lag || *r > *lag))
        lag = r;
    if (lag)
        return {std::max(0.0, *lag), true};
    return {fallback, false};
}

void
notice(const std::string &message)
{
    const char *m = message.c_str();
    pg_call([m] { ereport(NOTICE, (errmsg("%s", m))); });
}

// Runs one table's comparison, naming the table in a duplicate-key error.
TableComparison
compare_one(const TablePlan &plan, const RemoteTable &remote, RemoteSide &side, Snapshot snapshot,
            const CompareOptions &options)
{
    try {
        return compare_table(plan, remote, side, snapshot, options);
    } catch (const DuplicateKey &e) {
        throw Error(ERRCODE_CARDINALITY_VIOLATION,
                    "the key of table " + plan.name + " is not unique: " + e.key_json() + " appears more than once " +
                        (e.local() ? "on this server" : "on the remote side"),
                    {}, "Compare by columns that identify a row (\"key\" in the mapping).");
    }
}

// Applies a re-check to recorded differences: still different ones become
// confirmed (as they stand now), the others resolved.
void
apply_recheck(std::vector<RecordedDifference> &diffs, const std::vector<Recheck> &checks)
{
    for (size_t i = 0; i < diffs.size(); ++i) {
        if (checks[i].resolved) {
            diffs[i].status = DiffStatus::Resolved;
            continue;
        }
        const Difference &now = checks[i].now;
        diffs[i].status = DiffStatus::Confirmed;
        diffs[i].diff.kind = now.kind;
        diffs[i].diff.local_hash = now.local_hash;
        diffs[i].diff.remote_hash = now.remote_hash;
        diffs[i].diff.local_image = now.local_image;
        diffs[i].diff.remote_image = now.remote_image;
    }
}

std::vector<Difference>
differences_of(const std::vector<RecordedDifference> &recorded)
{
    std::vector<Difference> out;
    for (const auto &r : recorded)
        out.push_back(r.diff);
    return out;
}

} // namespace

int64_t
run_validation(const ValidationRequest &req)
{
    if (req.merge_ratio < 0 || req.merge_ratio > 1)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "merge_ratio must be between 0 and 1");
    if (req.recheck_delay < 0)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "recheck_delay must not be negative");
    if (req.buckets && (*req.buckets < 1 || *req.buckets > (1u << 22)))
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "buckets must be between 1 and 4194304");
    if (req.parallel && *req.parallel < 0)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "parallel must be 0 (no workers) or more");

    RunRecord run;
    run.started_at = now_text();
    run.dsn = req.dsn;
    run.remote = redact_dsn(req.dsn);
    run.schedule_id = req.schedule_id;
    RemoteSide remote(req.dsn, kRemoteWhat);

    auto specs = resolve_tables(req.tables, req.mapping_json,
                                [&remote](const std::string &name) { return remote.table_exists(name); });
    std::vector<TablePlan> plans;
    for (const auto &spec : specs) {
        plans.push_back(plan_local(spec));
        if (req.tables && !remote.table_exists(spec.remote_name))
            throw Error(ERRCODE_UNDEFINED_TABLE,
                        "table " + spec.remote_name + " does not exist on the " + remote.description(), {},
                        "If it has another name there, map it: mapping => '{\"" + plans.back().name +
                            "\": {\"table\": \"schema.name\"}}'.");
    }

    CompareOptions options;
    options.buckets = req.buckets;
    options.merge_ratio = req.merge_ratio;
    options.parallel = req.parallel;
    options.with_images = req.with_rows && !req.recheck;

    // Both snapshots are taken now, back to back: the remote one by the first
    // query of its REPEATABLE READ transaction, then this server's, held
    // (registered) for every scan and fetch of the run, whatever the
    // isolation level of the caller. Rows committed in between on either
    // side are what the re-check is for.
    remote.begin_snapshot();
    {
        HeldSnapshot snapshot = HeldSnapshot::transaction();
        for (size_t i = 0; i < specs.size(); ++i) {
            auto t0 = std::chrono::steady_clock::now();
            TableRecord t;
            t.table_name = plans[i].name;
            t.remote = remote_table(specs[i], plans[i]);
            t.key_columns = plans[i].key_names();
            t.columns = plans[i].value_names();
            TableComparison c = compare_one(plans[i], t.remote, remote, snapshot.get(), options);
            t.merged = c.merged;
            t.buckets = c.buckets;
            t.differing_buckets = c.differing_buckets;
            t.local_rows = c.local_rows;
            t.remote_rows = c.remote_rows;
            t.rows_compared = c.rows_compared;
            for (auto &d : c.differences)
                t.differences.push_back(RecordedDifference{0, std::move(d), DiffStatus::Confirmed});
            t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            run.tables.push_back(std::move(t));
        }
    }
    remote.end_snapshot();

    size_t found = 0;
    for (const auto &t : run.tables)
        found += t.differences.size();
    nlohmann::json opts = {{"with_rows", req.with_rows}, {"recheck", req.recheck}, {"wait", req.wait},
                           {"merge_ratio", req.merge_ratio}};
    if (req.buckets)
        opts["buckets"] = *req.buckets;
    if (req.parallel)
        opts["parallel"] = *req.parallel;
    if (req.recheck && found > 0) {
        RecheckDelay delay = recheck_delay(remote, req.recheck_delay);
        opts["recheck_delay_seconds"] = delay.seconds;
        opts["recheck_delay_from"] = delay.from_sync_lag ? "pymigrate.subscription_status" : "recheck_delay";
        if (req.wait) {
            char msg[200];
            snprintf(msg, sizeof(msg), "pymigrate: %zu difference(s) pending, re-checking in %.3f s (%s)", found,
                     delay.seconds, delay.from_sync_lag ? "sync lag" : "recheck_delay");
            notice(msg);
            sleep_interruptibly(delay.seconds);
            remote.begin_snapshot();
            HeldSnapshot fresh = HeldSnapshot::latest();
            for (size_t i = 0; i < run.tables.size(); ++i) {
                auto &t = run.tables[i];
                if (t.differences.empty())
                    continue;
                auto checks = recheck_keys(plans[i], t.remote, remote, fresh.get(), differences_of(t.differences),
                                           req.with_rows);
                apply_recheck(t.differences, checks);
            }
            remote.end_snapshot();
            run.rechecked = true;
        } else {
            for (auto &t : run.tables)
                for (auto &d : t.differences)
                    d.status = DiffStatus::Pending;
            run.recheck_in_seconds = delay.seconds;
        }
    }
    run.options_json = opts.dump();
    return record_run(run);
}

int64_t
recheck_run(int64_t run_id)
{
    RunRecord run = load_run(run_id, {DiffStatus::Pending});
    bool with_rows = false;
    try {
        with_rows = nlohmann::json::parse(run.options_json).value("with_rows", false);
    } catch (const nlohmann::json::exception &) {
    }
    size_t pending = 0;
    for (const auto &t : run.tables)
        pending += t.differences.size();
    if (pending == 0)
        return 0;
    RemoteSide remote(run.dsn, kRemoteWhat);
    remote.begin_snapshot();
    HeldSnapshot fresh = HeldSnapshot::latest();
    std::vector<RecordedDifference> changes;
    int64_t confirmed = 0;
    for (auto &t : run.tables) {
        if (t.differences.empty())
            continue;
        const char *name = t.table_name.c_str();
        Oid relid = pg_call([name] { return DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(name))); });
        TablePlan plan = plan_table(relid, t.columns, t.key_columns);
        auto checks = recheck_keys(plan, t.remote, remote, fresh.get(), differences_of(t.differences), with_rows);
        apply_recheck(t.differences, checks);
        for (auto &d : t.differences) {
            confirmed += d.status == DiffStatus::Confirmed;
            changes.push_back(std::move(d));
        }
    }
    remote.end_snapshot();
    update_differences(run_id, changes);
    return confirmed;
}

} // namespace pymigrate::validate

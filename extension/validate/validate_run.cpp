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
#include "validate/recheck.hpp"
#include "validate/snapshot.hpp"

namespace pymigrate::validate {

using pg::Error;
using pg::pg_call;

namespace {

constexpr const char *kRemoteWhat = "remote side of the validation";

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

// The re-check's outcome in the run's options (and a WARNING when a
// subscription between the sides was not streaming).
void
describe_settle(nlohmann::json &opts, const SettleReport &r)
{
    opts["recheck_delay_from"] = r.links.empty() ? "recheck_delay" : "pymigrate.subscription_status";
    opts["recheck_rounds"] = r.rounds;
    opts["recheck_waited_seconds"] = r.waited_seconds;
    if (r.last_wait) {
        nlohmann::json links = nlohmann::json::array();
        for (const auto &l : r.last_wait->links)
            links.push_back({{"subscription", l.link.subscription},
                             {"subscriber", l.link.local_subscriber ? "local" : "remote"},
                             {"state", l.state},
                             {"applied_lsn", l.applied},
                             {"target_lsn", l.target},
                             {"caught_up", l.reached}});
        opts["sync"] = links;
        opts["sync_caught_up"] = r.last_wait->caught_up();
    }
    if (r.sync_not_streaming) {
        std::string m = "pymigrate: differences confirmed while sync between the two sides was not streaming: " +
                        r.last_wait->describe(true);
        const char *c = m.c_str();
        pg_call([c] {
            ereport(WARNING, (errmsg("%s", c),
                              errhint("What still differs is drift while sync is down; see "
                                      "pymigrate.subscription_status.")));
        });
    }
}

} // namespace

int64_t
run_validation(const ValidationRequest &req)
{
    if (req.merge_ratio < 0 || req.merge_ratio > 1)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "merge_ratio must be between 0 and 1");
    if (req.recheck_delay < 0)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "recheck_delay must not be negative");
    if (req.recheck_timeout < 0)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "recheck_timeout must not be negative");
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
    // isolation level of the caller. Each side's WAL position right after
    // its snapshot is what the re-check waits for sync to apply.
    WalPositions positions;
    positions.remote = remote.begin_snapshot();
    {
        HeldSnapshot snapshot = HeldSnapshot::transaction();
        positions.local = local_wal_position();
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
            for (auto &d : c.differences) {
                RecordedDifference r;
                r.diff = std::move(d);
                r.status = req.recheck ? DiffStatus::Pending : DiffStatus::Confirmed;
                t.differences.push_back(std::move(r));
            }
            t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            run.tables.push_back(std::move(t));
        }
    }
    remote.end_snapshot();

    size_t found = 0;
    for (const auto &t : run.tables)
        found += t.differences.size();
    nlohmann::json opts = {{"with_rows", req.with_rows},         {"recheck", req.recheck},
                           {"wait", req.wait},                   {"merge_ratio", req.merge_ratio},
                           {"recheck_delay", req.recheck_delay}, {"recheck_timeout", req.recheck_timeout}};
    if (req.buckets)
        opts["buckets"] = *req.buckets;
    if (req.parallel)
        opts["parallel"] = *req.parallel;
    if (req.recheck && found > 0) {
        if (req.wait) {
            notice("pymigrate: " + std::to_string(found) + " difference(s) pending, re-checking them");
            std::vector<SettleTable> settling;
            for (size_t i = 0; i < run.tables.size(); ++i)
                settling.push_back({&plans[i], &run.tables[i].remote, &run.tables[i].differences});
            SettleOptions so;
            so.delay = req.recheck_delay;
            so.timeout = req.recheck_timeout;
            so.with_images = req.with_rows;
            so.positions = positions;
            SettleReport report = settle(remote, settling, so);
            describe_settle(opts, report);
            run.rechecked = true;
            if (report.pending > 0)
                run.recheck_in_seconds = req.recheck_delay;
        } else {
            run.recheck_in_seconds = req.recheck_delay;
        }
    }
    run.options_json = opts.dump();
    return record_run(run);
}

int64_t
recheck_run(int64_t run_id, std::optional<double> timeout)
{
    RunRecord run = load_run(run_id, {DiffStatus::Pending});
    nlohmann::json opts = nlohmann::json::object();
    try {
        opts = nlohmann::json::parse(run.options_json);
    } catch (const nlohmann::json::exception &) {
    }
    std::vector<TableRecord *> tables;
    for (auto &t : run.tables)
        if (!t.differences.empty())
            tables.push_back(&t);
    if (tables.empty())
        return 0;
    RemoteSide remote(run.dsn, kRemoteWhat);
    std::vector<TablePlan> plans;
    for (const TableRecord *t : tables) {
        const char *name = t->table_name.c_str();
        Oid relid =
            pg_call([name] { return DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(name))); });
        plans.push_back(plan_table(relid, t->columns, t->key_columns));
    }
    std::vector<SettleTable> settling;
    for (size_t i = 0; i < tables.size(); ++i)
        settling.push_back({&plans[i], &tables[i]->remote, &tables[i]->differences});
    SettleOptions so;
    so.delay = opts.value("recheck_delay", 2.0);
    so.timeout = timeout.value_or(opts.value("recheck_timeout", 30.0));
    so.with_images = opts.value("with_rows", false);
    SettleReport report = settle(remote, settling, so);
    std::vector<RecordedDifference> changes;
    for (TableRecord *t : tables)
        for (auto &d : t->differences)
            changes.push_back(std::move(d));
    update_differences(run_id, changes);
    return static_cast<int64_t>(report.confirmed);
}

} // namespace pymigrate::validate

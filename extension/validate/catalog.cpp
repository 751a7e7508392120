#include "validate/catalog.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
}

#include <cstdio>

namespace pymigrate::validate {

using pg::Error;
using pg::SpiParam;

namespace {

constexpr size_t kInsertBatch = 5000;

std::optional<std::string>
hash_text(const std::optional<uint64_t> &h)
{
    if (!h)
        return std::nullopt;
    return std::to_string(static_cast<int64_t>(*h));
}

// A batch of differences as parallel text arrays, for unnest() in one statement.
struct DifferenceArrays {
    std::vector<std::optional<std::string>> ids, keys, kinds, statuses, local_hashes, remote_hashes, local_images,
        remote_images, reasons;

    void add(const RecordedDifference &r)
    {
        ids.push_back(std::to_string(r.id));
        keys.push_back(r.diff.key_json);
        kinds.push_back(kind_name(r.diff.kind));
        statuses.push_back(status_name(r.status));
        local_hashes.push_back(hash_text(r.diff.local_hash));
        remote_hashes.push_back(hash_text(r.diff.remote_hash));
        local_images.push_back(r.diff.local_image);
        remote_images.push_back(r.diff.remote_image);
        reasons.push_back(r.reason.empty() ? std::nullopt : std::optional(r.reason));
    }

    // kind, status, hashes, images and reason as text[] parameters, after `leading`.
    std::vector<SpiParam> params(std::vector<SpiParam> leading) const
    {
        for (const auto *a :
             {&kinds, &statuses, &local_hashes, &remote_hashes, &local_images, &remote_images, &reasons})
            leading.push_back({TEXTARRAYOID, pq::array_literal(*a)});
        return leading;
    }
};

} // namespace

std::vector<std::string>
parse_text_array(const std::string &literal)
{
    // Arrays of names as PostgreSQL prints them: {a,"b c"}; names cannot be NULL.
    std::vector<std::string> out;
    size_t i = 1;
    while (i + 1 < literal.size()) {
        std::string item;
        if (literal[i] == '"') {
            for (++i; i < literal.size() && literal[i] != '"'; ++i) {
                if (literal[i] == '\\')
                    ++i;
                item += literal[i];
            }
            ++i; // closing quote
        } else {
            for (; i < literal.size() && literal[i] != ',' && literal[i] != '}'; ++i)
                item += literal[i];
        }
        out.push_back(item);
        ++i; // comma or closing brace
    }
    return out;
}

namespace {

std::optional<DiffStatus>
parse_status(const std::string &s)
{
    for (DiffStatus st : {DiffStatus::Pending, DiffStatus::Confirmed, DiffStatus::Resolved, DiffStatus::Repaired})
        if (s == status_name(st))
            return st;
    return std::nullopt;
}

DiffKind
parse_kind(const std::string &s)
{
    return s == "missing" ? DiffKind::Missing : s == "extra" ? DiffKind::Extra : DiffKind::Changed;
}

const char *kRunStatusSql =
    "UPDATE pymigrate.validation_run r SET status = CASE"
    "   WHEN EXISTS (SELECT 1 FROM pymigrate.discrepancy d WHERE d.run_id = r.id AND d.status = 'confirmed')"
    "     THEN 'inconsistent'"
    "   WHEN EXISTS (SELECT 1 FROM pymigrate.discrepancy d WHERE d.run_id = r.id AND d.status = 'pending')"
    "     THEN 'pending' ELSE 'consistent' END"
    " WHERE r.id = $1";

} // namespace

const char *
status_name(DiffStatus s)
{
    switch (s) {
    case DiffStatus::Pending: return "pending";
    case DiffStatus::Confirmed: return "confirmed";
    case DiffStatus::Resolved: return "resolved";
    case DiffStatus::Repaired: return "repaired";
    }
    return "?";
}

std::string
now_text()
{
    pg::Spi spi;
    return *spi.scalar("SELECT pg_catalog.clock_timestamp()::text", {}, true);
}

int64_t
record_run(const RunRecord &run)
{
    pg::Spi spi;
    auto id = spi.scalar("INSERT INTO pymigrate.validation_run (started_at, finished_at, remote, status, options, "
                         "schedule_id) VALUES ($1, pg_catalog.clock_timestamp(), $2, 'consistent', $3, $4) RETURNING id",
                         {{TIMESTAMPTZOID, run.started_at},
                          {TEXTOID, run.remote},
                          {JSONBOID, run.options_json},
                          {INT8OID, run.schedule_id ? std::optional(std::to_string(*run.schedule_id)) : std::nullopt}});
    std::string run_id = *id;
    spi.execute("INSERT INTO pymigrate.validation_peer (run_id, dsn) VALUES ($1, $2)",
                {{INT8OID, run_id}, {TEXTOID, run.dsn}});
    std::optional<std::string> recheck_after;
    if (run.recheck_in_seconds)
        recheck_after = *spi.scalar("SELECT (pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $1))::text",
                                    {{FLOAT8OID, std::to_string(*run.recheck_in_seconds)}}, true);
    for (const auto &t : run.tables) {
        char seconds[64];
        snprintf(seconds, sizeof(seconds), "%.6f seconds", t.seconds);
        spi.execute("INSERT INTO pymigrate.validation_table (run_id, table_name, remote_table, key_columns, columns, "
                    "remote_key_columns, remote_columns, method, buckets, differing_buckets, local_rows, remote_rows, "
                    "rows_compared, duration) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    {{INT8OID, run_id},
                     {TEXTOID, t.table_name},
                     {TEXTOID, t.remote.name},
                     {TEXTARRAYOID, pq::array_literal(t.key_columns)},
                     {TEXTARRAYOID, pq::array_literal(t.columns)},
                     {TEXTARRAYOID, pq::array_literal(t.remote.key)},
                     {TEXTARRAYOID, pq::array_literal(t.remote.columns)},
                     {TEXTOID, t.merged ? "merge" : "digest"},
                     {INT4OID, std::to_string(t.buckets)},
                     {INT4OID, std::to_string(t.differing_buckets)},
                     {INT8OID, std::to_string(t.local_rows)},
                     {INT8OID, std::to_string(t.remote_rows)},
                     {INT8OID, std::to_string(t.rows_compared)},
                     {INTERVALOID, std::string(seconds)}});
        for (size_t from = 0; from < t.differences.size(); from += kInsertBatch) {
            DifferenceArrays a;
            for (size_t i = from; i < std::min(t.differences.size(), from + kInsertBatch); ++i)
                a.add(t.differences[i]);
            spi.execute("INSERT INTO pymigrate.discrepancy (run_id, table_name, key, kind, status, local_hash, "
                        "remote_hash, local_row, remote_row, detected_at, recheck_after, rechecked_at, reason) "
                        "SELECT $1, $2, u.k::jsonb, u.kind, u.status, u.lh::bigint, u.rh::bigint, u.li::jsonb, "
                        "u.ri::jsonb, $3, CASE WHEN u.status = 'pending' THEN $4::timestamptz END, "
                        "CASE WHEN u.status <> 'pending' AND $5 THEN pg_catalog.clock_timestamp() END, u.why "
                        "FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], "
                        "$12::text[], $13::text[]) WITH ORDINALITY AS u(k, kind, status, lh, rh, li, ri, why, n) "
                        "ORDER BY u.n",
                        a.params({{INT8OID, run_id},
                                  {TEXTOID, t.table_name},
                                  {TIMESTAMPTZOID, run.started_at},
                                  {TIMESTAMPTZOID, recheck_after},
                                  {BOOLOID, run.rechecked ? "t" : "f"},
                                  {TEXTARRAYOID, pq::array_literal(a.keys)}}));
        }
    }
    spi.execute(kRunStatusSql, {{INT8OID, run_id}});
    return std::stoll(run_id);
}

RunRecord
load_run(int64_t run_id, const std::vector<DiffStatus> &statuses)
{
    pg::Spi spi;
    std::string id = std::to_string(run_id);
    auto runs = spi.query("SELECT r.started_at::text, p.dsn, r.remote, r.options::text FROM pymigrate.validation_run r"
                          " LEFT JOIN pymigrate.validation_peer p ON p.run_id = r.id WHERE r.id = $1",
                          {{INT8OID, id}});
    if (runs.empty())
        throw Error(ERRCODE_NO_DATA_FOUND, "validation run " + id + " does not exist");
    RunRecord run;
    run.id = run_id;
    run.started_at = *runs[0][0];
    if (!runs[0][1])
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "the connection string of validation run " + id + " was not kept");
    run.dsn = *runs[0][1];
    run.remote = *runs[0][2];
    run.options_json = *runs[0][3];
    auto tables = spi.query("SELECT table_name, remote_table, key_columns::text, columns::text, "
                            "remote_key_columns::text, remote_columns::text, method FROM pymigrate.validation_table "
                            "WHERE run_id = $1 ORDER BY table_name",
                            {{INT8OID, id}});
    std::vector<std::optional<std::string>> wanted;
    for (DiffStatus s : statuses)
        wanted.push_back(status_name(s));
    for (const auto &row : tables) {
        TableRecord t;
        t.table_name = *row[0];
        t.remote.name = *row[1];
        t.key_columns = parse_text_array(*row[2]);
        t.columns = parse_text_array(*row[3]);
        t.remote.key = parse_text_array(*row[4]);
        t.remote.columns = parse_text_array(*row[5]);
        t.merged = *row[6] == "merge";
        auto diffs = spi.query("SELECT id, key::text, kind, status, local_hash, remote_hash FROM pymigrate.discrepancy "
                               "WHERE run_id = $1 AND table_name = $2 AND status = ANY ($3::text[]) ORDER BY id",
                               {{INT8OID, id}, {TEXTOID, t.table_name}, {TEXTARRAYOID, pq::array_literal(wanted)}});
        for (const auto &d : diffs) {
            RecordedDifference r;
            r.id = std::stoll(*d[0]);
            r.diff.key_json = *d[1];
            r.diff.kind = parse_kind(*d[2]);
            r.status = parse_status(*d[3]).value_or(DiffStatus::Confirmed);
            if (d[4])
                r.diff.local_hash = static_cast<uint64_t>(std::stoll(*d[4]));
            if (d[5])
                r.diff.remote_hash = static_cast<uint64_t>(std::stoll(*d[5]));
            t.differences.push_back(std::move(r));
        }
        run.tables.push_back(std::move(t));
    }
    return run;
}

void
update_differences(int64_t run_id, const std::vector<RecordedDifference> &changes)
{
    pg::Spi spi;
    for (size_t from = 0; from < changes.size(); from += kInsertBatch) {
        DifferenceArrays a;
        for (size_t i = from; i < std::min(changes.size(), from + kInsertBatch); ++i)
            a.add(changes[i]);
        spi.execute("UPDATE pymigrate.discrepancy d SET kind = u.kind, status = u.status, local_hash = u.lh::bigint, "
                    "remote_hash = u.rh::bigint, local_row = coalesce(u.li::jsonb, d.local_row), "
                    "remote_row = coalesce(u.ri::jsonb, d.remote_row), rechecked_at = pg_catalog.clock_timestamp(), "
                    "reason = u.why FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], "
                    "$6::text[], $7::text[], $8::text[]) AS u(id, kind, status, lh, rh, li, ri, why) WHERE d.id = u.id",
                    a.params({{TEXTARRAYOID, pq::array_literal(a.ids)}}));
    }
    spi.execute(kRunStatusSql, {{INT8OID, std::to_string(run_id)}});
}

} // namespace pymigrate::validate

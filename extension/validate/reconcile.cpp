// pymigrate.reconcile(run, direction, dry_run, max_changes): the statements
// that make the target side equal the source side for the keys a validation
// run confirmed different, built from the rows as they are now, and applied
// in one transaction on the target only when dry_run is false.
#include "pg/guard.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/tuplestore.h"
}

#include <algorithm>
#include <map>

#include "validate/catalog.hpp"
#include "validate/row_fetch.hpp"
#include "validate/snapshot.hpp"
#include "validate/sql_args.hpp"

using namespace pymigrate::validate;
using pymigrate::pg::Error;
using pymigrate::pg::pg_call;

namespace {

struct Statement {
    std::string table_name; // local name, as the run records it
    std::string key_json;
    const char *action;
    std::string sql;
};

// Where statements go and what the target table looks like there.
struct Target {
    std::string table; // quoted, qualified
    std::vector<std::string> key, columns;
    std::vector<std::string> generated, identity_always;
};

std::string
literal(const std::optional<std::string> &value)
{
    if (!value)
        return "NULL";
    const char *v = value->c_str();
    char *q = pg_call([v] { return quote_literal_cstr(v); });
    return q;
}

std::string
ident(const std::string &name)
{
    const char *n = name.c_str();
    return pg_call([n] { return quote_identifier(n); });
}

bool
contains(const std::vector<std::string> &v, const std::string &x)
{
    return std::find(v.begin(), v.end(), x) != v.end();
}

std::string
where_key(const Target &t, const std::vector<std::optional<std::string>> &values)
{
    std::string out;
    for (size_t i = 0; i < t.key.size(); ++i)
        out += (i ? " AND " : " WHERE ") + ident(t.key[i]) + " = " + literal(values[i]);
    return out;
}

std::string
insert_sql(const Target &t, const std::vector<std::optional<std::string>> &values)
{
    std::string cols, vals;
    bool overriding = false;
    size_t i = 0;
    for (const auto *list : {&t.key, &t.columns})
        for (const auto &c : *list) {
            const auto &v = values[i++];
            if (contains(t.generated, c))
                continue;
            overriding = overriding || contains(t.identity_always, c);
            cols += (cols.empty() ? "" : ", ") + ident(c);
            vals += (vals.empty() ? "" : ", ") + literal(v);
        }
    return "INSERT INTO " + t.table + " (" + cols + ")" + (overriding ? " OVERRIDING SYSTEM VALUE" : "") + " VALUES (" +
           vals + ")";
}

std::string
update_sql(const Target &t, const std::vector<std::optional<std::string>> &values)
{
    std::string set;
    for (size_t i = 0; i < t.columns.size(); ++i) {
        if (contains(t.generated, t.columns[i]))
            continue;
        set += (set.empty() ? "" : ", ") + ident(t.columns[i]) + " = " + literal(values[t.key.size() + i]);
    }
    return "UPDATE " + t.table + " SET " + set + where_key(t, values);
}

Target
local_target(const TableRecord &rec)
{
    Target t{rec.table_name, rec.key_columns, rec.columns, {}, {}};
    pymigrate::pg::Spi spi;
    auto rows = spi.query("SELECT attname, attgenerated <> '', attidentity = 'a' FROM pg_catalog.pg_attribute "
                          "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
                          {{TEXTOID, rec.table_name}}, true);
    for (const auto &r : rows) {
        if (r[1] == "t")
            t.generated.push_back(*r[0]);
        if (r[2] == "t")
            t.identity_always.push_back(*r[0]);
    }
    return t;
}

Target
remote_target(const TableRecord &rec, RemoteSide &remote)
{
    Target t{remote.canonical_name(rec.remote.name), rec.remote.key, rec.remote.columns, {}, {}};
    remote.column_flags(rec.remote.name, t.generated, t.identity_always);
    return t;
}

std::map<size_t, KeyedRow>
by_index(std::vector<KeyedRow> rows)
{
    std::map<size_t, KeyedRow> out;
    for (auto &r : rows)
        out[r.index] = std::move(r);
    return out;
}

// The statements for one table, from the source and target rows as they are now.
void
plan_repair(const TableRecord &rec, const Target &target, std::map<size_t, KeyedRow> &source,
            std::map<size_t, KeyedRow> &current, std::vector<Statement> &out)
{
    std::vector<Statement> deletes, updates, inserts;
    for (size_t i = 0; i < rec.differences.size(); ++i) {
        auto s = source.find(i);
        auto t = current.find(i);
        const std::string &key = rec.differences[i].diff.key_json;
        bool has_s = s != source.end(), has_t = t != current.end();
        if (has_s && has_t && s->second.row.row_hash == t->second.row.row_hash)
            continue; // already equal
        if (has_s && has_t)
            updates.push_back({rec.table_name, key, "update", update_sql(target, s->second.values)});
        else if (has_s)
            inserts.push_back({rec.table_name, key, "insert", insert_sql(target, s->second.values)});
        else if (has_t)
            deletes.push_back({rec.table_name, key, "delete",
                               "DELETE FROM " + target.table + where_key(target, t->second.values)});
    }
    // Deletes first, so a re-inserted unique value does not collide.
    for (auto *part : {&deletes, &updates, &inserts})
        for (auto &st : *part)
            out.push_back(std::move(st));
}

} // namespace

// reconcile(run, direction, dry_run, max_changes)
//   -> (table_name, key, action, statement)
PYMIGRATE_FUNCTION(pymigrate_reconcile)
{
    if (arg_is_null(fcinfo, 0))
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, "run must not be NULL");
    int64_t run_id = PG_GETARG_INT64(0);
    std::string direction = text_arg(fcinfo, 1, "direction");
    bool to_remote = direction == "local_to_remote";
    if (!to_remote && direction != "remote_to_local")
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "unknown direction \"" + direction + "\"", {},
                    "Use local_to_remote (make the remote side equal this one) or remote_to_local.");
    bool dry_run = bool_arg(fcinfo, 2, true);
    auto max_changes = int_arg(fcinfo, 3);
    if (max_changes && *max_changes < 0)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "max_changes must not be negative");

    RunRecord run = load_run(run_id, {DiffStatus::Confirmed});
    size_t total = 0;
    for (const auto &t : run.tables)
        total += t.differences.size();
    if (max_changes && total > static_cast<size_t>(*max_changes))
        throw Error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                    "reconciling validation run " + std::to_string(run_id) + " would change " + std::to_string(total) +
                        " rows, more than max_changes (" + std::to_string(*max_changes) + ")",
                    "Nothing was changed.", "Raise max_changes if that many changes are expected.");

    std::vector<Statement> statements;
    std::vector<RecordedDifference> repaired;
    std::unique_ptr<RemoteSide> remote;
    if (total > 0)
        remote = std::make_unique<RemoteSide>(run.dsn, "remote side of validation run " + std::to_string(run_id));
    {
        HeldSnapshot now = HeldSnapshot::latest();
        for (const auto &rec : run.tables) {
            if (rec.differences.empty())
                continue;
            const char *name = rec.table_name.c_str();
            Oid relid =
                pg_call([name] { return DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(name))); });
            TablePlan plan = plan_table(relid, rec.columns, rec.key_columns);
            std::vector<std::string> keys;
            for (const auto &d : rec.differences)
                keys.push_back(d.diff.key_json);
            remote->send_rows_by_key(rec.remote, keys, false, true);
            auto local_rows = by_index(fetch_rows_by_key(plan, keys, now.get(), false, true));
            auto remote_rows = by_index(remote->finish_rows());
            Target target = to_remote ? remote_target(rec, *remote) : local_target(rec);
            plan_repair(rec, target, to_remote ? local_rows : remote_rows, to_remote ? remote_rows : local_rows,
                        statements);
            for (const auto &d : rec.differences) {
                RecordedDifference r = d;
                r.status = DiffStatus::Repaired;
                repaired.push_back(std::move(r));
            }
        }
    }

    if (!dry_run && total > 0) {
        // This server's catalog first: if the remote side then fails, the
        // error rolls the marks back with everything else.
        update_differences(run_id, repaired);
        std::vector<std::string> sqls;
        for (const auto &s : statements)
            sqls.push_back(s.sql);
        if (to_remote) {
            remote->apply(sqls);
        } else {
            pymigrate::pg::Spi spi;
            for (const auto &s : sqls)
                spi.execute(s);
        }
    }

    SetResult out = begin_set_result(fcinfo);
    for (const auto &s : statements) {
        const Statement *p = &s;
        pg_call([out, p] {
            Datum values[4] = {CStringGetTextDatum(p->table_name.c_str()),
                               DirectFunctionCall1(jsonb_in, CStringGetDatum(p->key_json.c_str())),
                               CStringGetTextDatum(p->action), CStringGetTextDatum(p->sql.c_str())};
            bool nulls[4] = {false, false, false, false};
            tuplestore_putvalues(out.store, out.desc, values, nulls);
        });
    }
    return Datum(0);
}

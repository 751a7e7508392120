// The SQL API of subscriptions: create_, alter_, enable_, disable_,
// drop_subscription (sql/install/20_sync.sql). Every argument is checked
// and rejected with a SQLSTATE and the name of what was wrong; the catalog
// is written only once every check passed, in the caller's transaction, and
// the manager is woken when it commits.
#include "pg/guard.hpp"
#include "pg/remote.hpp"
#include "pg/spi.hpp"
#include "sync/capture.hpp"
#include "sync/catalog.hpp"
#include "sync/causal_store.hpp"
#include "sync/options.hpp"
#include "sync/options_check.hpp"
#include "sync/provider_check.hpp"
#include "sync/status.hpp"
#include "worker/worker.hpp"

#include "common/dsn.hpp"
#include "common/pq.hpp"

#include <libpq-fe.h>

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "replication/origin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/wait_event.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
}

#include <algorithm>
#include <chrono>
#include <csignal>
#include <set>

namespace pymigrate::sync {
namespace {

using pg::Error;
using pg::pg_call;
using pg::Spi;

// ---------------------------------------------------------------- arguments

std::optional<std::string>
opt_text(FunctionCallInfo fcinfo, int i)
{
    if (PG_ARGISNULL(i))
        return std::nullopt;
    Datum d = PG_GETARG_DATUM(i);
    char *s = pg_call([d] { return text_to_cstring(DatumGetTextPP(d)); });
    std::string out(s);
    pfree(s);
    return out;
}

std::string
req_text(FunctionCallInfo fcinfo, int i, const char *what)
{
    auto v = opt_text(fcinfo, i);
    if (!v)
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not be NULL");
    return *v;
}

bool
req_bool(FunctionCallInfo fcinfo, int i, const char *what)
{
    if (PG_ARGISNULL(i))
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not be NULL");
    return PG_GETARG_BOOL(i);
}

// NULL means "not given".
std::optional<std::vector<std::string>>
opt_text_array(FunctionCallInfo fcinfo, int i, const char *what)
{
    if (PG_ARGISNULL(i))
        return std::nullopt;
    ArrayType *arr = PG_GETARG_ARRAYTYPE_P(i);
    if (ARR_NDIM(arr) > 1)
        throw Error(ERRCODE_ARRAY_SUBSCRIPT_ERROR, std::string(what) + " must be a one-dimensional text[]");
    Datum *elems;
    bool *nulls;
    int n;
    pg_call([&] { deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n); });
    std::vector<std::string> out;
    for (int k = 0; k < n; ++k) {
        if (nulls[k])
            throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                        std::string(what) + " has a NULL element (position " + std::to_string(k + 1) + ")");
        Datum d = elems[k];
        char *s = pg_call([d] { return text_to_cstring(DatumGetTextPP(d)); });
        out.emplace_back(s);
        pfree(s);
    }
    return out;
}

void
check_subscription_name(const std::string &name)
{
    bool ok = !name.empty() && name.size() <= 40 && (std::islower(name[0]) || name[0] == '_');
    for (char c : name)
        ok = ok &&
             (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_');
    if (!ok)
        throw Error(ERRCODE_INVALID_NAME, "invalid subscription name \"" + name + "\"",
                    "It names the replication slot and origin, so it may hold only lower-case letters, digits and "
                    "_, start with a letter or _, and have at most 40 characters.");
}

void
check_slot_name(const std::string &slot)
{
    bool ok = !slot.empty() && slot.size() < NAMEDATALEN;
    for (char c : slot)
        ok = ok &&
             (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_');
    if (!ok)
        throw Error(ERRCODE_INVALID_NAME, "invalid slot_name \"" + slot + "\"",
                    "Replication slot names hold only lower-case letters, digits and _, up to 63 characters.");
}

void
check_dsn(const std::string &dsn)
{
    if (dsn.empty())
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "provider_dsn must not be empty");
    char *err = nullptr;
    PQconninfoOption *opts = PQconninfoParse(dsn.c_str(), &err);
    if (opts == nullptr) {
        std::string msg = err ? err : "out of memory";
        if (err)
            PQfreemem(err);
        while (!msg.empty() && msg.back() == '\n')
            msg.pop_back();
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "provider_dsn is not a valid connection string: " + msg);
    }
    PQconninfoFree(opts);
}

void
check_synchronous_commit(const std::string &v)
{
    static const std::set<std::string> allowed{"on", "off", "local", "remote_write", "remote_apply"};
    if (!allowed.count(v))
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "invalid synchronous_commit \"" + v + "\"", {},
                    "Use one of on, off, local, remote_write, remote_apply (what the apply worker commits with).");
}

void
check_forward_origins(const std::string &v)
{
    if (v != "none" && v != "all")
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "invalid forward_origins \"" + v + "\"",
                    "\"none\" sends only changes made on the provider itself (changes it received by replication "
                    "are not forwarded); \"all\" sends every change.");
}

// A local table named in `tables`: resolved, and fit to receive changes.
SubscribedTable
resolve_local_table(Spi &spi, const std::string &spec, bool copy_data)
{
    auto rows = spi.query("SELECT n.nspname, c.relname, c.relkind, c.relpersistence, c.relreplident, "
                          " EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
                          "         AND (i.indisprimary OR i.indisreplident) AND i.indisvalid) "
                          "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                          "WHERE c.oid = pg_catalog.to_regclass($1)",
                          {{TEXTOID, spec}}, true);
    if (rows.empty())
        throw Error(ERRCODE_UNDEFINED_TABLE, "table \"" + spec + "\" does not exist in this database", {},
                    "Create it here first (with the provider's columns); names are resolved with the search_path.");
    SubscribedTable t;
    t.local_schema = *rows[0][0];
    t.local_table = *rows[0][1];
    std::string qualified = qualified_name(t.local_schema, t.local_table);
    char kind = (*rows[0][2])[0];
    if (kind == 'p')
        throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "table " + qualified + " is partitioned",
                    "pymigrate applies changes to ordinary tables.", "Subscribe to its partitions instead.");
    if (kind != 'r')
        throw Error(ERRCODE_WRONG_OBJECT_TYPE, qualified + " is not an ordinary table");
    if ((*rows[0][3])[0] != 'p')
        throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "table " + qualified + " is unlogged or temporary",
                    "Its changes would not survive a crash, so replication progress could not be kept with them.");
    if (t.local_schema == "pymigrate")
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "pymigrate's own tables cannot be subscribed");
    if (*rows[0][5] != "t" && (*rows[0][4])[0] != 'f')
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "table " + qualified + " has no primary key or replica identity index",
                    "Updates and deletes find their row through it.",
                    "Add a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL (slow: every update scans the "
                    "table).");
    if (copy_data) {
        auto any = spi.scalar("SELECT EXISTS (SELECT 1 FROM " + qualified + ")", {}, true);
        if (any == "t")
            throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "table " + qualified + " is not empty; the initial copy needs empty tables", {},
                        "Empty it, or pass copy_data => false if it already holds the provider's rows.");
    }
    // The provider's table has the same name unless mapped (set_remote_name).
    t.remote_schema = t.local_schema;
    t.remote_table = t.local_table;
    t.state = copy_data ? 'i' : 'r';
    return t;
}

std::vector<SubscribedTable>
resolve_local_tables(Spi &spi, const std::vector<std::string> &specs, bool copy_data, const char *what)
{
    std::vector<SubscribedTable> out;
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto &spec : specs) {
        SubscribedTable t = resolve_local_table(spi, spec, copy_data);
        if (!seen.insert({t.local_schema, t.local_table}).second)
            throw Error(ERRCODE_DUPLICATE_OBJECT,
                        std::string(what) + " lists " + qualified_name(t.local_schema, t.local_table) + " twice");
        out.push_back(std::move(t));
    }
    return out;
}

void
insert_tables(Spi &spi, int32_t subid, const std::vector<SubscribedTable> &tables)
{
    for (const auto &t : tables)
        spi.execute("INSERT INTO pymigrate.subscription_table "
                    "(subscription_id, local_schema, local_table, remote_schema, remote_table, state, options) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    {{INT4OID, std::to_string(subid)},
                     {NAMEOID, t.local_schema},
                     {NAMEOID, t.local_table},
                     {NAMEOID, t.remote_schema},
                     {NAMEOID, t.remote_table},
                     {CHAROID, std::string(1, t.state)},
                     {JSONBOID, t.options}});
}

std::string
jsonb_arg(FunctionCallInfo fcinfo, int i)
{
    Datum d = PG_GETARG_DATUM(i);
    char *s = pg_call([d] { return DatumGetCString(DirectFunctionCall1(jsonb_out, d)); });
    std::string out(s);
    pfree(s);
    return out;
}

// Two provider tables must not feed one local table, nor one provider table two.
void
check_remote_unique(const std::vector<SubscribedTable> &tables)
{
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto &t : tables)
        if (!seen.insert({t.remote_schema, t.remote_table}).second)
            throw Error(ERRCODE_DUPLICATE_OBJECT, "two tables of the subscription read the provider's table " +
                                                      qualified_name(t.remote_schema, t.remote_table));
}

// Takes the subscription's lock until the end of the transaction: a worker
// that starts meanwhile waits for it, then sees the committed catalog.
void
lock_subscription(int32_t id, LOCKMODE mode)
{
    Oid classid = subscription_class_oid();
    pg_call([classid, id, mode] { LockDatabaseObject(classid, static_cast<Oid>(id), 0, mode); });
}

Subscription
existing(const std::string &name, LOCKMODE mode)
{
    auto s = load_subscription(name);
    if (!s)
        throw Error(ERRCODE_UNDEFINED_OBJECT, "subscription \"" + name + "\" does not exist", {},
                    "SELECT name FROM pymigrate.subscription lists them.");
    lock_subscription(s->id, mode);
    return *load_subscription(s->id); // re-read under the lock
}

// The provider checks of create and alter: connects, and raises what is
// wrong there with the provider named.
void
check_provider_now(const std::string &dsn, const std::string &subname, const std::vector<SubscribedTable> &tables,
                   const std::string *slot_must_not_exist, const std::map<TableKey, TableOptions> &table_options,
                   bool logical)
{
    pg::RemoteConnection conn(dsn, "provider of subscription " + subname);
    (void)check_provider(conn, tables, logical);
    if (!logical)
        check_capture_provider(conn);
    Spi spi;
    for (const auto &t : tables) {
        auto it = table_options.find({t.local_schema, t.local_table});
        check_mapping_remote(conn, spi, t, it == table_options.end() ? TableOptions{} : it->second);
    }
    if (slot_must_not_exist && logical) {
        pq::Result r =
            conn.exec("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", {*slot_must_not_exist});
        if (r.rows() > 0)
            throw Error(ERRCODE_DUPLICATE_OBJECT,
                        "replication slot \"" + *slot_must_not_exist + "\" already exists on the provider",
                        "Provider: " + conn.description() + ".",
                        "Another subscriber may use it: choose another slot_name, or drop the slot there with "
                        "pg_drop_replication_slot() if it is left over.");
    }
}

// Stops the subscription's worker (drop): SIGTERM, then wait until its
// process is gone, for up to 30 s.
void
stop_worker(int32_t subid)
{
    SubStatus st;
    if (!read_status(subid, &st) || st.pid == 0)
        return;
    int pid = st.pid;
    if (kill(pid, SIGTERM) != 0 && errno == ESRCH)
        return;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        SubStatus now;
        if (!read_status(subid, &now) || now.pid != pid)
            return;
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return;
        pg_call([] {
            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 20, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
            CHECK_FOR_INTERRUPTS();
        });
    }
    throw Error(ERRCODE_OBJECT_IN_USE,
                "the apply worker of the subscription (pid " + std::to_string(pid) + ") did not stop within 30 s");
}

void
drop_slot_on_provider(const Subscription &s)
{
    if (parse_subscription_options(s.options).capture == "trigger") {
        pg::RemoteConnection conn(s.provider_dsn, "provider of subscription " + s.name);
        capture_stop_remote(conn, s);
        return;
    }
    pg::RemoteConnection conn(dsn_with(s.provider_dsn, "replication", "database"),
                              "provider of subscription " + s.name);
    pq::Result r =
        conn.exec("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = " + pq::quote_literal(s.slot_name));
    if (r.rows() == 0)
        return; // never created (the worker had not started), or dropped by hand
    // WAIT: the provider's walsender of the worker we just stopped may not
    // have noticed yet that its client is gone.
    (void)conn.exec("DROP_REPLICATION_SLOT " + pq::quote_ident(s.slot_name) + " WAIT");
}

} // namespace
} // namespace pymigrate::sync

using namespace pymigrate::sync;
using pymigrate::pg::Error;
using pymigrate::pg::pg_call;
using pymigrate::pg::Spi;

PYMIGRATE_FUNCTION(pymigrate_create_subscription)
{
    std::string name = req_text(fcinfo, 0, "name");
    std::string dsn = req_text(fcinfo, 1, "provider_dsn");
    auto tables = opt_text_array(fcinfo, 2, "tables");
    bool copy_data = req_bool(fcinfo, 3, "copy_data");
    bool enabled = req_bool(fcinfo, 4, "enabled");
    bool connect = req_bool(fcinfo, 5, "connect");
    std::string slot = opt_text(fcinfo, 6).value_or("pymigrate_" + name);
    std::string sync_commit = req_text(fcinfo, 7, "synchronous_commit");
    std::string forward = req_text(fcinfo, 8, "forward_origins");
    std::string options = PG_ARGISNULL(9) ? "{}" : jsonb_arg(fcinfo, 9);
    std::string table_options = PG_ARGISNULL(10) ? "{}" : jsonb_arg(fcinfo, 10);

    check_subscription_name(name);
    check_dsn(dsn);
    if (!tables || tables->empty())
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "tables must name at least one table");
    check_slot_name(slot);
    check_synchronous_commit(sync_commit);
    check_forward_origins(forward);
    std::string origin = "pymigrate_" + name;

    SubscriptionOptions so = parse_subscription_options(options);
    bool logical = so.capture == "logical";
    if (!logical && forward != "none")
        throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "forward_origins \"" + forward + "\" needs capture logical",
                    "Capture triggers do not record changes applied by replication (that is how they avoid loops).");
    Spi spi;
    if (spi.scalar("SELECT 1 FROM pymigrate.subscription WHERE name = $1", {{TEXTOID, name}}, true))
        throw Error(ERRCODE_DUPLICATE_OBJECT, "subscription \"" + name + "\" already exists");
    if (spi.scalar("SELECT 1 FROM pymigrate.subscription WHERE slot_name = $1", {{NAMEOID, slot}}, true))
        throw Error(ERRCODE_DUPLICATE_OBJECT, "slot_name \"" + slot + "\" is used by another subscription");
    auto subscribed = resolve_local_tables(spi, *tables, copy_data, "tables");
    auto topts = parse_table_options_arg(spi, table_options, subscribed);
    for (auto &t : subscribed)
        set_remote_name(spi, t, topts[{t.local_schema, t.local_table}]);
    check_remote_unique(subscribed);
    so = check_options(spi, so, dsn, subscribed, topts);
    for (const auto &t : subscribed) {
        auto other = spi.scalar("SELECT s.name FROM pymigrate.subscription_table t JOIN pymigrate.subscription s "
                                "ON s.id = t.subscription_id WHERE t.local_schema = $1 AND t.local_table = $2",
                                {{NAMEOID, t.local_schema}, {NAMEOID, t.local_table}}, true);
        if (other)
            throw Error(ERRCODE_DUPLICATE_OBJECT, "table " + qualified_name(t.local_schema, t.local_table) +
                                                      " already receives changes from subscription \"" + *other + "\"");
    }
    const char *origin_c = origin.c_str();
    if (pg_call([origin_c] { return replorigin_by_name(origin_c, true); }) != InvalidRepOriginId)
        throw Error(ERRCODE_DUPLICATE_OBJECT, "replication origin \"" + origin + "\" already exists", {},
                    "It is left over from an earlier subscription of this name: drop it with "
                    "SELECT pg_replication_origin_drop('" +
                        origin + "') if nothing uses it.");
    if (connect)
        check_provider_now(dsn, name, subscribed, &slot, topts, logical);

    auto id = spi.scalar("INSERT INTO pymigrate.subscription (name, provider_dsn, enabled, slot_name, origin_name, "
                         "copy_data, synchronous_commit, forward_origins, options) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                         {{TEXTOID, name},
                          {TEXTOID, dsn},
                          {BOOLOID, enabled ? "t" : "f"},
                          {NAMEOID, slot},
                          {TEXTOID, origin},
                          {BOOLOID, copy_data ? "t" : "f"},
                          {TEXTOID, sync_commit},
                          {TEXTOID, forward},
                          {JSONBOID, to_json(so)}});
    int32_t subid = std::stoi(*id);
    insert_tables(spi, subid, subscribed);
    // The id may have been used before: DROP EXTENSION ... CASCADE drops
    // subscriptions without drop_subscription() and the identity restarts
    // with the extension. Nothing of that one (its last error, failures,
    // a worker still retrying its provider) may pass for this one's.
    stop_worker(subid);
    forget_status(subid);
    // The origin is created here, in the same transaction, so that a
    // subscription never exists without it.
    pg_call([origin_c] { (void)replorigin_create(origin_c); });
    spi.execute("SELECT pymigrate._tombstone_triggers()");
    pymigrate::worker::wake_manager_at_commit();
    PG_RETURN_VOID();
}

PYMIGRATE_FUNCTION(pymigrate_alter_subscription)
{
    std::string name = req_text(fcinfo, 0, "name");
    auto dsn = opt_text(fcinfo, 1);
    auto add = opt_text_array(fcinfo, 2, "add_tables");
    auto drop = opt_text_array(fcinfo, 3, "drop_tables");
    bool copy_data = req_bool(fcinfo, 4, "copy_data");
    auto sync_commit = opt_text(fcinfo, 5);
    auto forward = opt_text(fcinfo, 6);
    std::optional<std::string> options_patch, table_patch;
    if (!PG_ARGISNULL(7))
        options_patch = jsonb_arg(fcinfo, 7);
    if (!PG_ARGISNULL(8))
        table_patch = jsonb_arg(fcinfo, 8);
    if (dsn)
        check_dsn(*dsn);
    if (sync_commit)
        check_synchronous_commit(*sync_commit);
    if (forward)
        check_forward_origins(*forward);

    Subscription s = existing(name, ExclusiveLock);
    Spi spi;
    std::string sid = std::to_string(s.id);
    std::vector<SubscribedTable> added;
    if (add)
        added = resolve_local_tables(spi, *add, copy_data, "add_tables");
    for (const auto &t : added)
        for (const auto &have : s.tables)
            if (have.local_schema == t.local_schema && have.local_table == t.local_table)
                throw Error(ERRCODE_DUPLICATE_OBJECT, "table " + qualified_name(t.local_schema, t.local_table) +
                                                          " is already part of subscription \"" + name + "\"");
    std::vector<SubscribedTable> removed;
    if (drop) {
        for (const auto &spec : *drop) {
            auto rel = spi.query("SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
                                 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE c.oid = pg_catalog.to_regclass($1)",
                                 {{TEXTOID, spec}}, true);
            auto it = rel.empty() ? s.tables.end()
                                  : std::find_if(s.tables.begin(), s.tables.end(), [&](const SubscribedTable &t) {
                                        return t.local_schema == *rel[0][0] && t.local_table == *rel[0][1];
                                    });
            if (it == s.tables.end())
                throw Error(ERRCODE_UNDEFINED_OBJECT,
                            "table \"" + spec + "\" is not part of subscription \"" + name + "\"");
            removed.push_back(*it);
        }
        if (removed.size() >= s.tables.size() + added.size())
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "a subscription must keep at least one table", {},
                        "Drop the subscription instead.");
    }
    // The tables after the change, with their options (stored, then patched).
    std::vector<SubscribedTable> after;
    for (const auto &t : s.tables) {
        bool gone = false;
        for (const auto &r : removed)
            gone = gone || (r.local_schema == t.local_schema && r.local_table == t.local_table);
        if (!gone)
            after.push_back(t);
    }
    size_t first_added = after.size();
    for (const auto &t : added)
        after.push_back(t);
    std::map<TableKey, std::string> patches;
    if (table_patch)
        patches = split_table_options(spi, *table_patch, after);
    std::map<TableKey, TableOptions> topts;
    for (size_t i = 0; i < after.size(); ++i) {
        SubscribedTable &t = after[i];
        TableKey key{t.local_schema, t.local_table};
        std::string where = "table_options of " + qualified_name(t.local_schema, t.local_table);
        std::string json = i < first_added ? t.options : "{}";
        if (patches.count(key))
            json = merge_json_objects(json, patches[key]);
        TableOptions to = parse_table_options(json, where);
        if (i < first_added) {
            SubscribedTable renamed = t;
            set_remote_name(spi, renamed, to);
            if (renamed.remote_schema != t.remote_schema || renamed.remote_table != t.remote_table)
                throw Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                            where + ": the provider table of a subscribed table cannot change",
                            "It is " + qualified_name(t.remote_schema, t.remote_table) + ".",
                            "Drop the table from the subscription (drop_tables) and add it again with the new "
                            "mapping.");
        } else {
            set_remote_name(spi, t, to);
        }
        topts[key] = to;
    }
    check_remote_unique(after);
    std::string options_json = options_patch ? merge_json_objects(s.options, *options_patch) : s.options;
    SubscriptionOptions so = check_options(spi, parse_subscription_options(options_json),
                                           dsn.value_or(s.provider_dsn), after, topts);
    bool logical = so.capture == "logical";
    if (options_patch && parse_subscription_options(s.options).capture != so.capture)
        throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "the capture of a subscription cannot change", {},
                    "Drop the subscription and create it again.");
    if (!logical && forward.value_or(s.forward_origins) != "none")
        throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "forward_origins \"all\" needs capture logical");
    if ((dsn || !added.empty() || table_patch) && s.enabled)
        check_provider_now(dsn.value_or(s.provider_dsn), name, after, nullptr, topts, logical);
    added.assign(after.begin() + static_cast<long>(first_added), after.end());

    if (dsn)
        spi.execute("UPDATE pymigrate.subscription SET provider_dsn = $2 WHERE id = $1",
                    {{INT4OID, sid}, {TEXTOID, *dsn}});
    if (sync_commit)
        spi.execute("UPDATE pymigrate.subscription SET synchronous_commit = $2 WHERE id = $1",
                    {{INT4OID, sid}, {TEXTOID, *sync_commit}});
    if (forward)
        spi.execute("UPDATE pymigrate.subscription SET forward_origins = $2 WHERE id = $1",
                    {{INT4OID, sid}, {TEXTOID, *forward}});
    spi.execute("UPDATE pymigrate.subscription SET options = $2 WHERE id = $1",
                {{INT4OID, sid}, {JSONBOID, to_json(so)}});
    for (const auto &t : removed)
        spi.execute("DELETE FROM pymigrate.subscription_table WHERE subscription_id = $1 AND local_schema = $2 "
                    "AND local_table = $3",
                    {{INT4OID, sid}, {NAMEOID, t.local_schema}, {NAMEOID, t.local_table}});
    for (size_t i = 0; i < first_added; ++i)
        spi.execute("UPDATE pymigrate.subscription_table SET options = $4 WHERE subscription_id = $1 AND "
                    "local_schema = $2 AND local_table = $3",
                    {{INT4OID, sid}, {NAMEOID, after[i].local_schema}, {NAMEOID, after[i].local_table},
                     {JSONBOID, after[i].options}});
    insert_tables(spi, s.id, added);
    spi.execute("SELECT pymigrate._tombstone_triggers()");
    spi.execute("UPDATE pymigrate.subscription SET generation = generation + 1 WHERE id = $1", {{INT4OID, sid}});
    pymigrate::worker::wake_manager_at_commit();
    PG_RETURN_VOID();
}

namespace {

void
set_enabled(FunctionCallInfo fcinfo, bool enabled)
{
    std::string name = req_text(fcinfo, 0, "name");
    Subscription s = existing(name, ExclusiveLock);
    Spi spi;
    spi.execute("UPDATE pymigrate.subscription SET enabled = $2 WHERE id = $1",
                {{INT4OID, std::to_string(s.id)}, {BOOLOID, enabled ? "t" : "f"}});
    pymigrate::worker::wake_manager_at_commit();
}

} // namespace

PYMIGRATE_FUNCTION(pymigrate_enable_subscription)
{
    set_enabled(fcinfo, true);
    PG_RETURN_VOID();
}

PYMIGRATE_FUNCTION(pymigrate_disable_subscription)
{
    set_enabled(fcinfo, false);
    PG_RETURN_VOID();
}

PYMIGRATE_FUNCTION(pymigrate_drop_subscription)
{
    std::string name = req_text(fcinfo, 0, "name");
    bool drop_slot = req_bool(fcinfo, 1, "drop_slot");
    bool if_exists = req_bool(fcinfo, 2, "if_exists");
    // The provider's slot cannot be dropped transactionally: like DROP
    // SUBSCRIPTION, refuse to run where a later ROLLBACK could undo the rest.
    pg_call([] { PreventInTransactionBlock(true, "pymigrate.drop_subscription()"); });
    if (!load_subscription(name)) {
        if (if_exists) {
            const char *n = name.c_str();
            pg_call([n] { ereport(NOTICE, (errmsg("subscription \"%s\" does not exist, skipping", n))); });
            PG_RETURN_VOID();
        }
    }
    Subscription s = existing(name, AccessExclusiveLock);
    stop_worker(s.id);
    if (drop_slot) {
        try {
            drop_slot_on_provider(s);
        } catch (const pymigrate::pg::Error &e) {
            throw Error(e.sqlstate(),
                        "could not drop replication slot \"" + s.slot_name + "\" on the provider of subscription \"" +
                            name + "\": " + e.what(),
                        e.detail(),
                        "Nothing was dropped. If the provider is gone for good, run "
                        "pymigrate.drop_subscription('" +
                            name +
                            "', drop_slot => false) and later drop the slot "
                            "there with SELECT pg_drop_replication_slot('" +
                            s.slot_name + "').");
        }
    }
    const char *origin = s.origin_name.c_str();
    pg_call([origin] { replorigin_drop_by_name(origin, true, false); });
    Spi spi;
    spi.execute("DELETE FROM pymigrate.subscription WHERE id = $1", {{INT4OID, std::to_string(s.id)}});
    spi.execute("SELECT pymigrate._tombstone_triggers()");
    forget_status(s.id);
    int32_t subid = s.id;
    pg_call([subid] { pymigrate::sync::apply::remove_seen_set(subid); });
    pymigrate::worker::wake_manager_at_commit();
    PG_RETURN_VOID();
}

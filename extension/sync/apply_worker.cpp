// The apply worker of one subscription: checks the provider, creates the
// slot and copies the tables when the subscription is new, then streams
// the changes with START_REPLICATION and applies them (apply_changes.cpp),
// answering keepalives and reporting back only positions whose local
// commits are flushed (as worker.c's lsn_mapping does).
//
// Any failure ends the worker with the error in the log and in the status
// view; the manager (sync_manager.cpp) starts it again with back-off. State
// that must survive is durable: the catalog, the replication origin (whose
// position commits with each applied transaction) and the provider's slot.
#include "pg/guard.hpp"
#include "pg/remote.hpp"
#include "sync/apply_changes.hpp"
#include "sync/apply_config.hpp"
#include "sync/capture.hpp"
#include "sync/causal.hpp"
#include "sync/causal_store.hpp"
#include "sync/apply_relmap.hpp"
#include "sync/catalog.hpp"
#include "sync/conflict.hpp"
#include "sync/initial_copy.hpp"
#include "sync/options.hpp"
#include "sync/protocol.hpp"
#include "sync/provider_check.hpp"
#include "pg/spi.hpp"
#include "sync/status.hpp"
#include "sync/sync.hpp"
#include "worker/worker.hpp"

#include "common/dsn.hpp"
#include "common/pq.hpp"

#include <libpq-fe.h>

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/timestamp.h"
#include "access/xlog.h"
#include "commands/extension.h"
#include "replication/origin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
}

#include <deque>
#include <memory>

namespace pymigrate::sync
{
namespace
{

using pg::Error;
using pg::pg_call;

int32 my_subid = 0;

// ---------------------------------------------------------------- status

void
leave_status(int, Datum)
{
    if (shared == nullptr)
        return;
    SpinLockAcquire(&shared->mutex);
    if (SubStatus *s = find_status(my_subid, false); s && s->pid == MyProcPid) {
        s->pid = 0;
        s->phase = Phase::None;
        s->in_txn = false;
    }
    SpinLockRelease(&shared->mutex);
}

void
record_error(const std::string &message)
{
    TimestampTz now = GetCurrentTimestamp();
    update_status(my_subid, [&](SubStatus &s) {
        strlcpy(s.last_error, message.c_str(), sizeof(s.last_error));
        s.last_error_time = now;
        s.failures = Min(s.failures + 1, 1000);
    });
}

// A change held by conflict handling (conflict.hpp): once the error has
// aborted its remote transaction, the conflict goes to the log (once per
// remote transaction and key, however often it is retried) and the status
// view says 'error' with held = true until a retry applies it.
void
log_held_conflict(const std::string &error)
{
    const apply::HeldConflict *h = apply::held_conflict();
    if (h == nullptr)
        return;
    update_status(my_subid, [](SubStatus &s) { s.held = true; });
    try {
        pg_call([] { AbortOutOfAnyTransaction(); });
        auto opt = [](const char *p) { return p ? std::optional<std::string>(p) : std::nullopt; };
        std::string detail = std::string(h->reason) + ": " + error;
        worker::in_transaction([&] {
            pg::Spi spi;
            spi.execute(
                "INSERT INTO pymigrate.conflict_log (subscription, table_name, kind, key, local_row, remote_row, "
                "local_commit_ts, local_node, remote_commit_ts, remote_node, strategy, outcome, remote_commit_lsn, "
                "remote_xid, detail) "
                "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'held', $12, $13, $14 "
                "WHERE NOT EXISTS (SELECT 1 FROM pymigrate.conflict_log WHERE subscription = $1 AND outcome = 'held' "
                "AND remote_commit_lsn IS NOT DISTINCT FROM $12 AND key = $4 AND kind = $3)",
                {{TEXTOID, h->subscription},
                 {TEXTOID, h->table_name},
                 {TEXTOID, h->kind},
                 {JSONBOID, h->key},
                 {JSONBOID, opt(h->local_row)},
                 {JSONBOID, opt(h->remote_row)},
                 {TIMESTAMPTZOID, h->local_ts == DT_NOBEGIN || !h->local_node
                                      ? std::nullopt
                                      : std::optional<std::string>(timestamptz_to_str(h->local_ts))},
                 {TEXTOID, opt(h->local_node)},
                 {TIMESTAMPTZOID, std::string(timestamptz_to_str(h->remote_ts))},
                 {TEXTOID, h->remote_node},
                 {TEXTOID, h->strategy},
                 {PG_LSNOID, h->remote_lsn ? std::optional<std::string>(lsn_to_string(h->remote_lsn)) : std::nullopt},
                 {INT8OID, h->remote_xid ? std::optional<std::string>(std::to_string(h->remote_xid)) : std::nullopt},
                 {TEXTOID, detail}});
        });
    } catch (const std::exception &e) {
        const char *msg = e.what();
        pg_call([msg] { ereport(WARNING, (errmsg("pymigrate: could not log a held conflict: %s", msg))); });
    }
    pg_call([] { apply::clear_held_conflict(); });
}

// ---------------------------------------------------------------- wire

uint64
read_u64(const char *p)
{
    uint64 n;
    memcpy(&n, p, sizeof(n));
    return pg_ntoh64(n);
}

void
write_u64(std::string &out, uint64 v)
{
    uint64 n = pg_hton64(v);
    out.append(reinterpret_cast<const char *>(&n), sizeof(n));
}

// A string literal of the replication command grammar, which knows only ''
// for a quote (not the E'' form of pq::quote_literal).
std::string
option_literal(const std::string &v)
{
    std::string out = "'";
    for (char c : v) {
        if (c == '\'')
            out += '\'';
        out += c;
    }
    return out + "'";
}

struct CopyDataFree {
    void
    operator()(char *p) const noexcept
    {
        PQfreemem(p);
    }
};

// ---------------------------------------------------------------- setup

Subscription
load_locked(int32 subid, bool *exists)
{
    Subscription sub;
    *exists = false;
    worker::in_transaction([&] {
        // drop_subscription holds this lock until it commits: wait for it,
        // then read what it left.
        Oid classid = subscription_class_oid();
        pg_call([classid, subid] { LockDatabaseObject(classid, static_cast<Oid>(subid), 0, AccessShareLock); });
        if (auto s = load_subscription(subid)) {
            sub = std::move(*s);
            *exists = true;
        }
    });
    return sub;
}

XLogRecPtr
setup_origin(const Subscription &sub)
{
    XLogRecPtr start = InvalidXLogRecPtr;
    const char *name = sub.origin_name.c_str();
    worker::in_transaction([&] {
        start = pg_call([name] {
            RepOriginId id = replorigin_by_name(name, true);
            if (id == InvalidRepOriginId)
                id = replorigin_create(name);
            replorigin_session_setup(id);
            replorigin_session_origin = id;
            return replorigin_session_get_progress(false);
        });
    });
    return start;
}

std::string
replication_dsn(const Subscription &sub)
{
    return dsn_with(dsn_with(sub.provider_dsn, "replication", "database"), "fallback_application_name",
                    "pymigrate_" + sub.name);
}

bool
slot_exists(pg::RemoteConnection &conn, const std::string &slot)
{
    return conn.exec("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = " + pq::quote_literal(slot))
               .rows() > 0;
}

// The subscription's first run: the slot (with an exported snapshot when
// tables are to be copied), the copy, and the origin's start position, the
// last two committed together. A run that failed halfway left no position,
// so the slot is created again and the copy starts over.
XLogRecPtr
initial_setup(Subscription &sub, pg::RemoteConnection &repl)
{
    if (slot_exists(repl, sub.slot_name))
        (void)repl.exec("DROP_REPLICATION_SLOT " + pq::quote_ident(sub.slot_name) + " WAIT");
    std::vector<SubscribedTable> to_copy;
    for (const auto &t : sub.tables)
        if (t.state != 'r')
            to_copy.push_back(t);
    bool copy = sub.copy_data && !to_copy.empty();
    pq::Result r = repl.exec("CREATE_REPLICATION_SLOT " + pq::quote_ident(sub.slot_name) +
                             " LOGICAL pymigrate (SNAPSHOT " + (copy ? "'export'" : "'nothing'") + ")");
    XLogRecPtr consistent = lsn_from_string(std::string(r.value(0, 1)));
    std::string snapshot = r.is_null(0, 2) ? "" : std::string(r.value(0, 2));
    worker::in_transaction([&] {
        std::vector<int64_t> rows;
        if (copy)
            rows = copy_tables(sub, to_copy, snapshot);
        mark_tables_ready(sub.id, sub.tables, consistent, rows);
        // Commits with the copied rows: from here on the stream starts at
        // the snapshot's consistent point.
        replorigin_session_origin_lsn = consistent;
        replorigin_session_origin_timestamp = GetCurrentTimestamp();
    });
    replorigin_session_origin_lsn = InvalidXLogRecPtr;
    replorigin_session_origin_timestamp = 0;
    return consistent;
}

// Tables added to a running subscription: copied in the snapshot of a
// temporary slot; their changes are then applied from transactions that
// commit after that snapshot (sync_lsn), the others' as before.
void
copy_added_tables(Subscription &sub, const ProviderFacts &facts)
{
    std::vector<SubscribedTable> to_copy;
    for (const auto &t : sub.tables)
        if (t.state != 'r')
            to_copy.push_back(t);
    if (to_copy.empty())
        return;
    pg::RemoteConnection tmp(replication_dsn(sub), "provider of subscription " + sub.name + " (table copy)");
    allow_plugin_for_session(tmp, facts);
    pq::Result r =
        tmp.exec("CREATE_REPLICATION_SLOT " + pq::quote_ident("pymigrate_copy_" + std::to_string(MyProcPid)) +
                 " TEMPORARY LOGICAL pymigrate (SNAPSHOT 'export')");
    XLogRecPtr consistent = lsn_from_string(std::string(r.value(0, 1)));
    std::string snapshot(r.value(0, 2));
    worker::in_transaction([&] {
        std::vector<int64_t> rows = copy_tables(sub, to_copy, snapshot);
        mark_tables_ready(sub.id, to_copy, consistent, rows);
    });
}

// ---------------------------------------------------------------- streaming

class Stream
{
  public:
    Stream(const Subscription &sub, pg::RemoteConnection &repl, XLogRecPtr start)
        : sub_(sub), repl_(repl), received_(start), applied_(start), flushed_(start)
    {
    }

    // Returns when the subscription no longer wants this worker.
    void run();

  private:
    void handle(const char *buf, int len);
    void apply(const char *msg, uint32 len);
    void send_feedback(bool request_reply);
    void maybe_feedback();
    XLogRecPtr flushed_position();
    void publish(bool idle);
    bool still_wanted();

    const Subscription &sub_;
    pg::RemoteConnection &repl_;
    XLogRecPtr received_; // highest provider position received
    XLogRecPtr applied_;  // provider position up to which everything is applied (committed here)
    XLogRecPtr flushed_;  // ... and flushed here: what we report
    XLogRecPtr reported_ = InvalidXLogRecPtr;
    // Provider end position of each applied transaction and the end of our
    // commit record: a position is reported once our WAL is flushed past it.
    std::deque<std::pair<XLogRecPtr, XLogRecPtr>> pending_;
    TimestampTz last_received_at_ = GetCurrentTimestamp();
    TimestampTz last_feedback_at_ = 0;
    TimestampTz last_publish_at_ = 0;
    TimestampTz last_check_at_ = GetCurrentTimestamp();
    uint64 changes_ = 0;
    uint64 txns_ = 0;
    uint64 not_found_ = 0;
    uint64 conflicts_ = 0;
    bool cleared_held_ = false;
    TimestampTz last_commit_time_ = 0;
    TimestampTz txn_commit_time_ = 0;
    bool healthy_ = false; // reset the failure count once
    TimestampTz started_at_ = GetCurrentTimestamp();
};

void
Stream::apply(const char *msg, uint32 len)
{
    apply::Outcome out;
    pg_call([msg, len, &out] { apply::apply_message(msg, len, &out); });
    if (out.began) {
        txn_commit_time_ = out.commit_time;
        update_status(sub_.id, [this](SubStatus &s) {
            s.in_txn = true;
            s.txn_commit_time = txn_commit_time_;
        });
    }
    if (out.committed) {
        pending_.emplace_back(out.end_lsn, out.local_end);
        applied_ = Max(applied_, out.end_lsn);
        changes_ += out.changes;
        not_found_ += out.not_found;
        conflicts_ += out.conflicts;
        if (!cleared_held_) {
            // A transaction applied: whatever was held before is through.
            cleared_held_ = true;
            update_status(sub_.id, [](SubStatus &s) {
                s.held = false;
                s.failures = 0;
            });
        }
        ++txns_;
        last_commit_time_ = out.commit_time;
        txn_commit_time_ = 0;
        publish(false);
    }
}

void
Stream::handle(const char *buf, int len)
{
    last_received_at_ = GetCurrentTimestamp();
    if (len < 1)
        throw Error(ERRCODE_PROTOCOL_VIOLATION, "empty message from the provider");
    if (buf[0] == 'w') {
        if (len < 25)
            throw Error(ERRCODE_PROTOCOL_VIOLATION, "truncated XLogData message from the provider");
        XLogRecPtr start = read_u64(buf + 1);
        XLogRecPtr end = read_u64(buf + 9);
        received_ = Max(received_, Max(start, end));
        const char *payload = buf + 25;
        uint32 size = static_cast<uint32>(len - 25);
        // One write of the plugin: one or more length-prefixed messages.
        uint32 pos = 0;
        while (pos < size) {
            if (size - pos < 4)
                throw Error(ERRCODE_PROTOCOL_VIOLATION, "truncated message length in the replication stream");
            uint32 n;
            memcpy(&n, payload + pos, 4);
            n = pg_ntoh32(n);
            pos += 4;
            if (n > size - pos)
                throw Error(ERRCODE_PROTOCOL_VIOLATION, "message longer than its write in the replication stream");
            apply(payload + pos, n);
            pos += n;
        }
    } else if (buf[0] == 'k') {
        if (len < 18)
            throw Error(ERRCODE_PROTOCOL_VIOLATION, "truncated keepalive message from the provider");
        XLogRecPtr end = read_u64(buf + 1);
        bool reply = buf[17] != 0;
        received_ = Max(received_, end);
        // Between transactions, everything the provider decoded before
        // `end` has reached us: applied, or of no interest here.
        if (!apply::in_remote_transaction())
            applied_ = Max(applied_, end);
        if (reply)
            send_feedback(false);
        // Healthy once it has streamed a while without failing: a worker
        // that connects but fails on the same transaction each time must
        // keep backing off (a keepalive can come before that transaction).
        if (!healthy_ && TimestampDifferenceExceeds(started_at_, GetCurrentTimestamp(), 10000)) {
            healthy_ = true;
            // Not while a held change waits: its retries must back off.
            update_status(sub_.id, [](SubStatus &s) {
                if (!s.held)
                    s.failures = 0;
            });
        }
    } else {
        throw Error(ERRCODE_PROTOCOL_VIOLATION,
                    std::string("unexpected message type '") + buf[0] + "' in the replication stream");
    }
}

XLogRecPtr
Stream::flushed_position()
{
    XLogRecPtr local_flush = GetFlushRecPtr(nullptr);
    while (!pending_.empty() &&
           (pending_.front().second == InvalidXLogRecPtr || pending_.front().second <= local_flush)) {
        flushed_ = Max(flushed_, pending_.front().first);
        pending_.pop_front();
    }
    if (pending_.empty() && !apply::in_remote_transaction())
        flushed_ = Max(flushed_, applied_);
    return flushed_;
}

void
Stream::send_feedback(bool request_reply)
{
    XLogRecPtr flush = flushed_position();
    std::string msg = "r";
    write_u64(msg, received_);
    write_u64(msg, flush);
    write_u64(msg, flush);
    write_u64(msg, static_cast<uint64>(GetCurrentTimestamp()));
    msg += request_reply ? '\1' : '\0';
    if (PQputCopyData(repl_.get(), msg.data(), static_cast<int>(msg.size())) <= 0)
        repl_.raise(nullptr, "sending feedback");
    repl_.flush();
    last_feedback_at_ = GetCurrentTimestamp();
    reported_ = flush;
    update_status(sub_.id, [flush](SubStatus &s) { s.flushed_lsn = flush; });
}

void
Stream::maybe_feedback()
{
    TimestampTz now = GetCurrentTimestamp();
    bool quiet = TimestampDifferenceExceeds(last_received_at_, now, 1000);
    bool due = TimestampDifferenceExceeds(last_feedback_at_, now, 1000);
    bool moved = TimestampDifferenceExceeds(last_feedback_at_, now, 100) && flushed_position() != reported_;
    // After a quiet second, ask for a keepalive: it tells us the provider's
    // position (lag) and that the connection still works.
    if (due || moved)
        send_feedback(quiet && due);
}

void
Stream::publish(bool idle)
{
    TimestampTz now = GetCurrentTimestamp();
    last_publish_at_ = now;
    update_status(sub_.id, [&](SubStatus &s) {
        s.phase = Phase::Streaming;
        s.in_txn = apply::in_remote_transaction();
        s.txn_commit_time = txn_commit_time_;
        s.last_msg_time = last_received_at_;
        s.received_lsn = received_;
        s.applied_lsn = applied_;
        add_applied(s, changes_, txns_, not_found_, conflicts_, last_commit_time_, now);
        s.seen_horizon = Max(s.seen_horizon, apply::seen_horizon());
        if (idle)
            s.received_lsn = Max(s.received_lsn, applied_);
    });
    changes_ = txns_ = not_found_ = conflicts_ = 0;
}

// The subscription as this worker runs it is still there, enabled and
// unchanged (the manager stops workers too; this also covers a manager that
// lost track of us, and DROP EXTENSION).
bool
Stream::still_wanted()
{
    bool wanted = false;
    int32 id = sub_.id;
    int32 generation = sub_.generation;
    worker::in_transaction([&] { wanted = subscription_still_wanted(id, generation); });
    return wanted;
}

void
Stream::run()
{
    const int timeout_ms = sync_timeout_ms;
    publish(true);
    for (;;) {
        bool got = false;
        // Drain what has arrived; check for interrupts now and then.
        for (int n = 0; n < 1000; ++n) {
            char *raw = nullptr;
            int len = PQgetCopyData(repl_.get(), &raw, 1);
            if (len == 0)
                break;
            if (len == -1)
                throw Error(ERRCODE_CONNECTION_FAILURE, "the provider ended the replication stream",
                            "Provider: " + repl_.description() + ".");
            if (len < -1)
                repl_.raise(nullptr, "receiving changes");
            std::unique_ptr<char, CopyDataFree> buf(raw);
            handle(buf.get(), len);
            got = true;
        }
        maybe_feedback();
        TimestampTz now = GetCurrentTimestamp();
        if (TimestampDifferenceExceeds(last_publish_at_, now, 200))
            publish(!got && !apply::in_remote_transaction());
        if (!apply::in_remote_transaction() && TimestampDifferenceExceeds(last_check_at_, now, 5000)) {
            last_check_at_ = now;
            if (!still_wanted())
                return;
        }
        if (TimestampDifferenceExceeds(last_received_at_, now, timeout_ms))
            throw Error(ERRCODE_CONNECTION_FAILURE,
                        "no message from the provider for " + std::to_string(timeout_ms / 1000) + " s",
                        "Provider: " + repl_.description() + ".",
                        "The worker reconnects; raise pymigrate.sync_timeout if the network is that slow.");
        // With messages at hand (a backlog), read on without waiting: the
        // next read finds more, or nothing and then we wait.
        if (got)
            worker::handle_interrupts();
        else
            (void)worker::wait_latch(1000, PQsocket(repl_.get()), WL_SOCKET_READABLE);
        repl_.consume_input();
    }
}

void
start_streaming(const Subscription &sub, pg::RemoteConnection &repl, XLogRecPtr start)
{
    std::string tables;
    for (const auto &t : sub.tables)
        tables += (tables.empty() ? "" : ",") + qualified_name(t.remote_schema, t.remote_table);
    std::string cmd = "START_REPLICATION SLOT " + pq::quote_ident(sub.slot_name) + " LOGICAL " + lsn_to_string(start) +
                      " (\"min_proto_version\" '1', \"max_proto_version\" '" + std::to_string(proto::kMaxVersion) +
                      "', \"binary\" 'true', \"tables\" " + option_literal(tables) + ", \"forward_origins\" " +
                      option_literal(sub.forward_origins) + ")";
    if (!PQsendQuery(repl.get(), cmd.c_str()))
        repl.raise(nullptr, "starting replication");
    try {
        pq::Result r = repl.finish_command("starting replication from slot " + sub.slot_name);
        if (PQresultStatus(r.get()) != PGRES_COPY_BOTH)
            throw Error(ERRCODE_PROTOCOL_VIOLATION, "the provider did not start streaming");
    } catch (const Error &e) {
        if (e.sqlstate() == ERRCODE_UNDEFINED_OBJECT)
            throw Error(e.sqlstate(), e.what(), e.detail(),
                        "The slot was dropped on the provider, so changes since then are lost to this "
                        "subscription: drop it and create it again (with copy_data).");
        throw;
    }
}

void
run(int32 subid)
{
    my_subid = subid;
    bool exists = false;
    Subscription sub = load_locked(subid, &exists);
    if (!exists || !sub.enabled)
        return; // dropped or disabled meanwhile: nothing to do
    // Replica role: ordinary triggers and foreign keys are the provider's
    // business; ENABLE ALWAYS / ENABLE REPLICA triggers still fire.
    std::string appname = "pymigrate apply " + sub.name;
    const char *sync_commit = sub.synchronous_commit.c_str();
    const char *app = appname.c_str();
    pg_call([sync_commit, app] {
        SetConfigOption("session_replication_role", "replica", PGC_SUSET, PGC_S_OVERRIDE);
        SetConfigOption("synchronous_commit", sync_commit, PGC_SUSET, PGC_S_OVERRIDE);
        SetConfigOption("application_name", app, PGC_USERSET, PGC_S_OVERRIDE);
    });
    int32 generation = sub.generation;
    // A worker of this subscription may still run (its manager restarted
    // and lost track of it): leave the work to it.
    bool other = false;
    update_status(subid, [&other](SubStatus &s) { other = s.pid != 0 && s.pid != MyProcPid && kill(s.pid, 0) == 0; });
    if (other)
        return;
    update_status(subid, [generation](SubStatus &s) {
        s.pid = MyProcPid;
        s.phase = Phase::Starting;
        s.generation = generation;
        s.started_at = GetCurrentTimestamp();
        s.in_txn = false;
    });
    pg_call([] { before_shmem_exit(leave_status, 0); });

    XLogRecPtr start = setup_origin(sub);
    if (parse_subscription_options(sub.options).capture == "trigger") {
        run_capture(sub, start); // its origin's position: the largest change log seq applied
        return;
    }
    ProviderFacts facts;
    {
        pg::RemoteConnection check(sub.provider_dsn, "provider of subscription " + sub.name);
        facts = check_provider(check, sub.tables);
    }
    pg::RemoteConnection repl(replication_dsn(sub), "provider of subscription " + sub.name);
    allow_plugin_for_session(repl, facts);
    if (start == InvalidXLogRecPtr) {
        start = initial_setup(sub, repl);
    } else {
        copy_added_tables(sub, facts);
    }
    // Reload: the copies changed table states.
    bool still_there = false;
    worker::in_transaction([&] {
        if (auto again = load_subscription(subid)) {
            sub = std::move(*again);
            still_there = true;
        }
    });
    if (!still_there)
        return; // dropped meanwhile

    uint64 remote_sysid = std::stoull(std::string(repl.exec("IDENTIFY_SYSTEM").value(0, 0)));
    worker::in_transaction([&] { configure_apply(sub, remote_sysid, sub.slot_name); });
    apply::SeenOwner owner{};
    owner.subid = sub.id;
    owner.provider_sysid = remote_sysid;
    strlcpy(owner.reader, sub.slot_name.c_str(), sizeof(owner.reader));
    pg_call([&owner, start] {
        apply::start(proto::kMaxVersion);
        (void)apply::load_seen_set(owner, start);
        apply::save_seen_set_at_exit(owner);
    });
    start_streaming(sub, repl, start);
    update_status(subid, [start](SubStatus &s) {
        s.phase = Phase::Streaming;
        s.received_lsn = Max(s.received_lsn, start);
        s.applied_lsn = Max(s.applied_lsn, start);
        s.copy_table[0] = '\0';
    });
    Stream(sub, repl, start).run();
}

} // namespace
} // namespace pymigrate::sync

PYMIGRATE_WORKER(pymigrate_apply_main)
{
    try {
        pymigrate::sync::run(static_cast<int32>(arg));
    } catch (const std::exception &e) {
        pymigrate::sync::record_error(e.what());
        pymigrate::sync::log_held_conflict(e.what());
        throw;
    }
}

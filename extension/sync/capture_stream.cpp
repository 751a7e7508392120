// Trigger capture, subscriber side (capture.hpp): reading the provider's
// change log in snapshot batches and applying it.
//
// A batch is every logged change of a transaction that the batch's provider
// snapshot shows finished and the previous batch's did not (PgQ's rule):
// a transaction that took its id early and committed late lands in the
// batch whose snapshot first shows it, never skipped. Within a batch the
// transactions are applied in the order of their largest seq: a row's later
// change always has the larger seq (taken after the row was changed and
// locked), so two transactions touching one row are applied in the order
// they committed. Across batches the same holds (the later transaction
// could only change the row after the earlier committed).
//
// Exactly once: the batch's snapshot is stored before its first
// transaction is applied, and each applied transaction stores its seq in
// pymigrate.capture_progress in its own local transaction; a restart reads
// the same batch again and skips what is applied.
#include "sync/capture.hpp"
#include "sync/causal.hpp"
#include "sync/causal_store.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "sync/apply_changes.hpp"
#include "sync/apply_config.hpp"
#include "sync/initial_copy.hpp"
#include "sync/protocol.hpp"
#include "sync/provider_check.hpp"
#include "sync/status.hpp"
#include "sync/sync.hpp"
#include "worker/worker.hpp"

#include "common/pq.hpp"

#include <libpq-fe.h>

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
}

namespace pymigrate::sync
{

using pg::Error;
using pg::pg_call;

namespace
{

// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
constexpr int64 kEpochShiftUs = INT64CONST(946684800000000);

struct Progress {
    bool exists = false;
    std::string prev;
    std::string batch; // "" when no batch is half applied
    int64_t applied_seq = 0;
};

Progress
load_progress(int32_t subid)
{
    pg::Spi spi;
    auto rows = spi.query("SELECT prev::text, batch::text, applied_seq FROM pymigrate.capture_progress "
                          "WHERE subscription_id = $1",
                          {{INT4OID, std::to_string(subid)}}, true);
    Progress p;
    if (rows.empty())
        return p;
    p.exists = true;
    p.prev = *rows[0][0];
    p.batch = rows[0][1].value_or("");
    p.applied_seq = std::stoll(*rows[0][2]);
    return p;
}

// ---------------------------------------------------------------- pre-commit

// The provider transaction being applied: its seq is stored with it.
struct Position {
    int32 subid;
    int64 tseq;
};
Position position;
SPIPlanPtr position_plan = nullptr;

void
record_position(void *)
{
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    if (position_plan == nullptr) {
        Oid types[2] = {INT4OID, INT8OID};
        SPIPlanPtr plan =
            SPI_prepare("UPDATE pymigrate.capture_progress SET applied_seq = $2 WHERE subscription_id = $1", 2, types);
        if (plan == nullptr)
            elog(ERROR, "could not prepare the capture progress update");
        SPI_keepplan(plan);
        position_plan = plan;
    }
    Datum v[2] = {Int32GetDatum(position.subid), Int64GetDatum(position.tseq)};
    // Called at the remote COMMIT, after the changes' own snapshots are gone.
    PushActiveSnapshot(GetTransactionSnapshot());
    int rc = SPI_execute_plan(position_plan, v, nullptr, false, 0);
    PopActiveSnapshot();
    if (rc != SPI_OK_UPDATE || SPI_processed != 1)
        elog(ERROR, "pymigrate.capture_progress has no row for subscription %d", position.subid);
    SPI_finish();
}

// ---------------------------------------------------------------- messages

// BEGIN and COMMIT of a provider transaction, as the plugin would send
// them: its seq stands in for the commit position.
std::string
begin_message(int64 tseq, TimestampTz commit_time, uint32 xid)
{
    std::string m(1, proto::kBegin);
    auto put = [&m](uint64 v, int bytes) {
        for (int i = bytes - 1; i >= 0; --i)
            m += static_cast<char>((v >> (8 * i)) & 0xff);
    };
    put(static_cast<uint64>(tseq), 8);
    put(static_cast<uint64>(commit_time), 8);
    put(xid, 4);
    put(0, 2); // origin id
    put(0, 4); // origin name: empty
    put(0, 8); // origin lsn
    return m;
}

std::string
commit_message(int64 tseq, TimestampTz commit_time)
{
    std::string m(1, proto::kCommit);
    auto put = [&m](uint64 v, int bytes) {
        for (int i = bytes - 1; i >= 0; --i)
            m += static_cast<char>((v >> (8 * i)) & 0xff);
    };
    put(0, 1);
    put(static_cast<uint64>(tseq), 8);
    put(static_cast<uint64>(tseq), 8);
    put(static_cast<uint64>(commit_time), 8);
    return m;
}

// ---------------------------------------------------------------- the loop

class CaptureStream
{
  public:
    CaptureStream(Subscription &sub, pg::RemoteConnection &conn, std::string consumer, std::string commit_time_sql,
                  Progress progress)
        : sub_(sub), conn_(conn), consumer_(std::move(consumer)), commit_time_sql_(std::move(commit_time_sql)),
          progress_(std::move(progress))
    {
    }
    void run();

  private:
    bool step();
    void apply(const std::string &msg, apply::Outcome *out);
    void apply_chunk(const std::string &data);
    void end_transaction();
    void end_batch(const std::string &snapshot);
    void confirm();
    void publish();
    void load_tables();

    Subscription &sub_;
    pg::RemoteConnection &conn_;
    std::string consumer_;
    std::string commit_time_sql_;
    Progress progress_;
    std::string relids_;      // oid[] of the provider tables
    std::string copy_relids_; // oid[] of tables copied in a snapshot of their own ...
    std::string copy_snaps_;  // ... and those snapshots (pg_snapshot[])
    bool in_txn_ = false;
    int64 txn_seq_ = 0;
    TimestampTz txn_time_ = 0;
    std::string confirm_snapshot_;
    XLogRecPtr confirm_after_ = InvalidXLogRecPtr;
    TimestampTz last_advance_ = 0;
    TimestampTz last_check_ = GetCurrentTimestamp();
    TimestampTz last_publish_ = 0;
    bool cleared_held_ = false;
};

void
CaptureStream::load_tables()
{
    std::vector<std::string> names, copy_names, snaps;
    for (const auto &t : sub_.tables) {
        names.push_back(qualified_name(t.remote_schema, t.remote_table));
        if (!t.sync_snapshot.empty()) {
            copy_names.push_back(names.back());
            snaps.push_back(t.sync_snapshot);
        }
    }
    auto oids = [this](const std::vector<std::string> &list) {
        pq::Result r = conn_.exec("SELECT pg_catalog.array_agg(pg_catalog.to_regclass(n)::oid ORDER BY o)::text "
                                  "FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS u(n, o)",
                                  {pq::array_literal(list)});
        return r.is_null(0, 0) ? std::string("{}") : std::string(r.value(0, 0));
    };
    relids_ = oids(names);
    copy_relids_ = oids(copy_names);
    copy_snaps_ = pq::array_literal(snaps);
}

void
CaptureStream::apply(const std::string &msg, apply::Outcome *out)
{
    const char *data = msg.data();
    uint32 len = static_cast<uint32>(msg.size());
    pg_call([data, len, out] { apply::apply_message(data, len, out); });
}

// A bytea of the log (hex text) as bytes.
std::string
unescape(std::string_view text)
{
    size_t len = 0;
    std::string z(text);
    unsigned char *bytes = PQunescapeBytea(reinterpret_cast<const unsigned char *>(z.c_str()), &len);
    if (bytes == nullptr)
        throw Error(ERRCODE_OUT_OF_MEMORY, "out of memory reading pymigrate.change_log");
    std::string data(reinterpret_cast<char *>(bytes), len);
    PQfreemem(bytes);
    return data;
}

void
CaptureStream::apply_chunk(const std::string &data)
{
    // Length-prefixed messages, as in one write of the output plugin.
    size_t pos = 0;
    while (pos < data.size()) {
        if (data.size() - pos < 4)
            throw Error(ERRCODE_DATA_CORRUPTED, "truncated message length in pymigrate.change_log");
        uint32 n = (static_cast<uint32>(static_cast<unsigned char>(data[pos])) << 24) |
                   (static_cast<uint32>(static_cast<unsigned char>(data[pos + 1])) << 16) |
                   (static_cast<uint32>(static_cast<unsigned char>(data[pos + 2])) << 8) |
                   static_cast<uint32>(static_cast<unsigned char>(data[pos + 3]));
        pos += 4;
        if (n > data.size() - pos)
            throw Error(ERRCODE_DATA_CORRUPTED, "message longer than its row in pymigrate.change_log");
        apply::Outcome out;
        apply(data.substr(pos, n), &out);
        pos += n;
    }
}

void
CaptureStream::end_transaction()
{
    if (!in_txn_)
        return;
    apply::Outcome out;
    apply(commit_message(txn_seq_, txn_time_), &out);
    in_txn_ = false;
    progress_.applied_seq = txn_seq_;
    // The counters move with each commit: whoever sees the transaction's
    // rows (or its conflict log rows) sees it counted.
    TimestampTz now = GetCurrentTimestamp();
    TimestampTz commit_time = txn_time_;
    bool clear_held = !cleared_held_;
    cleared_held_ = true;
    update_status(sub_.id, [&](SubStatus &s) {
        s.in_txn = false;
        add_applied(s, out.changes, 1, out.not_found, out.conflicts, commit_time, now);
        if (clear_held) {
            s.held = false;
            s.failures = 0;
        }
    });
}

void
CaptureStream::end_batch(const std::string &snapshot)
{
    int32 id = sub_.id;
    worker::in_transaction([&] {
        pg::Spi spi;
        spi.execute("UPDATE pymigrate.capture_progress SET prev = $2, batch = NULL, applied_seq = 0 "
                    "WHERE subscription_id = $1",
                    {{INT4OID, std::to_string(id)}, {PG_SNAPSHOTOID, snapshot}});
    });
    progress_.prev = snapshot;
    progress_.batch.clear();
    progress_.applied_seq = 0;
    confirm_snapshot_ = snapshot;
    confirm_after_ = XactLastCommitEnd;
    last_advance_ = GetCurrentTimestamp();
}

// Tells the provider what is applied here, once it is flushed here too (a
// crash could otherwise lose what the provider has already trimmed).
void
CaptureStream::confirm()
{
    if (confirm_snapshot_.empty() || GetFlushRecPtr(nullptr) < confirm_after_)
        return;
    (void)conn_.exec("SELECT pymigrate.capture_confirm($1, $2::pg_snapshot)", {consumer_, confirm_snapshot_});
    confirm_snapshot_.clear();
}

void
CaptureStream::publish()
{
    TimestampTz now = GetCurrentTimestamp();
    last_publish_ = now;
    TimestampTz horizon = apply::seen_horizon();
    update_status(sub_.id, [&](SubStatus &s) {
        s.phase = Phase::Streaming;
        s.last_msg_time = now;
        s.in_txn = in_txn_;
        s.txn_commit_time = txn_time_;
        s.seen_horizon = Max(s.seen_horizon, horizon);
    });
}

// One batch; true when it held changes.
bool
CaptureStream::step()
{
    (void)conn_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    std::string cur = progress_.batch;
    bool resumed = !cur.empty();
    if (cur.empty())
        cur = std::string(conn_.exec("SELECT pg_catalog.pg_current_snapshot()::text").value(0, 0));
    (void)conn_.exec(
        "DECLARE pymigrate_batch NO SCROLL CURSOR FOR "
        "SELECT l.txid::text, max(l.seq) OVER w AS tseq, " +
            commit_time_sql_ +
            ", l.data, l.relid = 0 AS marker FROM pymigrate.change_log l "
            "WHERE l.txid >= pg_catalog.pg_snapshot_xmin($1::pg_snapshot) AND (l.relid = ANY ($3::oid[]) OR l.relid = 0) "
            "AND pg_catalog.pg_visible_in_snapshot(l.txid, $2::pg_snapshot) "
            "AND NOT pg_catalog.pg_visible_in_snapshot(l.txid, $1::pg_snapshot) "
            "AND NOT EXISTS (SELECT 1 FROM ROWS FROM (pg_catalog.unnest($4::oid[]), "
            "                pg_catalog.unnest($5::pg_snapshot[])) AS c(relid, snap) "
            "                WHERE c.relid = l.relid AND pg_catalog.pg_visible_in_snapshot(l.txid, c.snap)) "
            "WINDOW w AS (PARTITION BY l.txid) ORDER BY tseq, l.seq",
        {progress_.prev, cur, relids_, copy_relids_, copy_snaps_});
    bool started = resumed;
    bool any = false;
    std::string txid;
    for (;;) {
        pq::Result r = conn_.exec("FETCH 200 FROM pymigrate_batch");
        if (r.rows() == 0)
            break;
        for (int i = 0; i < r.rows(); ++i) {
            int64 tseq = std::stoll(std::string(r.value(i, 1)));
            if (tseq <= progress_.applied_seq && resumed)
                continue; // applied before a restart
            if (!started) {
                // Stored before the first transaction of the batch applies:
                // a restart reads this same batch.
                int32 id = sub_.id;
                worker::in_transaction([&] {
                    pg::Spi spi;
                    spi.execute("UPDATE pymigrate.capture_progress SET batch = $2, applied_seq = 0 "
                                "WHERE subscription_id = $1",
                                {{INT4OID, std::to_string(id)}, {PG_SNAPSHOTOID, cur}});
                });
                progress_.batch = cur;
                progress_.applied_seq = 0;
                started = true;
            }
            if (r.value(i, 4) == "t") {
                // The provider's apply worker applied one of our
                // transactions (an applied marker, causal.hpp): a SEEN,
                // between transactions.
                end_transaction();
                apply_chunk(unescape(r.value(i, 3)));
                continue;
            }
            if (!in_txn_ || tseq != txn_seq_) {
                end_transaction();
                std::string this_txid(r.value(i, 0));
                txn_seq_ = tseq;
                txn_time_ = std::stoll(std::string(r.value(i, 2))) - kEpochShiftUs;
                uint32 xid = static_cast<uint32>(std::stoull(this_txid) & 0xffffffffu);
                position.subid = sub_.id;
                position.tseq = tseq;
                apply::Outcome out;
                apply(begin_message(tseq, txn_time_, xid), &out);
                in_txn_ = true;
                TimestampTz t = txn_time_;
                update_status(sub_.id, [t](SubStatus &s) {
                    s.in_txn = true;
                    s.txn_commit_time = t;
                });
            }
            apply_chunk(unescape(r.value(i, 3)));
            any = true;
        }
        if (TimestampDifferenceExceeds(last_publish_, GetCurrentTimestamp(), 200))
            publish();
    }
    end_transaction();
    (void)conn_.exec("CLOSE pymigrate_batch; COMMIT");
    TimestampTz now = GetCurrentTimestamp();
    if (started)
        end_batch(cur);
    else if (cur != progress_.prev && TimestampDifferenceExceeds(last_advance_, now, 5000))
        end_batch(cur); // nothing new: move on now and then, so the provider can trim
    return any;
}

void
CaptureStream::run()
{
    load_tables();
    publish();
    for (;;) {
        bool any = step();
        confirm();
        TimestampTz now = GetCurrentTimestamp();
        if (TimestampDifferenceExceeds(last_publish_, now, 200) || any)
            publish();
        if (TimestampDifferenceExceeds(last_check_, now, 5000)) {
            last_check_ = now;
            bool wanted = false;
            int32 id = sub_.id;
            int32 generation = sub_.generation;
            worker::in_transaction([&] { wanted = subscription_still_wanted(id, generation); });
            if (!wanted)
                return;
        }
        if (!any)
            (void)worker::wait_latch(capture_poll_ms);
        CHECK_FOR_INTERRUPTS();
    }
}

} // namespace

std::string
capture_consumer(const std::string &subscription_name)
{
    uint64 sysid = pg_call([] { return GetSystemIdentifier(); });
    return "pymigrate_" + std::to_string(sysid) + "_" + std::to_string(MyDatabaseId) + "_" + subscription_name;
}

std::string
capture_consumer(const Subscription &sub)
{
    return capture_consumer(sub.name);
}

void
check_capture_provider(pg::RemoteConnection &conn)
{
    pq::Result r = conn.exec("SELECT pg_catalog.to_regprocedure('pymigrate.capture_start(text,text[],text)') IS NOT "
                             "NULL, pg_catalog.current_setting('track_commit_timestamp')");
    if (r.value(0, 0) != "t")
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "the provider's pymigrate extension has no trigger capture",
                    "Provider: " + conn.description() + ".",
                    "CREATE EXTENSION pymigrate there (or update it to this version).");
}

void
capture_stop_remote(pg::RemoteConnection &conn, const Subscription &sub)
{
    (void)conn.exec("SELECT pymigrate.capture_stop($1)", {capture_consumer(sub)});
}

void
run_capture(Subscription &sub, uint64_t start)
{
    pg::RemoteConnection conn(sub.provider_dsn, "provider of subscription " + sub.name);
    (void)conn.exec("SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET lock_timeout = 0");
    (void)check_provider(conn, sub.tables, false);
    check_capture_provider(conn);
    pq::Result facts = conn.exec("SELECT pg_catalog.current_setting('track_commit_timestamp')::boolean, "
                                 "(SELECT system_identifier FROM pg_catalog.pg_control_system()), "
                                 "(SELECT oid FROM pg_catalog.pg_database WHERE datname = "
                                 "pg_catalog.current_database())");
    // The provider's commit time when it keeps them (what last-write-wins
    // compares), else the time of the transaction's last captured statement.
    std::string commit_time = facts.value(0, 0) == "t"
                                  ? "(extract(epoch FROM coalesce(pg_catalog.pg_xact_commit_timestamp(l.txid::xid), "
                                    "max(l.captured_at) OVER w)) * 1000000)::bigint"
                                  : "(extract(epoch FROM max(l.captured_at) OVER w) * 1000000)::bigint";
    uint64 remote_sysid = std::stoull(std::string(facts.value(0, 1)));
    // What the applied markers name: the provider's database (no slot).
    std::string reader = std::string(proto::kCaptureReaderPrefix) + std::string(facts.value(0, 2));
    std::string consumer = capture_consumer(sub);

    Progress p;
    worker::in_transaction([&] { p = load_progress(sub.id); });
    std::vector<SubscribedTable> to_copy;
    for (const auto &t : sub.tables)
        if (t.state != 'r')
            to_copy.push_back(t);
    if (!p.exists || !to_copy.empty()) {
        // Capture first (its triggers committed: CREATE TRIGGER waits for
        // the tables' writers), then the snapshot of the copy: whatever it
        // does not show is captured.
        std::vector<std::string> names;
        for (const auto &t : sub.tables)
            names.push_back(qualified_name(t.remote_schema, t.remote_table));
        (void)conn.exec("SELECT pymigrate.capture_start($1, $2::text[])", {consumer, pq::array_literal(names)});
        (void)conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        std::string snap(conn.exec("SELECT pg_catalog.pg_current_snapshot()::text").value(0, 0));
        int32 id = sub.id;
        bool first = !p.exists;
        worker::in_transaction([&] {
            std::vector<int64_t> rows;
            if (!to_copy.empty())
                rows = copy_tables_in(conn, sub, to_copy);
            // The first copy's snapshot is where the log starts; a later
            // table's filters that table's changes until batches pass it.
            mark_tables_ready(id, to_copy, 0, rows, first ? "" : snap);
            if (first) {
                pg::Spi spi;
                spi.execute("INSERT INTO pymigrate.capture_progress (subscription_id, prev) VALUES ($1, $2)",
                            {{INT4OID, std::to_string(id)}, {PG_SNAPSHOTOID, snap}});
            }
        });
        (void)conn.exec("COMMIT");
        worker::in_transaction([&] {
            sub = *load_subscription(id);
            p = load_progress(id);
        });
    }
    worker::in_transaction([&] { configure_apply(sub, remote_sysid, reader); });
    apply::SeenOwner owner{};
    owner.subid = sub.id;
    owner.provider_sysid = remote_sysid;
    strlcpy(owner.reader, reader.c_str(), sizeof(owner.reader));
    pg_call([&owner, start] {
        apply::start(1);
        apply::set_pre_commit(record_position, nullptr);
        (void)apply::load_seen_set(owner, start);
        apply::save_seen_set_at_exit(owner);
    });
    update_status(sub.id, [](SubStatus &s) {
        s.phase = Phase::Streaming;
        s.copy_table[0] = '\0';
    });
    CaptureStream stream(sub, conn, consumer, commit_time, p);
    stream.run();
}

} // namespace pymigrate::sync

// pymigrate.capture_consumer_name(subscription): the name this database's
// subscription reads the provider's change log under (what the provider's
// pymigrate.capture_status shows), for tools that look at both sides.
PYMIGRATE_FUNCTION(pymigrate_capture_consumer_name)
{
    Datum arg = PG_GETARG_DATUM(0);
    char *name = pymigrate::pg::pg_call([arg] { return text_to_cstring(DatumGetTextPP(arg)); });
    std::string consumer = pymigrate::sync::capture_consumer(std::string(name));
    const char *s = consumer.c_str();
    return pymigrate::pg::pg_call([s] { return PointerGetDatum(cstring_to_text(s)); });
}

// The initial copy (initial_copy.hpp).
#include "sync/initial_copy.hpp"

#include "pg/guard.hpp"
#include "pg/remote.hpp"
#include "pg/spi.hpp"
#include "sync/options.hpp"
#include "sync/status.hpp"
#include "sync/types.hpp"

#include "common/pq.hpp"

#include <libpq-fe.h>

#include <algorithm>

extern "C" {
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
}

namespace pymigrate::sync {
namespace {

// What the COPY FROM data-source callback reads from: the provider's
// COPY TO STDOUT, one CopyData message (one row) at a time.
struct CopySource {
    PGconn *conn;
    char *buf;
    int len;
    int pos;
    bool done;
    uint64 messages;
    int32 subid;
};

CopySource src;

void
publish_rows(uint64 rows)
{
    update_status(src.subid, [rows](SubStatus &s) { s.copy_rows = rows; });
}

// copy_data_source_cb: at least minread bytes unless the data ended.
// PostgreSQL-style (called from CopyFrom): errors are ereports.
int
read_copy_data(void *outbuf, int minread, int maxread)
{
    char *out = static_cast<char *>(outbuf);
    int bytes = 0;
    for (;;) {
        if (src.pos < src.len) {
            int n = Min(src.len - src.pos, maxread - bytes);
            memcpy(out + bytes, src.buf + src.pos, n);
            src.pos += n;
            bytes += n;
            if (bytes >= minread || bytes == maxread)
                return bytes;
            continue;
        }
        if (src.done)
            return bytes;
        if (src.buf) {
            PQfreemem(src.buf);
            src.buf = nullptr;
        }
        src.len = src.pos = 0;
        int n = PQgetCopyData(src.conn, &src.buf, 1);
        if (n > 0) {
            src.len = n;
            if (++src.messages % 1024 == 0)
                publish_rows(src.messages);
            continue;
        }
        if (n == -1) {
            src.done = true;
            continue;
        }
        if (n == -2)
            ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE),
                            errmsg("could not read the initial copy from the provider: %s", PQerrorMessage(src.conn))));
        // Nothing buffered: sleep on the socket and the latch.
        int rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                                   PQsocket(src.conn), 1000, PG_WAIT_EXTENSION);
        if (rc & WL_LATCH_SET)
            ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        if (PQconsumeInput(src.conn) == 0)
            ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE),
                            errmsg("could not read the initial copy from the provider: %s", PQerrorMessage(src.conn))));
    }
}

// COPY FROM into the local table, fed by read_copy_data. PostgreSQL-style.
uint64
copy_into_local(const char *schema, const char *table, char **columns, int ncolumns, bool binary)
{
    Relation rel = table_openrv(makeRangeVar(pstrdup(schema), pstrdup(table), -1), RowExclusiveLock);
    ParseState *pstate = make_parsestate(nullptr);
    (void)addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, nullptr, false, false);
    List *attnames = NIL;
    for (int i = 0; i < ncolumns; ++i)
        attnames = lappend(attnames, makeString(pstrdup(columns[i])));
    List *options = NIL;
    if (binary)
        options =
            list_make1(makeDefElem(pstrdup("format"), reinterpret_cast<Node *>(makeString(pstrdup("binary"))), -1));
    CopyFromState cstate = BeginCopyFrom(pstate, rel, nullptr, nullptr, false, read_copy_data, attnames, options);
    uint64 rows = CopyFrom(cstate);
    EndCopyFrom(cstate);
    table_close(rel, NoLock);
    free_parsestate(pstate);
    return rows;
}

struct Column {
    std::string name;
    std::string type_name;
};

std::vector<Column>
remote_columns(pg::RemoteConnection &conn, const SubscribedTable &t)
{
    pq::Result r = conn.exec("SELECT a.attname, tn.nspname || '.' || ty.typname "
                             "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid "
                             "JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace "
                             "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                             "AND a.attgenerated = '' ORDER BY a.attnum",
                             {qualified_name(t.remote_schema, t.remote_table)});
    std::vector<Column> out;
    for (int i = 0; i < r.rows(); ++i)
        out.push_back({std::string(r.value(i, 0)), std::string(r.value(i, 1))});
    return out;
}

// A provider column and the local column it is copied into.
struct CopyPair {
    std::string remote;
    std::string local;
    bool binary;
};

// The columns to copy, as the apply worker pairs them (apply_relmap.cpp):
// mapped, else the same name unless that provider column is mapped or
// ignored. Local columns without a provider column take their defaults.
std::vector<CopyPair>
copy_pairs(pg::Spi &spi, const SubscribedTable &t, const std::vector<Column> &remote)
{
    TableOptions o = parse_table_options(t.options, "table_options of " + qualified_name(t.local_schema,
                                                                                          t.local_table));
    std::string local = qualified_name(t.local_schema, t.local_table);
    auto rows = spi.query("SELECT a.attname, a.atttypid, tn.nspname || '.' || ty.typname "
                          "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid "
                          "JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace "
                          "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                          "AND a.attgenerated = '' ORDER BY a.attnum",
                          {{TEXTOID, local}}, true);
    std::vector<CopyPair> pairs;
    std::vector<bool> used(remote.size(), false);
    for (const auto &r : rows) {
        const std::string &name = *r[0];
        std::string want = name;
        if (o.columns.count(name)) {
            want = o.columns.at(name);
        } else {
            bool taken = std::find(o.ignore.begin(), o.ignore.end(), name) != o.ignore.end();
            for (const auto &[l, rem] : o.columns)
                taken = taken || rem == name;
            if (taken)
                continue;
        }
        for (size_t k = 0; k < remote.size(); ++k) {
            if (remote[k].name != want)
                continue;
            Oid type = static_cast<Oid>(std::stoul(*r[1]));
            bool portable = pg::pg_call([type] { return binary_portable(type); });
            pairs.push_back({want, name, portable && *r[2] == remote[k].type_name});
            used[k] = true;
        }
    }
    for (size_t k = 0; k < remote.size(); ++k)
        if (!used[k] && std::find(o.ignore.begin(), o.ignore.end(), remote[k].name) == o.ignore.end())
            throw pg::Error(ERRCODE_UNDEFINED_COLUMN,
                            "table " + local + " has no column for the provider's column \"" + remote[k].name + "\"",
                            {}, "Add the column here, map it (table_options \"columns\"), or list it in \"ignore\"; "
                                "then the copy starts over.");
    return pairs;
}

} // namespace

std::vector<int64_t>
copy_tables(const Subscription &sub, const std::vector<SubscribedTable> &tables, const std::string &snapshot)
{
    pg::RemoteConnection conn(sub.provider_dsn, "provider of subscription " + sub.name + " (initial copy)");
    // A copy may take hours: the provider's own timeouts must not end it.
    (void)conn.exec("SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0");
    (void)conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    (void)conn.exec("SET TRANSACTION SNAPSHOT " + pq::quote_literal(snapshot));
    std::vector<int64_t> rows = copy_tables_in(conn, sub, tables);
    (void)conn.exec("COMMIT");
    return rows;
}

std::vector<int64_t>
copy_tables_in(pg::RemoteConnection &conn, const Subscription &sub, const std::vector<SubscribedTable> &tables)
{
    int32_t subid = sub.id;
    int total = static_cast<int>(tables.size());
    update_status(subid, [total](SubStatus &s) {
        s.phase = Phase::Copying;
        s.copy_tables_total = total;
        s.copy_tables_done = 0;
        s.copy_rows = 0;
    });
    std::vector<int64_t> rows;
    pg::Spi spi;
    for (const auto &t : tables) {
        std::string local = qualified_name(t.local_schema, t.local_table);
        update_status(subid, [&local](SubStatus &s) {
            strlcpy(s.copy_table, local.c_str(), sizeof(s.copy_table));
            s.copy_rows = 0;
        });
        auto pairs = copy_pairs(spi, t, remote_columns(conn, t));
        // Binary COPY when every column has the same type on both sides and
        // a portable binary form.
        bool binary = !pairs.empty();
        std::string select;
        std::vector<std::string> names;
        for (const auto &p : pairs) {
            binary = binary && p.binary;
            select += (select.empty() ? "" : ", ") + pq::quote_ident(p.remote);
            names.push_back(p.local);
        }
        if (select.empty())
            throw pg::Error(ERRCODE_UNDEFINED_COLUMN, "table " + local + " shares no column with the provider's " +
                                                          qualified_name(t.remote_schema, t.remote_table));
        std::string sql = "COPY (SELECT " + select + " FROM ONLY " + qualified_name(t.remote_schema, t.remote_table) +
                          ") TO STDOUT" + (binary ? " (FORMAT binary)" : "");
        if (!PQsendQuery(conn.get(), sql.c_str()))
            conn.raise(nullptr, "starting the copy of " + local);
        pq::Result started = conn.finish_command("starting the copy of " + local);
        if (PQresultStatus(started.get()) != PGRES_COPY_OUT)
            throw pg::Error(ERRCODE_PROTOCOL_VIOLATION, "the provider did not start COPY OUT for " + local);
        std::vector<char *> cols;
        for (auto &n : names)
            cols.push_back(n.data());
        src = CopySource{conn.get(), nullptr, 0, 0, false, 0, subid};
        struct FreeBuffer {
            ~FreeBuffer()
            {
                if (src.buf)
                    PQfreemem(src.buf);
                src.buf = nullptr;
            }
        } free_buffer;
        const char *schema = t.local_schema.c_str();
        const char *table = t.local_table.c_str();
        char **colv = cols.data();
        int ncols = static_cast<int>(cols.size());
        uint64 copied = pg::pg_call([=] { return copy_into_local(schema, table, colv, ncols, binary); });
        (void)conn.finish_command("finishing the copy of " + local);
        rows.push_back(static_cast<int64_t>(copied));
        update_status(subid, [copied](SubStatus &s) {
            ++s.copy_tables_done;
            s.copy_rows = copied;
        });
    }
    return rows;
}

} // namespace pymigrate::sync

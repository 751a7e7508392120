// The SQLite source: tables, columns, keys and foreign keys from SQLite's
// own pragmas (read-only), row counts by counting.
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <memory>

#include "analyzer/column_type.hpp"
#include "analyzer/sources.hpp"
#include "common/pq.hpp"

namespace pymigrate::analyzer
{
namespace
{

struct DbCloser {
    void
    operator()(sqlite3 *db) const noexcept
    {
        sqlite3_close(db);
    }
};
struct StmtFinalizer {
    void
    operator()(sqlite3_stmt *s) const noexcept
    {
        sqlite3_finalize(s);
    }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

std::string
text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? reinterpret_cast<const char *>(t) : "";
}

class Reader
{
  public:
    Reader(sqlite3 *db, const std::string &path) : db_(db), path_(path) {}

    // Runs `sql` with one text parameter (or none), calling `row` per row.
    template <typename F>
    void
    query(const std::string &sql, const std::string *param, F row)
    {
        sqlite3_stmt *raw = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
            throw SourceError(path_ + ": " + sqlite3_errmsg(db_));
        Stmt s(raw);
        if (param)
            sqlite3_bind_text(s.get(), 1, param->c_str(), -1, SQLITE_TRANSIENT);
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
            row(s.get());
        if (rc != SQLITE_DONE)
            throw SourceError(path_ + ": " + sqlite3_errmsg(db_));
    }

  private:
    sqlite3 *db_;
    std::string path_;
};

} // namespace

Source
load_sqlite(const std::string &path)
{
    sqlite3 *raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    Db db(raw);
    if (rc != SQLITE_OK)
        throw SourceError("cannot open SQLite database " + path + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory"));
    Reader r(db.get(), path);
    Source src;
    Model &m = src.model;
    m.source = "sqlite: " + path;
    std::vector<std::string> names;
    r.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name",
            nullptr, [&](sqlite3_stmt *s) { names.push_back(text(s, 0)); });
    struct RawFk {
        std::string table, ref;
        std::vector<std::string> from, to;
    };
    std::vector<RawFk> fks;
    for (const auto &name : names) {
        Table t;
        t.name = name;
        std::vector<std::pair<int, std::string>> pk;
        r.query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid", &name,
                [&](sqlite3_stmt *s) {
                    Column c;
                    c.name = text(s, 0);
                    c.type = sqlite_column_type(text(s, 1));
                    c.not_null = sqlite3_column_int(s, 2) != 0;
                    if (sqlite3_column_type(s, 3) != SQLITE_NULL)
                        c.default_expr = text(s, 3);
                    if (int k = sqlite3_column_int(s, 4))
                        pk.emplace_back(k, c.name);
                    t.columns.push_back(c);
                });
        if (!pk.empty()) {
            std::sort(pk.begin(), pk.end());
            Key k{name + "_pkey", {}};
            for (const auto &[i, col] : pk)
                k.columns.push_back(col);
            t.primary_key = k;
            for (auto &c : t.columns)
                for (const auto &kc : k.columns)
                    if (c.name == kc)
                        c.not_null = true;
            // INTEGER PRIMARY KEY is the rowid: SQLite assigns it.
            if (k.columns.size() == 1)
                for (auto &c : t.columns)
                    if (c.name == k.columns[0] && c.type.kind == TypeKind::BigInt)
                        c.identity = true;
        }
        std::vector<std::string> unique_indexes;
        r.query("SELECT name FROM pragma_index_list(?) WHERE \"unique\" AND origin <> 'pk' ORDER BY name", &name,
                [&](sqlite3_stmt *s) { unique_indexes.push_back(text(s, 0)); });
        for (const auto &ix : unique_indexes) {
            Key k{ix, {}};
            r.query("SELECT name FROM pragma_index_info(?) ORDER BY seqno", &ix,
                    [&](sqlite3_stmt *s) { k.columns.push_back(text(s, 0)); });
            if (!k.columns.empty() &&
                std::none_of(k.columns.begin(), k.columns.end(), [](auto &c) { return c.empty(); }))
                t.unique_keys.push_back(k);
        }
        std::map<int, RawFk> by_id;
        r.query("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?) ORDER BY id, seq", &name,
                [&](sqlite3_stmt *s) {
                    RawFk &fk = by_id[sqlite3_column_int(s, 0)];
                    fk.table = name;
                    fk.ref = text(s, 1);
                    fk.from.push_back(text(s, 2));
                    fk.to.push_back(text(s, 3)); // empty: the referenced table's primary key
                });
        for (auto &[id, fk] : by_id)
            fks.push_back(fk);
        r.query("SELECT count(*) FROM " + pq::quote_ident(name), nullptr,
                [&](sqlite3_stmt *s) { t.rows = sqlite3_column_int64(s, 0); });
        m.schema.tables.push_back(std::move(t));
    }
    m.schema.sort();
    for (auto &fk : fks) {
        const Table *from = m.schema.resolve("", fk.table);
        const Table *to = m.schema.resolve("", fk.ref);
        if (!from || !to) {
            m.warnings.push_back("foreign key of " + fk.table + " references missing table " + fk.ref + ": left out");
            continue;
        }
        if (std::any_of(fk.to.begin(), fk.to.end(), [](auto &c) { return c.empty(); }) && to->primary_key)
            fk.to = to->primary_key->columns;
        m.schema.foreign_keys.push_back({from->name + "_" + fk.ref + "_fkey", from->key(), fk.from, to->key(), fk.to});
    }
    m.schema.sort();
    m.warnings.push_back("SQLite source: CHECK constraints and enum-like lists are not read (SQLite keeps them only "
                         "as text); types are mapped by SQLite's affinity rules");
    return src;
}

} // namespace pymigrate::analyzer

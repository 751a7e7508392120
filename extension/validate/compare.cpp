#include "validate/compare.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "access/htup_details.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
}

#include <algorithm>
#include <map>

#include "validate/row_fetch.hpp"
#include "validate/table_scan.hpp"

namespace pymigrate::validate {

using pg::Error;
using pg::pg_call;
namespace enc = pymigrate::rowenc;

namespace {

constexpr int kMergeBatch = 100000;

// This side's rows sorted by key hash, through an SPI cursor (the sort
// spills to disk beyond work_mem instead of holding the table in memory).
class LocalSortedRows {
  public:
    LocalSortedRows(const TablePlan &plan, Snapshot snapshot)
    {
        std::string sql = "SELECT key_hash, row_hash, rel, tid FROM pymigrate._row_refs(" +
                          std::to_string(plan.relid) + "::pg_catalog.regclass, " +
                          quoted(pq::array_literal(plan.value_names())) + "::text[], " +
                          quoted(pq::array_literal(plan.key_names())) + "::text[]) ORDER BY key_hash";
        const char *src = sql.c_str();
        portal_ = pg_call([src, snapshot] {
            PushActiveSnapshot(snapshot);
            Portal p = SPI_cursor_open_with_args(nullptr, src, 0, nullptr, nullptr, nullptr, true,
                                                 CURSOR_OPT_NO_SCROLL);
            PopActiveSnapshot();
            return p;
        });
    }
    ~LocalSortedRows()
    {
        try {
            Portal p = portal_;
            pg_call([p] { SPI_cursor_close(p); });
        } catch (...) {
            // The transaction is being aborted; it drops the portal.
        }
    }
    std::vector<RowRef> fetch(int rows)
    {
        Portal p = portal_;
        pg_call([p, rows] { SPI_cursor_fetch(p, true, rows); });
        SPITupleTable *t = SPI_tuptable;
        uint64 n = SPI_processed;
        std::vector<RowRef> out(n);
        RowRef *o = out.data();
        pg_call([t, n, o] {
            for (uint64 i = 0; i < n; ++i) {
                bool isnull;
                HeapTuple tup = t->vals[i];
                o[i].key_hash = static_cast<uint64_t>(DatumGetInt64(heap_getattr(tup, 1, t->tupdesc, &isnull)));
                o[i].row_hash = static_cast<uint64_t>(DatumGetInt64(heap_getattr(tup, 2, t->tupdesc, &isnull)));
                o[i].rel = DatumGetObjectId(heap_getattr(tup, 3, t->tupdesc, &isnull));
                auto *tid = reinterpret_cast<ItemPointer>(DatumGetPointer(heap_getattr(tup, 4, t->tupdesc, &isnull)));
                o[i].block = ItemPointerGetBlockNumberNoCheck(tid);
                o[i].offset = ItemPointerGetOffsetNumberNoCheck(tid);
            }
            SPI_freetuptable(t);
        });
        return out;
    }

  private:
    static std::string quoted(const std::string &s)
    {
        const char *c = s.c_str();
        char *q = pg_call([c] { return quote_literal_cstr(c); });
        return q;
    }
    Portal portal_;
};

Candidates
merge_all_rows(const TablePlan &plan, const RemoteTable &remote, RemoteSide &side, Snapshot snapshot)
{
    pg::Spi spi;
    LocalSortedRows local(plan, snapshot);
    side.open_merge(remote);
    SortedMerge merge;
    // Both sides sort before their first row: let them do it at the same time.
    side.send_merge_fetch(kMergeBatch);
    auto first = local.fetch(kMergeBatch);
    bool local_last = first.size() < static_cast<size_t>(kMergeBatch);
    merge.push_local(std::move(first), local_last);
    auto remote_first = side.finish_merge_fetch();
    bool remote_last = remote_first.size() < static_cast<size_t>(kMergeBatch);
    merge.push_remote(std::move(remote_first), remote_last);
    for (;;) {
        auto need = merge.need();
        if (need == SortedMerge::Need::Nothing)
            break;
        if (need == SortedMerge::Need::Local) {
            auto rows = local.fetch(kMergeBatch);
            bool last = rows.size() < static_cast<size_t>(kMergeBatch);
            merge.push_local(std::move(rows), last);
        } else {
            side.send_merge_fetch(kMergeBatch);
            auto rows = side.finish_merge_fetch();
            bool last = rows.size() < static_cast<size_t>(kMergeBatch);
            merge.push_remote(std::move(rows), last);
        }
    }
    side.close_merge();
    return merge.finish();
}

std::vector<FetchedRow>
rows_of(std::vector<KeyedRow> keyed)
{
    std::vector<FetchedRow> out;
    out.reserve(keyed.size());
    for (auto &k : keyed)
        out.push_back(std::move(k.row));
    return out;
}

} // namespace

TableComparison
compare_table(const TablePlan &plan, const RemoteTable &remote, RemoteSide &side, Snapshot snapshot,
              const CompareOptions &options)
{
    TableComparison out;
    RemoteTableInfo info = side.table_info(remote);
    out.buckets = options.buckets ? *options.buckets : default_buckets(std::max(plan.estimated_rows, info.estimated_rows));
    int workers = choose_workers(plan, options.parallel ? *options.parallel : -1);

    side.send_digest(remote, out.buckets, options.parallel);
    auto local_digest = digest_table(plan, out.buckets, snapshot, workers);
    auto remote_digest = side.finish_digest(out.buckets);

    std::vector<int32_t> which;
    std::vector<bool> mask(out.buckets, false);
    for (uint32_t b = 0; b < out.buckets; ++b) {
        out.local_rows += local_digest[b].count;
        out.remote_rows += remote_digest[b].count;
        if (!(local_digest[b] == remote_digest[b])) {
            which.push_back(static_cast<int32_t>(b));
            mask[b] = true;
        }
    }
    out.differing_buckets = static_cast<uint32_t>(which.size());
    out.rows_compared = out.local_rows;
    if (which.empty())
        return out;

    Candidates candidates;
    if (static_cast<double>(which.size()) > options.merge_ratio * out.buckets) {
        out.merged = true;
        candidates = merge_all_rows(plan, remote, side, snapshot);
    } else {
        side.send_bucket_rows(remote, out.buckets, which);
        auto local_rows = bucket_row_refs(plan, out.buckets, mask, snapshot);
        auto remote_rows = side.finish_bucket_rows();
        candidates = match_rows(std::move(local_rows), std::move(remote_rows));
    }

    side.send_rows_at(remote, candidates.remote, options.with_images);
    auto local_fetched = fetch_rows_at(plan, candidates.local, snapshot, options.with_images);
    auto remote_fetched = rows_of(side.finish_rows());
    out.differences = classify(std::move(local_fetched), std::move(remote_fetched));
    for (const auto &d : out.differences)
        if (d.kind == DiffKind::Extra)
            ++out.rows_compared;
    return out;
}

std::vector<Recheck>
recheck_keys(const TablePlan &plan, const RemoteTable &remote, RemoteSide &side, Snapshot snapshot,
             const std::vector<Difference> &differences, bool with_images)
{
    std::vector<std::string> keys;
    keys.reserve(differences.size());
    for (const auto &d : differences)
        keys.push_back(d.key_json);
    side.send_rows_by_key(remote, keys, with_images, false);
    auto local = fetch_rows_by_key(plan, keys, snapshot, with_images, false);
    auto remote_rows = side.finish_rows();

    std::map<size_t, FetchedRow *> l, r;
    for (auto &k : local)
        l[k.index] = &k.row;
    for (auto &k : remote_rows)
        r[k.index] = &k.row;
    std::vector<Recheck> out(differences.size());
    for (size_t i = 0; i < differences.size(); ++i) {
        FetchedRow *a = l.count(i) ? l[i] : nullptr;
        FetchedRow *b = r.count(i) ? r[i] : nullptr;
        Recheck &c = out[i];
        c.now.key_enc = differences[i].key_enc;
        c.now.key_json = differences[i].key_json;
        c.resolved = (!a && !b) || (a && b && a->key_enc == b->key_enc && a->row_hash == b->row_hash);
        c.now.kind = c.resolved ? differences[i].kind
                     : a && b   ? DiffKind::Changed
                     : a        ? DiffKind::Missing
                                : DiffKind::Extra;
        if (a) {
            c.now.local_hash = a->row_hash;
            c.now.local_xmin = a->xmin;
            c.now.local_image = a->image;
        }
        if (b) {
            c.now.remote_hash = b->row_hash;
            c.now.remote_xmin = b->xmin;
            c.now.remote_image = b->image;
        }
    }
    return out;
}

} // namespace pymigrate::validate

#include "validate/table_scan.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "optimizer/cost.h"
#include "optimizer/paths.h"
#include "storage/shm_toc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

#include <algorithm>
#include <cmath>

#include "validate/datum_encode.hpp"

namespace pymigrate::validate {

using pg::Error;
using pg::pg_call;
namespace enc = pymigrate::rowenc;

namespace {

// Scratch for one pass: the encode buffer and the per-row memory context,
// both children of the caller's context so an error frees them with it.
struct ScanScratch {
    MemoryContext scan_cxt;
    MemoryContext row_cxt;
    EncodeBuffer buf;
};

ScanScratch
make_scratch()
{
    ScanScratch s{};
    pg_call([&s] {
        s.scan_cxt = AllocSetContextCreate(CurrentMemoryContext, "pymigrate scan", ALLOCSET_DEFAULT_SIZES);
        s.row_cxt = AllocSetContextCreate(s.scan_cxt, "pymigrate row", ALLOCSET_DEFAULT_SIZES);
        s.buf.init(s.scan_cxt);
    });
    return s;
}

void
drop_scratch(ScanScratch &s)
{
    MemoryContext cxt = s.scan_cxt;
    pg_call([cxt] { MemoryContextDelete(cxt); });
}

int
last_attnum(const std::vector<short> &attnums, size_t from, size_t to)
{
    int m = 0;
    for (size_t i = from; i < to; ++i)
        m = std::max<int>(m, attnums[i]);
    return m;
}

// The scan loop, run inside pg_call: no C++ object is created in it. For
// each row: deform up to the last key column, hash the key, and only if
// `want(bucket)` deform the rest and hash the row, then `on_row`.
template <typename Want, typename OnRow>
void
scan_loop(Relation rel, TableScanDesc scan, const TablePlan &plan, const short *attnums, int key_att, int row_att,
          uint32_t buckets, ScanScratch &s, Want &&want, OnRow &&on_row)
{
    TupleTableSlot *slot = table_slot_create(rel, nullptr);
    uint64 n = 0;
    Oid relid = RelationGetRelid(rel);
    size_t nkey = plan.key.size();
    while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
        if ((++n & 4095) == 0)
            CHECK_FOR_INTERRUPTS();
        MemoryContext old = MemoryContextSwitchTo(s.row_cxt);
        slot_getsomeattrs(slot, key_att);
        s.buf.clear();
        for (size_t i = 0; i < nkey; ++i) {
            int a = attnums[i] - 1;
            encode_value(s.buf, plan.key[i].codec, slot->tts_values[a], slot->tts_isnull[a]);
        }
        uint64_t key_hash = enc::hash_bytes(s.buf.data(), s.buf.size());
        uint32_t bucket = enc::bucket_of(key_hash, buckets);
        if (want(bucket)) {
            slot_getsomeattrs(slot, row_att);
            for (size_t i = 0; i < plan.values.size(); ++i) {
                int a = attnums[nkey + i] - 1;
                encode_value(s.buf, plan.values[i].codec, slot->tts_values[a], slot->tts_isnull[a]);
            }
            RowRef ref{key_hash, enc::hash_bytes(s.buf.data(), s.buf.size()), relid,
                       ItemPointerGetBlockNumber(&slot->tts_tid), ItemPointerGetOffsetNumber(&slot->tts_tid)};
            on_row(ref, bucket, slot);
        }
        MemoryContextSwitchTo(old);
        MemoryContextReset(s.row_cxt);
    }
    ExecDropSingleTupleTableSlot(slot);
}

// Scans every leaf of the plan's table in `snapshot`.
template <typename Want, typename OnRow>
void
scan_table(const TablePlan &plan, uint32_t buckets, Snapshot snapshot, Want &&want, OnRow &&on_row)
{
    ScanScratch s = make_scratch();
    for (Oid leaf : scan_targets(plan)) {
        Relation rel = pg_call([leaf] { return table_open(leaf, AccessShareLock); });
        std::vector<short> attnums;
        try {
            attnums = attnums_in(plan, rel);
        } catch (...) {
            pg_call([rel] { table_close(rel, NoLock); });
            throw;
        }
        int key_att = last_attnum(attnums, 0, plan.key.size());
        int row_att = last_attnum(attnums, 0, attnums.size());
        const short *att = attnums.data();
        pg_call([&] {
            TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
            scan_loop(rel, scan, plan, att, key_att, row_att, buckets, s, want,
                      [&](const RowRef &ref, uint32_t bucket, TupleTableSlot *slot) { on_row(ref, bucket, slot, att); });
            table_endscan(scan);
            table_close(rel, NoLock);
        });
    }
    drop_scratch(s);
}

// ---- parallel digest -------------------------------------------------------------

constexpr uint64 kKeyShared = UINT64CONST(0x706D5F6469670001);
constexpr uint64 kKeyScan = UINT64CONST(0x706D5F6469670002);
constexpr uint64 kKeyResults = UINT64CONST(0x706D5F6469670003);

// What a worker needs to rebuild the plan: the columns by attnum and type.
struct DigestShared {
    Oid relid;
    uint32 buckets;
    int nkey;
    int ncols;
    int nworkers;
    short attnums[FLEXIBLE_ARRAY_MEMBER]; // ncols attnums, then (aligned) ncols type oids
};

Size
shared_size(int ncols)
{
    return MAXALIGN(offsetof(DigestShared, attnums) + sizeof(short) * ncols) + sizeof(Oid) * ncols;
}

Oid *
shared_types(DigestShared *sh)
{
    return reinterpret_cast<Oid *>(reinterpret_cast<char *>(sh) +
                                   MAXALIGN(offsetof(DigestShared, attnums) + sizeof(short) * sh->ncols));
}

void
add_digest(enc::BucketDigest *digest, uint32_t buckets, const TablePlan &plan, Relation rel, TableScanDesc scan,
           const short *attnums, ScanScratch &s)
{
    int key_att = 0, row_att = 0;
    for (size_t i = 0; i < plan.key.size() + plan.values.size(); ++i) {
        if (i < plan.key.size())
            key_att = std::max<int>(key_att, attnums[i]);
        row_att = std::max<int>(row_att, attnums[i]);
    }
    scan_loop(rel, scan, plan, attnums, key_att, row_att, buckets, s, [](uint32_t) { return true; },
              [digest](const RowRef &ref, uint32_t bucket, TupleTableSlot *) { digest[bucket].add(ref.row_hash); });
}

TablePlan
plan_from_shared(DigestShared *sh)
{
    TablePlan plan;
    plan.relid = sh->relid;
    Oid *types = shared_types(sh);
    for (int i = 0; i < sh->ncols; ++i) {
        PlannedColumn c;
        c.attnum = sh->attnums[i];
        c.type = types[i];
        c.codec = make_codec(types[i], "column " + std::to_string(c.attnum));
        (i < sh->nkey ? plan.key : plan.values).push_back(std::move(c));
    }
    return plan;
}

void
digest_worker(shm_toc *toc)
{
    auto *sh = static_cast<DigestShared *>(pg_call([toc] { return shm_toc_lookup(toc, kKeyShared, false); }));
    auto *pscan = static_cast<ParallelTableScanDesc>(pg_call([toc] { return shm_toc_lookup(toc, kKeyScan, false); }));
    auto *results = static_cast<enc::BucketDigest *>(pg_call([toc] { return shm_toc_lookup(toc, kKeyResults, false); }));
    TablePlan plan = plan_from_shared(sh);
    enc::BucketDigest *mine = results + static_cast<size_t>(ParallelWorkerNumber) * sh->buckets;
    ScanScratch s = make_scratch();
    pg_call([&] {
        Relation rel = table_open(sh->relid, AccessShareLock);
        TableScanDesc scan = table_beginscan_parallel(rel, pscan);
        add_digest(mine, sh->buckets, plan, rel, scan, sh->attnums, s);
        table_endscan(scan);
        table_close(rel, AccessShareLock);
    });
    drop_scratch(s);
}

std::vector<enc::BucketDigest>
digest_parallel(const TablePlan &plan, uint32_t buckets, Snapshot snapshot, int workers)
{
    int ncols = static_cast<int>(plan.key.size() + plan.values.size());
    std::vector<short> attnums;
    std::vector<Oid> types;
    for (const auto *list : {&plan.key, &plan.values})
        for (const auto &c : *list) {
            attnums.push_back(c.attnum);
            types.push_back(c.type);
        }
    std::vector<enc::BucketDigest> total(buckets);
    Oid relid = plan.relid;
    Size results_size = sizeof(enc::BucketDigest) * buckets * static_cast<Size>(workers);
    ScanScratch s = make_scratch();
    pg_call([&] {
        Relation rel = table_open(relid, AccessShareLock);
        EnterParallelMode();
        ParallelContext *pcxt = CreateParallelContext("pymigrate", "pymigrate_digest_worker", workers);
        Size scan_size = table_parallelscan_estimate(rel, snapshot);
        shm_toc_estimate_chunk(&pcxt->estimator, shared_size(ncols));
        shm_toc_estimate_chunk(&pcxt->estimator, scan_size);
        shm_toc_estimate_chunk(&pcxt->estimator, results_size);
        shm_toc_estimate_keys(&pcxt->estimator, 3);
        InitializeParallelDSM(pcxt);

        auto *sh = static_cast<DigestShared *>(shm_toc_allocate(pcxt->toc, shared_size(ncols)));
        sh->relid = relid;
        sh->buckets = buckets;
        sh->nkey = static_cast<int>(plan.key.size());
        sh->ncols = ncols;
        sh->nworkers = workers;
        memcpy(sh->attnums, attnums.data(), sizeof(short) * ncols);
        memcpy(shared_types(sh), types.data(), sizeof(Oid) * ncols);
        shm_toc_insert(pcxt->toc, kKeyShared, sh);
        auto pscan = static_cast<ParallelTableScanDesc>(shm_toc_allocate(pcxt->toc, scan_size));
        table_parallelscan_initialize(rel, pscan, snapshot);
        shm_toc_insert(pcxt->toc, kKeyScan, pscan);
        auto *results = static_cast<enc::BucketDigest *>(shm_toc_allocate(pcxt->toc, results_size));
        memset(static_cast<void *>(results), 0, results_size);
        shm_toc_insert(pcxt->toc, kKeyResults, results);

        LaunchParallelWorkers(pcxt);
        // The leader scans too, into its own array.
        TableScanDesc scan = table_beginscan_parallel(rel, pscan);
        add_digest(total.data(), buckets, plan, rel, scan, attnums.data(), s);
        table_endscan(scan);
        WaitForParallelWorkersToFinish(pcxt);
        for (int w = 0; w < pcxt->nworkers_launched; ++w)
            for (uint32_t b = 0; b < buckets; ++b)
                total[b].merge(results[static_cast<size_t>(w) * buckets + b]);
        DestroyParallelContext(pcxt);
        ExitParallelMode();
        table_close(rel, NoLock);
    });
    drop_scratch(s);
    return total;
}

} // namespace

uint32_t
default_buckets(double rows)
{
    uint32_t b = 1;
    while (b < (1u << 15) && b * 32.0 < rows)
        b <<= 1;
    return b;
}

int
choose_workers(const TablePlan &plan, int requested)
{
    if (plan.relkind == RELKIND_PARTITIONED_TABLE)
        return 0; // leaves are scanned one after the other
    if (requested >= 0)
        return std::min(requested, 64);
    double threshold = std::max(1, min_parallel_table_scan_size);
    if (plan.pages < threshold)
        return 0;
    int workers = 1;
    for (double t = threshold * 3; plan.pages >= t && workers < 64; t *= 3)
        ++workers;
    return std::min(workers, max_parallel_workers_per_gather);
}

std::vector<enc::BucketDigest>
digest_table(const TablePlan &plan, uint32_t buckets, Snapshot snapshot, int workers)
{
    if (workers > 0 && plan.relkind != RELKIND_PARTITIONED_TABLE)
        return digest_parallel(plan, buckets, snapshot, workers);
    std::vector<enc::BucketDigest> digest(buckets);
    enc::BucketDigest *d = digest.data();
    scan_table(plan, buckets, snapshot, [](uint32_t) { return true; },
               [d](const RowRef &ref, uint32_t bucket, TupleTableSlot *, const short *) { d[bucket].add(ref.row_hash); });
    return digest;
}

std::vector<RowRef>
bucket_row_refs(const TablePlan &plan, uint32_t buckets, const std::vector<bool> &which, Snapshot snapshot)
{
    // Collected in palloc'd memory: growing a std::vector inside the scan
    // could throw across PG_TRY.
    struct Acc {
        RowRef *rows;
        size_t n, cap;
    } acc{nullptr, 0, 0};
    std::vector<char> mask(which.begin(), which.end());
    const char *m = mask.data();
    pg_call([&acc] {
        acc.cap = 1024;
        acc.rows = static_cast<RowRef *>(palloc(sizeof(RowRef) * acc.cap));
    });
    scan_table(plan, buckets, snapshot, [m](uint32_t b) { return m[b] != 0; },
               [&acc](const RowRef &ref, uint32_t, TupleTableSlot *, const short *) {
                   if (acc.n == acc.cap) {
                       acc.cap *= 2;
                       acc.rows = static_cast<RowRef *>(repalloc_huge(acc.rows, sizeof(RowRef) * acc.cap));
                   }
                   acc.rows[acc.n++] = ref;
               });
    std::vector<RowRef> out(acc.rows, acc.rows + acc.n);
    RowRef *p = acc.rows;
    pg_call([p] { pfree(p); });
    return out;
}

void
visit_rows(const TablePlan &plan, uint32_t buckets, const std::vector<bool> &which, Snapshot snapshot,
           RowVisitor on_row, void *arg)
{
    std::vector<char> mask(which.begin(), which.end());
    const char *m = mask.data();
    bool all = which.empty();
    scan_table(plan, buckets, snapshot, [m, all](uint32_t b) { return all || m[b] != 0; },
               [on_row, arg](const RowRef &ref, uint32_t bucket, TupleTableSlot *slot, const short *attnums) {
                   on_row(arg, ref, bucket, slot, attnums);
               });
}

} // namespace pymigrate::validate

// Entry point of a parallel digest worker (CreateParallelContext looks it up
// by name in this library).
extern "C" PGDLLEXPORT void pymigrate_digest_worker(dsm_segment *seg, shm_toc *toc);

void
pymigrate_digest_worker(dsm_segment *, shm_toc *toc)
{
    pymigrate::pg::boundary("pymigrate_digest_worker", [toc] { pymigrate::validate::digest_worker(toc); });
}

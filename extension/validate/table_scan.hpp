// One pass over a table's rows in a given snapshot: the digest (per bucket
// count, sum and xor of row hashes), or the rows of chosen buckets. Only the
// planned columns are deformed (up to the last one needed); each row is
// encoded and hashed in a memory context reset after it.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/row_encoding.hpp"
#include "validate/classify.hpp"
#include "validate/column_plan.hpp"

extern "C" {
struct TupleTableSlot;
}

namespace pymigrate::validate {

// Buckets for a table of about `rows` rows when the caller does not say:
// about 32 rows per bucket (a differing bucket costs that many rows to
// re-read), a power of two, at most 2^15. The digest array (24 bytes a
// bucket) is updated at a random place for every row: at 2^15 buckets it
// fits in a core's L2 cache; at 2^17 a 10M-row digest took 1.3-1.7x longer
// on the benchmark machine, more than re-reading bigger buckets costs.
uint32_t default_buckets(double rows);

// Parallel workers for a digest of `plan`: `requested` when >= 0 (0: scan in
// this process), otherwise chosen like the planner does for a sequential
// scan (min_parallel_table_scan_size, max_parallel_workers_per_gather).
int choose_workers(const TablePlan &plan, int requested);

std::vector<rowenc::BucketDigest> digest_table(const TablePlan &plan, uint32_t buckets, Snapshot snapshot,
                                               int workers);

// Rows whose bucket is set in `which` (size `buckets`).
std::vector<RowRef> bucket_row_refs(const TablePlan &plan, uint32_t buckets, const std::vector<bool> &which,
                                    Snapshot snapshot);

// Calls `on_row` for every row in the buckets set in `which` (all rows when
// `which` is empty), inside the scan: the slot holds the deformed row,
// `attnums` the plan's columns in that relation. For the SQL functions that
// return rows; `on_row` runs under pg_call and must not throw.
using RowVisitor = void (*)(void *arg, const RowRef &ref, uint32_t bucket, TupleTableSlot *slot,
                            const short *attnums);
void visit_rows(const TablePlan &plan, uint32_t buckets, const std::vector<bool> &which, Snapshot snapshot,
                RowVisitor on_row, void *arg);

} // namespace pymigrate::validate

// Comparing one table with its counterpart on the other server, and
// re-checking the keys found different.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "validate/classify.hpp"
#include "validate/column_plan.hpp"
#include "validate/remote_side.hpp"

namespace pymigrate::validate {

struct CompareOptions {
    std::optional<uint32_t> buckets;
    double merge_ratio = 0.25;
    std::optional<int> parallel;
    bool with_images = false;
};

struct TableComparison {
    uint32_t buckets = 0;
    uint32_t differing_buckets = 0;
    uint64_t local_rows = 0;
    uint64_t remote_rows = 0;
    uint64_t rows_compared = 0; // keys on either side
    bool merged = false;        // sorted-merge mode instead of differing buckets
    std::vector<Difference> differences;
};

// Compares `plan` (this server, in `snapshot`) with `remote` (read in the
// remote side's open snapshot): digests, then the rows of differing buckets
// (or a sorted merge of all rows when more than merge_ratio of the buckets
// differ), then the exact keys of the candidates.
TableComparison compare_table(const TablePlan &plan, const RemoteTable &remote, RemoteSide &side, Snapshot snapshot,
                              const CompareOptions &options);

// A difference seen again: what each side holds for its key now.
struct Recheck {
    bool resolved = false; // both sides agree now (or both lack the key)
    Difference now;        // each side's row (hash, version, image) now; its kind when not resolved
};

// Reads `differences`' keys again on both sides (this one in `snapshot`, the
// remote one in a snapshot of its own) and says which still differ.
std::vector<Recheck> recheck_keys(const TablePlan &plan, const RemoteTable &remote, RemoteSide &side,
                                  Snapshot snapshot, const std::vector<Difference> &differences, bool with_images);

} // namespace pymigrate::validate

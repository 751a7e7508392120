// Reading a few rows again, by location (the candidates of a scan, in the
// same snapshot) or by key (a fresh re-check, a repair). Through SPI with
// an explicit snapshot; not a hot path.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "validate/classify.hpp"
#include "validate/column_plan.hpp"

namespace pymigrate::validate {

// The candidates `refs` as they are in `snapshot` (a row no longer there is
// left out). Images are the whole row as jsonb text.
std::vector<FetchedRow> fetch_rows_at(const TablePlan &plan, const std::vector<RowRef> &refs, Snapshot snapshot,
                                      bool with_image);

struct KeyedRow {
    size_t index = 0; // into the keys asked for
    FetchedRow row;
    // The planned columns' values as text (key columns first), when asked.
    std::vector<std::optional<std::string>> values;
};

// The rows whose key equals one of `keys` (JSON arrays as append_key_json
// writes them), as they are in `snapshot`; keys without a row are left out.
std::vector<KeyedRow> fetch_rows_by_key(const TablePlan &plan, const std::vector<std::string> &keys,
                                        Snapshot snapshot, bool with_image, bool with_values);

} // namespace pymigrate::validate

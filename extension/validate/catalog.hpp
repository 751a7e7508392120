// The validator's catalog (sql/install/10_validation.sql): writing a run
// and its discrepancies, reading them back for recheck() and reconcile().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "validate/classify.hpp"
#include "validate/column_plan.hpp"
#include "validate/remote_side.hpp"

namespace pymigrate::validate {

enum class DiffStatus { Pending, Confirmed, Resolved, Repaired };
const char *status_name(DiffStatus s);

struct RecordedDifference {
    int64_t id = 0; // 0 until recorded
    Difference diff;
    DiffStatus status = DiffStatus::Confirmed;
    std::string reason; // why it is pending, or confirmed without sync; "" for none
};

struct TableRecord {
    std::string table_name; // local, quoted and qualified
    RemoteTable remote;
    std::vector<std::string> key_columns, columns; // local names
    bool merged = false;
    uint32_t buckets = 0, differing_buckets = 0;
    uint64_t local_rows = 0, remote_rows = 0, rows_compared = 0;
    double seconds = 0;
    std::vector<RecordedDifference> differences;
};

struct RunRecord {
    int64_t id = 0;
    std::string started_at; // timestamptz text
    std::string dsn;        // as given (may hold a password)
    std::string remote;     // password masked
    std::string options_json = "{}";
    std::optional<int64_t> schedule_id;
    std::optional<double> recheck_in_seconds; // for pending differences
    bool rechecked = false;                   // differences were already seen twice
    std::vector<TableRecord> tables;
};

// A text[] as PostgreSQL prints it ({a,"b c"}), without NULL elements.
std::vector<std::string> parse_text_array(const std::string &literal);

// clock_timestamp() as text, for started_at.
std::string now_text();

// Inserts the run, its tables and discrepancies; returns the run id.
int64_t record_run(const RunRecord &run);

// A run as recorded, with the discrepancies whose status is in `statuses`.
RunRecord load_run(int64_t run_id, const std::vector<DiffStatus> &statuses);

// Updates the status (and kind, hashes, images) of recorded discrepancies,
// and the run's status from what its discrepancies now say.
void update_differences(int64_t run_id, const std::vector<RecordedDifference> &changes);

} // namespace pymigrate::validate

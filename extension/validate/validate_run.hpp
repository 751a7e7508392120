// A whole validation: tables resolved, both sides compared in consistent
// snapshots, differences re-checked after the sync lag, the run recorded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pymigrate::validate {

struct ValidationRequest {
    std::optional<std::vector<std::string>> tables; // nullopt: every table both sides have
    std::string dsn;
    std::string mapping_json = "{}";
    bool with_rows = false;
    bool recheck = true;
    double recheck_delay = 2.0; // seconds, when no sync lag is known
    bool wait = true;           // re-check now (sleeping) rather than leave differences pending
    std::optional<uint32_t> buckets;
    double merge_ratio = 0.25;
    std::optional<int> parallel;
    std::optional<int64_t> schedule_id;
};

// Runs it and returns the id of the recorded pymigrate.validation_run.
int64_t run_validation(const ValidationRequest &request);

// Re-checks the pending discrepancies of a recorded run; returns how many
// are confirmed.
int64_t recheck_run(int64_t run_id);

// How long to wait before re-checking: the largest lag_seconds of
// pymigrate.subscription_status on either side when that view exists and has
// a subscription, otherwise `fallback`.
struct RecheckDelay {
    double seconds;
    bool from_sync_lag;
};

} // namespace pymigrate::validate

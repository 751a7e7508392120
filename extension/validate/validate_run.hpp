// A whole validation: tables resolved, both sides compared in consistent
// snapshots, differences re-checked once sync has brought the changes in
// flight (recheck.hpp), the run recorded.
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
    double recheck_delay = 2.0;    // seconds between re-checks when no subscription connects the sides
    double recheck_timeout = 30.0; // seconds: the longest wait for those subscriptions to apply the changes
    bool wait = true;              // re-check now (waiting) rather than leave differences pending
    std::optional<uint32_t> buckets;
    double merge_ratio = 0.25;
    std::optional<int> parallel;
    std::optional<int64_t> schedule_id;
};

// Runs it and returns the id of the recorded pymigrate.validation_run.
int64_t run_validation(const ValidationRequest &request);

// Settles the pending discrepancies of a recorded run (recheck.hpp), waiting
// for sync at most `timeout` seconds (nullopt: the run's recheck_timeout);
// returns how many are confirmed.
int64_t recheck_run(int64_t run_id, std::optional<double> timeout);

} // namespace pymigrate::validate

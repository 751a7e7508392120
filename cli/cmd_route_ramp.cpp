// pymigrate route ramp: move a service's share up step by step while the
// health gates hold; roll back to the monolith the moment one fails.
#include <chrono>
#include <ctime>
#include <iostream>
#include <thread>

#include "cli/cmd_route.hpp"
#include "cli/exit_codes.hpp"
#include "router/route_json.hpp"

namespace pymigrate::cli
{

using nlohmann::json;

namespace
{

struct RampOptions {
    std::string service, to = "100", step = "5", every = "30s", max_error_rate, max_p95, max_lag, hold, reason;
    uint64_t min_statements = 20;
    bool force = false;
};

std::string
clock_now()
{
    std::time_t t = std::time(nullptr);
    char buf[16];
    std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
    return buf;
}

int
to_basis_points(const std::string &text, const char *flag)
{
    auto f = router::parse_percent_fraction(text);
    auto bp = f ? router::percent_to_basis_points(*f * 100) : std::nullopt;
    if (!bp)
        throw UsageError(std::string(flag) + " \"" + text + "\" must be a percentage from 0 to 100 (steps of 0.01)");
    return *bp;
}

uint64_t
to_ms(const std::string &text, const char *flag)
{
    auto ms = router::parse_duration_ms(text);
    if (!ms)
        throw UsageError(std::string(flag) + " \"" + text + "\" must be a duration such as 500ms, 30s, 5m");
    return *ms;
}

std::string
percent_text(int bp)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g %%", router::basis_points_to_percent(bp));
    return buf;
}

class Ramp
{
  public:
    Ramp(const RampOptions &o, const GlobalOptions &g) : o_(o), global_(g), store_(monolith_dsn(g)) {}
    int run();

  private:
    std::ostream &
    out()
    {
        return global_.json ? std::cerr : std::cout;
    }
    std::optional<router::SyncStatus> sync();
    // Watches the gates for `ms`: the failed gate, or nullopt when they held.
    std::optional<std::string> watch(uint64_t ms, int bp, int64_t version);
    int fail(int bp, const std::string &why);

    const RampOptions &o_;
    const GlobalOptions &global_;
    RouteStore store_;
    router::RouteRule rule_;
    router::GateLimits limits_;
    std::optional<pq::Connection> service_;
    bool sync_monolith_ = false, sync_service_ = false;
    json steps_ = json::array();
};

std::optional<router::SyncStatus>
Ramp::sync()
{
    std::optional<router::SyncStatus> combined;
    auto merge = [&](const std::optional<router::SyncStatus> &s, const char *side) {
        if (!s)
            return;
        if (!combined)
            combined = router::SyncStatus{};
        combined->lag_seconds = std::max(combined->lag_seconds, s->lag_seconds);
        combined->subscriptions += s->subscriptions;
        if (s->broken) {
            combined->broken = true;
            combined->detail += (combined->detail.empty() ? "" : "; ") + std::string(side) + ": " + s->detail;
        }
    };
    if (sync_monolith_)
        merge(read_sync_status(store_.monolith()), "monolith");
    if (sync_service_ && service_) {
        // The service database going away mid-ramp is exactly what the gates
        // are for: a failed sync gate (and a rollback), not a failed command.
        try {
            merge(read_sync_status(*service_), "service");
        } catch (const pq::Error &e) {
            router::SyncStatus down;
            down.broken = true;
            std::string what = e.what();
            down.detail = "unreachable: " + what.substr(0, what.find('\n')); // libpq's first line says it
            merge(down, "service");
            service_.reset();
        }
    }
    return combined;
}

int
Ramp::fail(int bp, const std::string &why)
{
    std::string reason = "ramp gate failed at " + percent_text(bp) + ": " + why;
    int64_t v = store_.rollback(o_.service, reason);
    out() << "[" << clock_now() << "] gate failed: " << why << "\n[" << clock_now() << "] rolled back " << o_.service
          << ": all traffic to the monolith (version " << v << ")" << std::endl;
    if (global_.json)
        std::cout << json{{"service", o_.service}, {"outcome", "rolled_back"},
                          {"failed_gate", why},    {"at_percent", router::basis_points_to_percent(bp)},
                          {"version", v},          {"steps", steps_}}
                         .dump(2)
                  << std::endl;
    return kCheckFailed;
}

std::optional<std::string>
Ramp::watch(uint64_t ms, int bp, int64_t version)
{
    auto baseline = store_.counters(o_.service);
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::milliseconds(ms);
    router::GateVerdict verdict;
    for (;;) {
        auto now = std::chrono::steady_clock::now();
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
        if (left > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(std::min<long>(left, 1000)));
        auto current = store_.route(o_.service);
        if (!current || current->version != version)
            throw std::runtime_error(
                "the route of " + o_.service + " was changed by someone else during the ramp" +
                (current ? " (now version " + std::to_string(current->version) + ")" : " (deleted)") +
                "; stopping here");
        verdict = router::evaluate_gates(limits_, window(baseline, store_.counters(o_.service)), sync());
        if (!verdict.pass) {
            steps_.push_back({{"percent", router::basis_points_to_percent(bp)},
                              {"version", version},
                              {"gates", verdict.summary},
                              {"passed", false},
                              {"failed", verdict.failed}});
            return verdict.failed;
        }
        if (global_.verbose)
            out() << "[" << clock_now() << "]   " << verdict.summary << std::endl;
        if (std::chrono::steady_clock::now() >= deadline)
            break;
    }
    out() << "[" << clock_now() << "]   gates held: " << verdict.summary << std::endl;
    steps_.push_back({{"percent", router::basis_points_to_percent(bp)},
                      {"version", version},
                      {"gates", verdict.summary},
                      {"passed", true}});
    return std::nullopt;
}

int
Ramp::run()
{
    int to = to_basis_points(o_.to, "--to");
    int step = to_basis_points(o_.step, "--step");
    if (step == 0)
        throw UsageError("--step must be more than 0");
    uint64_t every = to_ms(o_.every, "--every");
    uint64_t hold = o_.hold.empty() ? 0 : to_ms(o_.hold, "--hold");
    if (!o_.max_error_rate.empty()) {
        limits_.max_error_rate = router::parse_percent_fraction(o_.max_error_rate);
        if (!limits_.max_error_rate)
            throw UsageError("--max-error-rate \"" + o_.max_error_rate + "\" must be a percentage such as 1%");
    }
    if (!o_.max_p95.empty())
        limits_.max_p95_us = to_ms(o_.max_p95, "--max-p95") * 1000;
    if (!o_.max_lag.empty())
        limits_.max_lag_seconds = static_cast<double>(to_ms(o_.max_lag, "--max-lag")) / 1000.0;
    limits_.min_statements = o_.min_statements;

    rule_ = store_.require_route(o_.service);
    if (rule_.strategy != router::Strategy::Percentage && rule_.strategy != router::Strategy::Canary)
        throw UsageError("route " + o_.service + " uses strategy " + std::string(router::to_string(rule_.strategy)) +
                         "; ramps move a percentage: `pymigrate route set " + o_.service +
                         " --strategy percentage` first (or switch blue-green with --active)");
    std::string why;
    service_ = connect_service(global_, &rule_, why);
    sync_monolith_ = read_sync_status(store_.monolith()).has_value();
    sync_service_ = service_ && read_sync_status(*service_).has_value();
    auto status = sync();
    if (!sync_monolith_ || !sync_service_) {
        std::string where = !sync_monolith_ && !sync_service_ ? "either database"
                            : !sync_monolith_                 ? "the monolith"
                                                              : "the service";
        if (!service_)
            where += " (the service database is unreachable: " + why + ")";
        if (limits_.max_lag_seconds)
            throw UsageError("--max-lag needs the sync status view pymigrate.subscription_status (the pymigrate "
                             "extension's) on both databases; it is not on " +
                             where + ". Drop --max-lag to ramp without a lag gate.");
        out() << "sync status: unknown (pymigrate.subscription_status not found on " << where << "); no sync gate"
              << std::endl;
    } else if (status->subscriptions == 0) {
        // A lag gate over no subscription would always hold.
        if (limits_.max_lag_seconds)
            throw UsageError("--max-lag needs a subscription between the two databases "
                             "(pymigrate.create_subscription); neither has one. Drop --max-lag to ramp without a "
                             "lag gate.");
        out() << "sync status: unknown (no subscription on either database); no sync gate" << std::endl;
    }
    if (status && status->broken && !o_.force) {
        std::cerr << "pymigrate route: sync with service \"" << o_.service << "\" is broken (" << status->detail
                  << "); refusing to ramp (--force to override)" << std::endl;
        return kCheckFailed;
    }
    if (o_.force)
        sync_monolith_ = sync_service_ = false; // --force: sync is not a gate

    int from = rule_.enabled ? rule_.basis_points : 0;
    // Empty when already there: nothing to set, only --hold to watch.
    std::vector<int> plan = router::ramp_steps(from, to, step);
    if (plan.empty())
        out() << o_.service << " is at " << percent_text(to) << " already";
    else
        out() << "ramping " << o_.service << " from " << percent_text(from) << " to " << percent_text(to) << " in "
              << plan.size() << " step(s), " << o_.every << " each";
    if (limits_.max_error_rate)
        out() << "; gates: error rate <= " << o_.max_error_rate;
    if (limits_.max_p95_us)
        out() << ", p95 <= " << o_.max_p95;
    if (limits_.max_lag_seconds)
        out() << ", sync lag <= " << o_.max_lag;
    out() << std::endl;
    for (size_t i = 0; i < plan.size(); ++i) {
        int bp = plan[i];
        std::string reason =
            o_.reason.empty() ? "ramp step " + std::to_string(i + 1) + " of " + std::to_string(plan.size()) : o_.reason;
        int64_t v =
            store_.set(json{{"name", o_.service}, {"percent", router::basis_points_to_percent(bp)}, {"enabled", true}},
                       reason, "ramp");
        out() << "[" << clock_now() << "] " << o_.service << " -> " << percent_text(bp) << " (version " << v
              << "), watching for " << o_.every << std::endl;
        if (auto failed = watch(every, bp, v))
            return fail(bp, *failed);
    }
    if (hold > 0) {
        out() << "[" << clock_now() << "] holding at " << percent_text(to) << " for " << o_.hold << std::endl;
        if (auto failed = watch(hold, to, store_.require_route(o_.service).version))
            return fail(to, *failed);
    }
    out() << "[" << clock_now() << "] " << o_.service << " is at " << percent_text(to) << "; every gate held"
          << std::endl;
    if (global_.json)
        std::cout << json{{"service", o_.service},
                          {"outcome", "done"},
                          {"percent", router::basis_points_to_percent(to)},
                          {"steps", steps_}}
                         .dump(2)
                  << std::endl;
    return kOk;
}

} // namespace

void
register_route_ramp(CLI::App &route, GlobalOptions &global, int &exit_code)
{
    auto o = std::make_shared<RampOptions>();
    auto *ramp = route.add_subcommand("ramp", "Raise a service's share step by step while health gates hold");
    ramp->add_option("service", o->service, "service name")->required();
    ramp->add_option("--to", o->to, "target percentage (default 100)");
    ramp->add_option("--step", o->step, "percentage points per step (default 5)");
    ramp->add_option("--every", o->every, "time at each step, watching the gates (default 30s)");
    ramp->add_option("--max-error-rate", o->max_error_rate,
                     "gate: statements routed to the service that failed there, e.g. 1%");
    ramp->add_option("--max-p95", o->max_p95, "gate: p95 latency of the service's statements, e.g. 50ms");
    ramp->add_option("--max-lag", o->max_lag, "gate: sync lag in either direction, e.g. 2s");
    ramp->add_option("--min-statements", o->min_statements,
                     "fewer statements than this in a window are too few to judge (default 20)");
    ramp->add_option("--hold", o->hold, "after reaching --to, keep watching the gates this long");
    ramp->add_option("--reason", o->reason, "recorded in the route history");
    ramp->add_flag("--force", o->force, "ramp even if sync is known to be broken (no sync gates)");
    ramp->footer("A failed gate rolls the service back to the monolith at once and exits with 3.\n"
                 "Examples:\n"
                 "  pymigrate route ramp billing --to 100 --step 5 --every 30s --max-error-rate 1% --max-p95 50ms "
                 "--max-lag 2s\n"
                 "  pymigrate route ramp billing --to 50 --step 25 --every 10s --hold 5m -v");
    ramp->callback([o, &global, &exit_code] {
        exit_code = run_route_command([&] {
            Ramp r(*o, global);
            return r.run();
        });
    });
}

} // namespace pymigrate::cli

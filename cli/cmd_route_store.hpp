// What `pymigrate route` reads and writes in the databases: the routes
// (pymigrate.route, through the extension's functions), the counters the
// shims publish, and the sync status the sync component's view gives.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/pq.hpp"
#include "router/health.hpp"
#include "router/ramp.hpp"
#include "router/route_table.hpp"

namespace pymigrate::cli
{

// Bad input or a state the user must fix (exit code 2), as opposed to a
// connection or server failure (pq::Error, exit code 1).
class UsageError : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

class RouteStore
{
  public:
    explicit RouteStore(const std::string &monolith_dsn);
    pq::Connection &
    monolith()
    {
        return db_;
    }

    // Every route (pymigrate.route_snapshot()); UsageError when the
    // extension is not installed there.
    router::RouteTable routes();
    std::optional<router::RouteRule> route(const std::string &service);
    // UsageError naming the known services.
    router::RouteRule require_route(const std::string &service);

    // pymigrate.route_set(spec, reason, action); returns the new version.
    int64_t set(const nlohmann::json &spec, const std::string &reason, const std::string &action);
    int64_t rollback(const std::string &service, const std::string &reason);
    int64_t remove(const std::string &service, const std::string &reason);
    nlohmann::json history(const std::string &service, int limit);

    // Cumulative counters per shim process for `service`.
    std::map<std::string, router::HealthCounters> counters(const std::string &service);
    // Tables from `tables` that do not exist in the database behind `db`.
    static std::vector<std::string> missing_tables(pq::Connection &db, const std::vector<std::string> &tables);

  private:
    pq::Connection db_;
};

// The sync status on one database, from pymigrate.subscription_status;
// nullopt when the view does not exist there.
std::optional<router::SyncStatus> read_sync_status(pq::Connection &db);

// The sum over shims of (now - then), shims new since `then` counted whole.
router::HealthCounters window(const std::map<std::string, router::HealthCounters> &then,
                              const std::map<std::string, router::HealthCounters> &now);

// One line describing how much of the service's traffic a rule sends there.
std::string describe_share(const router::RouteRule &r);

} // namespace pymigrate::cli

#include "cli/cmd_route_store.hpp"

#include <cstdio>

#include "common/dsn.hpp"
#include "router/route_json.hpp"

namespace pymigrate::cli
{

RouteStore::RouteStore(const std::string &monolith_dsn) : db_(monolith_dsn) {}

router::RouteTable
RouteStore::routes()
{
    auto installed = db_.scalar("SELECT to_regprocedure('pymigrate.route_snapshot()') IS NOT NULL");
    if (installed != "t")
        throw UsageError("the pymigrate extension (with routing) is not installed on the monolith " +
                         db_.dsn_for_messages() + ": run CREATE EXTENSION pymigrate there first");
    auto text = db_.scalar("SELECT pymigrate.route_snapshot()::text");
    std::string error;
    auto table = router::parse_route_document(text.value_or(""), error);
    if (!table)
        throw std::runtime_error("the routes on the monolith do not parse (" + error + ")");
    return std::move(*table);
}

std::optional<router::RouteRule>
RouteStore::route(const std::string &service)
{
    auto t = routes();
    if (const auto *r = t.find(service))
        return *r;
    return std::nullopt;
}

router::RouteRule
RouteStore::require_route(const std::string &service)
{
    auto t = routes();
    if (const auto *r = t.find(service))
        return *r;
    std::string known;
    for (const auto &r : t.rules())
        known += (known.empty() ? "" : ", ") + r.service;
    throw UsageError("no route for service \"" + service + "\" (" +
                     (known.empty() ? std::string("no service has a route yet; create one with `pymigrate route set`")
                                    : "services: " + known) +
                     ")");
}

int64_t
RouteStore::set(const nlohmann::json &spec, const std::string &reason, const std::string &action)
{
    auto v = db_.scalar("SELECT pymigrate.route_set($1::jsonb, $2, $3)",
                        {spec.dump(), reason.empty() ? pq::Param{} : pq::Param{reason}, action});
    return std::stoll(v.value_or("0"));
}

int64_t
RouteStore::rollback(const std::string &service, const std::string &reason)
{
    auto v = db_.scalar("SELECT pymigrate.route_rollback($1, $2)",
                        {service, reason.empty() ? pq::Param{} : pq::Param{reason}});
    return std::stoll(v.value_or("0"));
}

int64_t
RouteStore::remove(const std::string &service, const std::string &reason)
{
    auto v = db_.scalar("SELECT pymigrate.route_delete($1, $2)",
                        {service, reason.empty() ? pq::Param{} : pq::Param{reason}});
    return std::stoll(v.value_or("0"));
}

nlohmann::json
RouteStore::history(const std::string &service, int limit)
{
    auto r = db_.exec("SELECT coalesce(json_agg(h ORDER BY h.version DESC), '[]')::text FROM ("
                      "  SELECT version, service, action, changed_at, changed_by, reason, old, new"
                      "    FROM pymigrate.route_history"
                      "   WHERE $1::text IS NULL OR service = $1"
                      "   ORDER BY version DESC LIMIT $2) AS h",
                      {service.empty() ? pq::Param{} : pq::Param{service}, std::to_string(limit)});
    return nlohmann::json::parse(std::string(r.value(0, 0)));
}

std::map<std::string, router::HealthCounters>
RouteStore::counters(const std::string &service)
{
    std::map<std::string, router::HealthCounters> out;
    auto r = db_.exec("SELECT shim_id, routed, errors, fallbacks, array_to_json(latency_us)::text"
                      "  FROM pymigrate.route_stats WHERE service = $1",
                      {service});
    for (int i = 0; i < r.rows(); ++i) {
        router::HealthCounters h;
        h.routed = std::stoull(std::string(r.value(i, 1)));
        h.errors = std::stoull(std::string(r.value(i, 2)));
        h.fallbacks = std::stoull(std::string(r.value(i, 3)));
        auto hist = nlohmann::json::parse(std::string(r.value(i, 4)));
        for (size_t b = 0; b < hist.size() && b < h.latency.size(); ++b)
            h.latency[b] = hist[b].get<uint64_t>();
        out[std::string(r.value(i, 0))] = h;
    }
    return out;
}

std::vector<std::string>
RouteStore::missing_tables(pq::Connection &db, const std::vector<std::string> &tables)
{
    std::vector<std::string> missing;
    for (const auto &t : tables) {
        auto dot = t.find('.');
        auto found = db.scalar("SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
                               "    ON n.oid = c.relnamespace"
                               " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
                               {t.substr(0, dot), t.substr(dot + 1)});
        if (found == "0")
            missing.push_back(t);
    }
    return missing;
}

std::optional<router::SyncStatus>
read_sync_status(pq::Connection &db)
{
    if (db.scalar("SELECT to_regclass('pymigrate.subscription_status') IS NOT NULL") != "t")
        return std::nullopt;
    auto r = db.exec("SELECT name, coalesce(enabled, false), coalesce(state, ''), lag_seconds, last_error"
                     "  FROM pymigrate.subscription_status");
    router::SyncStatus s;
    s.subscriptions = r.rows();
    for (int i = 0; i < r.rows(); ++i) {
        std::string name(r.value(i, 0));
        bool enabled = r.value(i, 1) == "t";
        std::string state(r.value(i, 2));
        if (!r.is_null(i, 3))
            s.lag_seconds = std::max(s.lag_seconds, std::stod(std::string(r.value(i, 3))));
        std::string problem;
        if (!enabled)
            problem = "disabled";
        else if (state != "streaming")
            problem = "state " + (state.empty() ? std::string("unknown") : state);
        // last_error is the last failure's, kept after the subscription
        // recovers: it says why only while the subscription is not streaming.
        if (!problem.empty() && !r.is_null(i, 4) && !r.value(i, 4).empty())
            problem += ", error: " + std::string(r.value(i, 4));
        if (!problem.empty()) {
            s.broken = true;
            s.detail += (s.detail.empty() ? "" : "; ") + std::string("subscription ") + name + " " + problem;
        }
    }
    return s;
}

router::HealthCounters
window(const std::map<std::string, router::HealthCounters> &then,
       const std::map<std::string, router::HealthCounters> &now)
{
    router::HealthCounters sum;
    for (const auto &[shim, counters] : now) {
        auto it = then.find(shim);
        sum += it == then.end() ? counters : counters.since(it->second);
    }
    return sum;
}

std::string
describe_share(const router::RouteRule &r)
{
    if (!r.enabled)
        return "rolled back: everything on the monolith";
    char pct[32];
    std::snprintf(pct, sizeof pct, "%g %%", router::basis_points_to_percent(r.basis_points));
    switch (r.strategy) {
    case router::Strategy::Percentage:
        return std::string(pct) + " of keys to the service" + (r.sticky ? "" : " (per transaction, not sticky)");
    case router::Strategy::Canary:
        return std::to_string(r.canary_keys.size()) + " canary key(s), then " + pct + " of the others";
    case router::Strategy::BlueGreen:
        return r.active == router::Target::Service ? "all to the service (green)" : "all to the monolith (blue)";
    case router::Strategy::FeatureFlag:
        return "flag \"" + r.flag.name + "\" " + (r.flag.enabled ? "on" : "off") + ", " +
               std::to_string(r.flag.overrides.size()) + " override(s)";
    }
    return "";
}

} // namespace pymigrate::cli

// pymigrate route set | show | rollback | history | delete (ramp: cmd_route_ramp.cpp)
#include "cli/cmd_route.hpp"

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/exit_codes.hpp"
#include "common/dsn.hpp"
#include "router/qualified_name.hpp"
#include "router/ramp.hpp"
#include "router/route_json.hpp"

namespace pymigrate::cli
{

using nlohmann::json;

int
run_route_command(const std::function<int()> &body)
{
    try {
        return body();
    } catch (const UsageError &e) {
        std::cerr << "pymigrate route: " << e.what() << std::endl;
        return kUsage;
    } catch (const router::RouteFormatError &e) {
        std::cerr << "pymigrate route: " << e.what() << std::endl;
        return kUsage;
    } catch (const pq::Error &e) {
        std::cerr << "pymigrate route: " << e.what() << std::endl;
        // Errors the extension raises for bad input are usage errors too.
        const std::string &s = e.sqlstate();
        return s == "22023" || s == "P0002" || s == "23505" || s == "23514" || s == "42501" ? kUsage : kFailed;
    } catch (const std::exception &e) {
        std::cerr << "pymigrate route: " << e.what() << std::endl;
        return kFailed;
    }
}

std::string
monolith_dsn(const GlobalOptions &global)
{
    if (global.monolith.empty())
        throw UsageError("--monolith (or PYMIGRATE_MONOLITH) is required: the routes live in the monolith database");
    return global.monolith;
}

std::optional<pq::Connection>
connect_service(const GlobalOptions &global, const router::RouteRule *rule, std::string &why)
{
    std::string dsn = global.service;
    if (dsn.empty() && rule) {
        const char *env = std::getenv(router::service_dsn_variable(rule->service).c_str());
        dsn = env && *env ? env : rule->dsn;
    }
    if (dsn.empty()) {
        why = "no --service connection string given";
        return std::nullopt;
    }
    try {
        return pq::Connection(dsn);
    } catch (const pq::Error &e) {
        why = e.what();
        return std::nullopt;
    }
}

namespace
{

std::vector<std::string>
split_list(const std::vector<std::string> &items)
{
    std::vector<std::string> out;
    for (const auto &item : items) {
        std::stringstream ss(item);
        std::string part;
        while (std::getline(ss, part, ','))
            if (!part.empty())
                out.push_back(part);
    }
    return out;
}

struct SetOptions {
    std::string service, target_dsn, strategy, percent, active, flag_name, flag, salt, transactions, reason;
    std::vector<std::string> tables, canary_keys, overrides;
    bool sticky = false, no_sticky = false, clear_canary = false, force = false;
};

json
spec_from(const SetOptions &o, const GlobalOptions &global, bool exists)
{
    json spec = {{"name", o.service}, {"enabled", true}};
    if (!o.tables.empty()) {
        json tables = json::array();
        for (const auto &t : split_list(o.tables)) {
            std::string error;
            auto key = router::parse_qualified_name(t, &error);
            if (!key)
                throw UsageError("--tables: \"" + t + "\": " + error);
            tables.push_back(*key);
        }
        spec["tables"] = tables;
    }
    std::string dsn = o.target_dsn;
    if (dsn.empty() && !exists)
        dsn = global.service;
    if (!dsn.empty()) {
        if (router::dsn_has_password(dsn))
            throw UsageError("the service connection string stored in the route holds a password; routes are "
                             "readable by every application. Give --target-dsn without it and keep the password "
                             "in ~/.pgpass (or PGPASSFILE), or set " +
                             router::service_dsn_variable(o.service) + " in the applications' environment");
        spec["dsn"] = dsn;
    }
    if (!o.strategy.empty()) {
        router::Strategy s;
        if (!router::parse_strategy(o.strategy, s))
            throw UsageError("--strategy \"" + o.strategy +
                             "\": choose percentage, canary, blue-green or feature-flag");
        spec["strategy"] = std::string(router::to_string(s));
    }
    if (!o.percent.empty()) {
        auto f = router::parse_percent_fraction(o.percent);
        auto bp = f ? router::percent_to_basis_points(*f * 100) : std::nullopt;
        if (!bp)
            throw UsageError("--percent \"" + o.percent + "\" must be a number from 0 to 100 in steps of 0.01");
        spec["percent"] = router::basis_points_to_percent(*bp);
    }
    if (!o.canary_keys.empty() || o.clear_canary)
        spec["canary_keys"] = o.clear_canary ? std::vector<std::string>{} : split_list(o.canary_keys);
    if (!o.active.empty()) {
        router::Target t;
        std::string a = o.active == "blue" ? "monolith" : o.active == "green" ? "service" : o.active;
        if (!router::parse_target(a, t))
            throw UsageError("--active \"" + o.active + "\": choose monolith (blue) or service (green)");
        spec["active"] = std::string(router::to_string(t));
    }
    json flag = json::object();
    if (!o.flag_name.empty())
        flag["name"] = o.flag_name;
    if (!o.flag.empty()) {
        if (o.flag != "on" && o.flag != "off")
            throw UsageError("--flag \"" + o.flag + "\": on or off");
        flag["enabled"] = o.flag == "on";
    }
    if (!o.overrides.empty()) {
        json ov = json::object();
        for (const auto &item : split_list(o.overrides)) {
            auto eq = item.rfind('=');
            std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
            if (eq == std::string::npos || eq == 0 || (value != "on" && value != "off"))
                throw UsageError("--override \"" + item + "\": write KEY=on or KEY=off");
            ov[item.substr(0, eq)] = value == "on";
        }
        flag["overrides"] = ov;
    }
    if (!flag.empty())
        spec["flag"] = flag;
    if (o.sticky && o.no_sticky)
        throw UsageError("--sticky and --no-sticky contradict each other");
    if (o.sticky || o.no_sticky)
        spec["sticky"] = o.sticky;
    if (!o.salt.empty())
        spec["salt"] = o.salt;
    if (!o.transactions.empty()) {
        router::TransactionPolicy p;
        if (!router::parse_transaction_policy(o.transactions, p))
            throw UsageError("--transactions \"" + o.transactions + "\": first-statement or monolith");
        spec["transactions"] = std::string(router::to_string(p));
    }
    return spec;
}

// The rule the spec would make, checked as a shim would check it, together
// with every other route (so a table owned twice is caught here).
router::RouteRule
validate_against(const json &spec, const router::RouteTable &current)
{
    json merged;
    const router::RouteRule *existing = current.find(spec["name"].get<std::string>());
    if (existing) {
        merged = router::to_json(*existing);
    } else {
        if (!spec.contains("tables"))
            throw UsageError("new service \"" + spec["name"].get<std::string>() + "\" needs --tables");
        if (!spec.contains("dsn"))
            throw UsageError("new service \"" + spec["name"].get<std::string>() +
                             "\" needs the connection string its shims use: --target-dsn (or --service)");
        merged = json::object();
    }
    for (auto &[k, v] : spec.items()) {
        if (k == "flag" && merged.contains("flag"))
            for (auto &[fk, fv] : v.items())
                merged["flag"][fk] = fv;
        else
            merged[k] = v;
    }
    router::RouteRule rule = router::rule_from_json(merged, "route \"" + merged["name"].get<std::string>() + "\"");
    std::vector<router::RouteRule> all;
    for (const auto &r : current.rules())
        if (r.service != rule.service)
            all.push_back(r);
    all.push_back(rule);
    router::RouteTable check;
    std::vector<std::string> problems;
    if (!router::RouteTable::build(all, current.version(), check, problems))
        throw UsageError(problems.front());
    return rule;
}

int
do_set(const SetOptions &o, const GlobalOptions &global)
{
    if (!router::valid_service_name(o.service))
        throw UsageError("service name \"" + o.service +
                         "\" must start with a lower-case letter and hold only a-z, 0-9 and _");
    RouteStore store(monolith_dsn(global));
    router::RouteTable current = store.routes();
    bool exists = current.find(o.service) != nullptr;
    json spec = spec_from(o, global, exists);
    router::RouteRule rule = validate_against(spec, current);

    auto missing = RouteStore::missing_tables(store.monolith(), rule.tables);
    if (!missing.empty() && !o.force)
        throw UsageError("not tables of the monolith: " + missing.front() +
                         (missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : "") +
                         " (--force to route them anyway)");
    std::string why;
    auto service = connect_service(global, &rule, why);
    std::optional<router::SyncStatus> sync_m = read_sync_status(store.monolith()), sync_s;
    if (service) {
        missing = RouteStore::missing_tables(*service, rule.tables);
        if (!missing.empty() && !o.force)
            throw UsageError("not tables of the service database: " + missing.front() +
                             " (statements routed there would fail; --force to route anyway)");
        sync_s = read_sync_status(*service);
    } else {
        std::cerr << "note: cannot reach the service database to check its tables and sync: " << why << std::endl;
    }
    if (!rule.routes_nothing()) {
        for (const auto *s : {&sync_m, &sync_s})
            if (*s && (*s)->broken && !o.force) {
                std::cerr << "pymigrate route: sync with service \"" << o.service << "\" is broken (" << (*s)->detail
                          << "); refusing to route to a database that is not in sync (--force to override)"
                          << std::endl;
                return kCheckFailed;
            }
        if (!sync_m || (service && !sync_s))
            std::cerr << "note: sync status unknown (pymigrate.subscription_status not found on the "
                      << (!sync_m ? "monolith" : "service") << ")" << std::endl;
        else if (sync_m->subscriptions + (sync_s ? sync_s->subscriptions : 0) == 0)
            std::cerr << "note: sync status unknown (no subscription on either database)" << std::endl;
    }
    int64_t version = store.set(spec, o.reason, "set");
    if (global.json) {
        json out = router::to_json(rule);
        out["version"] = version;
        std::cout << out.dump(2) << std::endl;
    } else {
        std::cout << "route " << o.service << ": " << describe_share(rule) << " (version " << version << ")"
                  << std::endl;
    }
    return kOk;
}

std::string
pad(const std::string &s, size_t width)
{
    return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

int
do_show(const std::string &service, const GlobalOptions &global)
{
    RouteStore store(monolith_dsn(global));
    router::RouteTable t = store.routes();
    if (!service.empty())
        (void)store.require_route(service);
    auto health = store.monolith().exec("SELECT service, shims, routed, errors, fallbacks, error_percent::text,"
                                        " last_report::text FROM pymigrate.route_health");
    std::map<std::string, json> by_service;
    for (int i = 0; i < health.rows(); ++i)
        by_service[std::string(health.value(i, 0))] = {{"shims", std::stoll(std::string(health.value(i, 1)))},
                                                       {"routed", std::stoll(std::string(health.value(i, 2)))},
                                                       {"errors", std::stoll(std::string(health.value(i, 3)))},
                                                       {"fallbacks", std::stoll(std::string(health.value(i, 4)))},
                                                       {"last_report", std::string(health.value(i, 6))}};
    if (global.json) {
        json out = router::to_json(t);
        json services = json::array();
        for (auto s : out["services"]) {
            if (!service.empty() && s["name"] != service)
                continue;
            std::string name = s["name"];
            s["dsn"] = redact_dsn(s["dsn"].get<std::string>());
            s["health"] = by_service.count(name) ? by_service[name] : json(nullptr);
            services.push_back(s);
        }
        out["services"] = services;
        std::cout << out.dump(2) << std::endl;
        return kOk;
    }
    std::cout << "routes version " << t.version() << std::endl;
    if (t.rules().empty()) {
        std::cout << "no routes: every statement goes to the monolith" << std::endl;
        return kOk;
    }
    for (const auto &r : t.rules()) {
        if (!service.empty() && r.service != service)
            continue;
        std::cout << "\n"
                  << r.service << " (version " << r.version << ", " << router::to_string(r.strategy) << ")\n"
                  << "  share:        " << describe_share(r) << "\n"
                  << "  tables:       ";
        for (size_t i = 0; i < r.tables.size(); ++i)
            std::cout << (i ? ", " : "") << r.tables[i];
        std::cout << "\n  database:     " << redact_dsn(r.dsn) << "\n"
                  << "  sticky:       " << (r.sticky ? "yes (by key)" : "no") << ", salt \""
                  << router::effective_salt(r) << "\"\n"
                  << "  transactions: " << router::to_string(r.transactions) << "\n";
        if (by_service.count(r.service)) {
            const json &h = by_service[r.service];
            std::cout << "  last minute:  " << h["shims"] << " shim process(es), " << h["routed"]
                      << " statements routed, " << h["errors"] << " failed, " << h["fallbacks"]
                      << " run on the monolith instead\n";
        } else {
            std::cout << "  last minute:  no shim reported\n";
        }
    }
    return kOk;
}

std::string
summary_of(const json &rule_json)
{
    if (rule_json.is_null())
        return "(none)";
    try {
        return describe_share(router::rule_from_json(rule_json, "history"));
    } catch (const std::exception &) {
        return rule_json.dump();
    }
}

int
do_history(const std::string &service, int limit, const GlobalOptions &global)
{
    RouteStore store(monolith_dsn(global));
    json h = store.history(service, limit);
    if (global.json) {
        std::cout << h.dump(2) << std::endl;
        return kOk;
    }
    if (h.empty()) {
        std::cout << "no route changes" << (service.empty() ? "" : " for service " + service) << std::endl;
        return kOk;
    }
    std::cout << pad("VERSION", 8) << pad("WHEN", 33) << pad("SERVICE", 14) << pad("ACTION", 10) << pad("BY", 12)
              << "CHANGE" << std::endl;
    for (const auto &e : h) {
        std::string change = summary_of(e["old"]) + " -> " + summary_of(e["new"]);
        if (e["old"].is_null())
            change = "created: " + summary_of(e["new"]);
        if (e["new"].is_null())
            change = "deleted";
        std::cout << pad(std::to_string(e["version"].get<int64_t>()), 8) << pad(e["changed_at"].get<std::string>(), 33)
                  << pad(e["service"].get<std::string>(), 14) << pad(e["action"].get<std::string>(), 10)
                  << pad(e["changed_by"].get<std::string>(), 12) << change;
        if (e["reason"].is_string())
            std::cout << " (" << e["reason"].get<std::string>() << ")";
        std::cout << std::endl;
    }
    return kOk;
}

int
do_rollback(const std::string &service, const std::string &reason, const GlobalOptions &global)
{
    RouteStore store(monolith_dsn(global));
    (void)store.require_route(service);
    int64_t v = store.rollback(service, reason.empty() ? "manual rollback" : reason);
    if (global.json)
        std::cout << json{{"service", service}, {"version", v}, {"rolled_back", true}}.dump(2) << std::endl;
    else
        std::cout << "route " << service << ": rolled back, all traffic to the monolith (version " << v
                  << "); shims apply it on their next statement" << std::endl;
    return kOk;
}

int
do_delete(const std::string &service, const std::string &reason, const GlobalOptions &global)
{
    RouteStore store(monolith_dsn(global));
    (void)store.require_route(service);
    int64_t v = store.remove(service, reason);
    if (global.json)
        std::cout << json{{"service", service}, {"version", v}, {"deleted", true}}.dump(2) << std::endl;
    else
        std::cout << "route " << service << ": deleted (version " << v << ")" << std::endl;
    return kOk;
}

} // namespace

void
register_route(CLI::App &app, GlobalOptions &global, int &exit_code)
{
    auto *route = app.add_subcommand("route", "Route application traffic between the monolith and a service");
    route->require_subcommand(1);
    route->footer("The routes live in the monolith database (--monolith); applications pick up changes at once\n"
                  "through the shim (libpymigrate.so). Run `pymigrate route COMMAND --help` for each command.\n"
                  "Examples:\n"
                  "  pymigrate route set billing --tables invoices,payments --target-dsn 'host=db2 dbname=billing'\n"
                  "  pymigrate route ramp billing --to 100 --step 5 --every 30s --max-error-rate 1%\n"
                  "  pymigrate route rollback billing");

    auto set_opts = std::make_shared<SetOptions>();
    auto *set = route->add_subcommand("set", "Create or change a service's route");
    set->add_option("service", set_opts->service, "service name")->required();
    set->add_option("--tables", set_opts->tables, "tables the service owns (schema.table, comma-separated)");
    set->add_option("--target-dsn", set_opts->target_dsn,
                    "connection string the shims use for the service (no password; default: --service)");
    set->add_option("--strategy", set_opts->strategy, "percentage, canary, blue-green or feature-flag");
    set->add_option("--percent", set_opts->percent, "share of keys for the service, 0-100 in steps of 0.01");
    set->add_option("--canary-keys", set_opts->canary_keys, "keys always routed to the service (canary)");
    set->add_flag("--clear-canary-keys", set_opts->clear_canary, "remove every canary key");
    set->add_option("--active", set_opts->active, "blue-green: monolith (blue) or service (green)");
    set->add_option("--flag-name", set_opts->flag_name, "feature-flag: the flag's name");
    set->add_option("--flag", set_opts->flag, "feature-flag: on or off");
    set->add_option("--override", set_opts->overrides, "feature-flag: KEY=on or KEY=off (repeatable)");
    set->add_flag("--sticky", set_opts->sticky, "a key always goes the same way (the default)");
    set->add_flag("--no-sticky", set_opts->no_sticky, "draw per transaction instead of per key");
    set->add_option("--salt", set_opts->salt, "bucketing salt (changing it reshuffles keys)");
    set->add_option("--transactions", set_opts->transactions,
                    "first-statement (a transaction follows its first statement) or monolith");
    set->add_option("--reason", set_opts->reason, "recorded in the route history");
    set->add_flag("--force", set_opts->force, "route even if tables are missing or sync is broken");
    set->footer(
        "Examples:\n"
        "  pymigrate route set billing --tables invoices,payments --target-dsn 'host=db2 dbname=billing' --percent 5\n"
        "  pymigrate route set billing --strategy canary --canary-keys user:1,user:2 --percent 0\n"
        "  pymigrate route set billing --strategy blue-green --active service\n"
        "  pymigrate route set billing --strategy feature-flag --flag-name new-billing --flag off "
        "--override user:7=on");
    set->callback(
        [set_opts, &global, &exit_code] { exit_code = run_route_command([&] { return do_set(*set_opts, global); }); });

    auto show_service = std::make_shared<std::string>();
    auto *show = route->add_subcommand("show", "Show the routes and what the shims report");
    show->add_option("service", *show_service, "only this service");
    show->footer("Examples:\n  pymigrate route show --monolith 'dbname=shop'\n  pymigrate route show billing --json");
    show->callback([show_service, &global, &exit_code] {
        exit_code = run_route_command([&] { return do_show(*show_service, global); });
    });

    auto rb = std::make_shared<std::pair<std::string, std::string>>();
    auto *rollback = route->add_subcommand("rollback", "Send all of a service's traffic back to the monolith, now");
    rollback->add_option("service", rb->first, "service name")->required();
    rollback->add_option("--reason", rb->second, "recorded in the route history");
    rollback->footer("Shims apply it on their next statement (NOTIFY; well under a second).\n"
                     "Examples:\n  pymigrate route rollback billing --reason 'p99 up on the dashboard'");
    rollback->callback([rb, &global, &exit_code] {
        exit_code = run_route_command([&] { return do_rollback(rb->first, rb->second, global); });
    });

    auto hist = std::make_shared<std::pair<std::string, int>>("", 20);
    auto *history = route->add_subcommand("history", "Every change to the routes: who, when, what, why");
    history->add_option("service", hist->first, "only this service");
    history->add_option("--limit", hist->second, "newest N changes (default 20)")->check(CLI::PositiveNumber);
    history->footer("Examples:\n  pymigrate route history\n  pymigrate route history billing --limit 5 --json");
    history->callback([hist, &global, &exit_code] {
        exit_code = run_route_command([&] { return do_history(hist->first, hist->second, global); });
    });

    auto del = std::make_shared<std::pair<std::string, std::string>>();
    auto *remove = route->add_subcommand("delete", "Remove a service's route (its tables go back to the monolith)");
    remove->add_option("service", del->first, "service name")->required();
    remove->add_option("--reason", del->second, "recorded in the route history");
    remove->footer("Examples:\n  pymigrate route delete billing --reason 'service retired'");
    remove->callback([del, &global, &exit_code] {
        exit_code = run_route_command([&] { return do_delete(del->first, del->second, global); });
    });

    register_route_ramp(*route, global, exit_code);
}

} // namespace pymigrate::cli

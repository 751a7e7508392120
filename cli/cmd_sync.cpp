// pymigrate sync setup | status | pause | resume | teardown: two-way sync
// between the monolith and a service database (setup: cmd_sync_setup.cpp).
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cli/cmd_sync.hpp"
#include "cli/exit_codes.hpp"

namespace pymigrate::cli
{

namespace sync
{

using nlohmann::json;

int
run_sync_command(const char *what, const std::function<int()> &body)
{
    try {
        return body();
    } catch (const ConfigError &e) {
        std::cerr << "pymigrate sync " << what << ": " << e.what() << std::endl;
        return kUsage;
    } catch (const pq::Error &e) {
        // pq::Error carries the redacted connection string, never a password.
        std::cerr << "pymigrate sync " << what << ": " << e.what()
                  << (e.sqlstate().empty() ? "" : " (SQLSTATE " + e.sqlstate() + ")") << std::endl;
        const std::string &s = e.sqlstate();
        // Bad input the extension rejects (options, mapping) is a usage error.
        bool usage = s == "22023" || s == "42703" || s == "42P01" || s == "42883" || s == "42804" || s == "42P17";
        return usage ? kUsage : kFailed;
    } catch (const std::exception &e) {
        std::cerr << "pymigrate sync " << what << ": " << e.what() << std::endl;
        return kFailed;
    }
}

std::string
require_dsn(const std::string &dsn, const char *flag)
{
    if (dsn.empty())
        throw ConfigError(std::string(flag) + " (or PYMIGRATE_" +
                          (std::string(flag) == "--monolith" ? "MONOLITH" : "SERVICE") + ") is required");
    return dsn;
}

namespace
{

struct Side {
    const char *direction; // as shown
    const char *server;    // where the subscription lives
    std::string dsn;
    std::string subscription;
    std::string provider_dsn; // the other server (trigger capture: its change log)
};

std::vector<Side>
sides(const GlobalOptions &global, const std::string &name)
{
    std::string monolith = require_dsn(global.monolith, "--monolith");
    std::string service = require_dsn(global.service, "--service");
    return {{"monolith -> service", "service", service, service_subscription(name), monolith},
            {"service -> monolith", "monolith", monolith, monolith_subscription(name), service}};
}

// A trigger-capture direction: the provider's change log rows the
// subscription has not confirmed yet (null when the provider cannot be
// asked: status still reports the rest).
json
capture_backlog(pq::Connection &c, const Side &side)
{
    auto consumer = c.scalar("SELECT pymigrate.capture_consumer_name($1)", {side.subscription});
    try {
        pq::Connection provider(side.provider_dsn);
        auto pending = provider.scalar("SELECT pending FROM pymigrate.capture_status WHERE consumer = $1", {*consumer});
        return pending ? json(std::stol(*pending)) : json(nullptr);
    } catch (const pq::Error &) {
        return nullptr;
    }
}

json
direction_status(const Side &side)
{
    json out = {{"direction", side.direction}, {"subscription", side.subscription}, {"server", side.server}};
    pq::Connection c(side.dsn);
    if (!c.scalar("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pymigrate'")) {
        out["state"] = "absent";
        out["detail"] = "the pymigrate extension is not installed on the " + std::string(side.server);
        return out;
    }
    pq::Result r = c.exec(
        "SELECT state, lag_bytes, lag_seconds, changes_applied, transactions_applied, apply_rate, held, last_error, "
        " capture, strategy, local_node, remote_node, copy_tables_done, copy_tables_total, copy_rows, retries, "
        " (SELECT count(*) FROM pymigrate.conflict_log l WHERE l.subscription = s.name), "
        " (SELECT count(*) FROM pymigrate.conflict_log l WHERE l.subscription = s.name AND l.outcome = 'held') "
        "FROM pymigrate.subscription_status s WHERE name = $1",
        {side.subscription});
    if (r.rows() == 0) {
        out["state"] = "absent";
        out["detail"] = "no subscription " + side.subscription + " on the " + side.server;
        return out;
    }
    auto num = [&](int col) -> json {
        auto v = r.optional(0, col);
        return v ? json(std::stod(*v)) : json(nullptr);
    };
    auto text = [&](int col) -> json {
        auto v = r.optional(0, col);
        return v ? json(*v) : json(nullptr);
    };
    out["state"] = std::string(r.value(0, 0));
    out["lag_bytes"] = num(1);
    out["lag_seconds"] = num(2);
    out["changes_applied"] = num(3);
    out["transactions_applied"] = num(4);
    out["apply_rate"] = num(5);
    out["held"] = std::string(r.value(0, 6)) == "t";
    out["last_error"] = text(7);
    out["capture"] = text(8);
    out["strategy"] = text(9);
    out["local_node"] = text(10);
    out["remote_node"] = text(11);
    out["copy_tables_done"] = num(12);
    out["copy_tables_total"] = num(13);
    out["copy_rows"] = num(14);
    out["retries"] = num(15);
    out["conflicts_logged"] = num(16);
    out["conflicts_held"] = num(17);
    json tables = json::array();
    pq::Result t = c.exec("SELECT table_name, kind, conflicts, apply_remote, keep_local, merged, inserted, skipped, "
                          "held FROM pymigrate.conflict_summary WHERE subscription = $1 ORDER BY 1, 2",
                          {side.subscription});
    const char *counts[] = {"conflicts", "apply_remote", "keep_local", "merged", "inserted", "skipped", "held"};
    for (int i = 0; i < t.rows(); ++i) {
        json row = {{"table", std::string(t.value(i, 0))}, {"kind", std::string(t.value(i, 1))}};
        for (int k = 0; k < 7; ++k)
            row[counts[k]] = std::stol(std::string(t.value(i, k + 2)));
        tables.push_back(row);
    }
    out["conflicts_by_table"] = tables;
    if (out["capture"] == "trigger")
        out["backlog"] = capture_backlog(c, side);
    return out;
}

std::string
show(const json &v, const char *unit = "")
{
    if (v.is_null())
        return "-";
    double d = v.get<double>();
    return d == static_cast<long long>(d) ? fmt::format("{}{}", static_cast<long long>(d), unit)
                                          : fmt::format("{:.1f}{}", d, unit);
}

int
do_status(const GlobalOptions &global, const std::string &name)
{
    json all = json::array();
    bool healthy = true;
    for (const auto &side : sides(global, name)) {
        json s = direction_status(side);
        healthy = healthy && (s["state"] == "streaming" || s["state"] == "catchup" || s["state"] == "copying" ||
                              s["state"] == "initializing");
        all.push_back(s);
    }
    if (global.json) {
        std::cout << json{{"name", name}, {"directions", all}}.dump(2) << std::endl;
    } else {
        std::cout << fmt::format("{:<20} {:<12} {:>10} {:>8} {:>10} {:>9} {:>9} {}\n", "direction", "state", "lag",
                                 "lag_s", "applied", "rate/s", "conflicts", "note");
        for (const auto &s : all) {
            std::string note;
            if (s.contains("detail"))
                note = s["detail"];
            else if (s["held"].get<bool>())
                note = "a change is held: " + s["last_error"].get<std::string>();
            else if (!s["last_error"].is_null() && s["state"] == "error")
                note = s["last_error"];
            else if (s["state"] == "copying")
                note = "copied " + show(s["copy_tables_done"]) + "/" + show(s["copy_tables_total"]) + " tables, " +
                       show(s["copy_rows"]) + " rows";
            else if (s.contains("backlog"))
                note = "trigger capture, backlog " + show(s["backlog"]) + " change_log rows";
            std::cout << fmt::format("{:<20} {:<12} {:>10} {:>8} {:>10} {:>9} {:>9} {}\n",
                                     s["direction"].get<std::string>(), s["state"].get<std::string>(),
                                     show(s.value("lag_bytes", json()), " B"), show(s.value("lag_seconds", json())),
                                     show(s.value("changes_applied", json())), show(s.value("apply_rate", json())),
                                     show(s.value("conflicts_logged", json())), note);
        }
        for (const auto &s : all)
            for (const auto &t : s.value("conflicts_by_table", json::array()))
                std::cout << fmt::format("  conflicts {} {} {}: {} (remote applied {}, local kept {}, merged {}, "
                                         "inserted {}, skipped {}, held {})\n",
                                         s["direction"].get<std::string>(), t["table"].get<std::string>(),
                                         t["kind"].get<std::string>(), t["conflicts"].get<long>(),
                                         t["apply_remote"].get<long>(), t["keep_local"].get<long>(),
                                         t["merged"].get<long>(), t["inserted"].get<long>(), t["skipped"].get<long>(),
                                         t["held"].get<long>());
    }
    return healthy ? kOk : kCheckFailed;
}

// pause / resume: disable / enable both subscriptions (the slots keep the
// changes meanwhile).
int
do_enable(const GlobalOptions &global, const std::string &name, bool enable)
{
    int missing = 0;
    for (const auto &side : sides(global, name)) {
        pq::Connection c(side.dsn);
        if (!c.scalar("SELECT 1 FROM pymigrate.subscription WHERE name = $1", {side.subscription})) {
            std::cerr << "pymigrate sync: no subscription " << side.subscription << " on the " << side.server
                      << std::endl;
            ++missing;
            continue;
        }
        c.exec(std::string("SELECT pymigrate.") + (enable ? "enable" : "disable") + "_subscription($1)",
               {side.subscription});
        if (!global.json)
            std::cout << side.direction << ": " << (enable ? "resumed" : "paused") << std::endl;
    }
    if (global.json)
        std::cout << json{{"name", name}, {enable ? "resumed" : "paused", missing == 0}}.dump() << std::endl;
    return missing ? kFailed : kOk;
}

int
do_teardown(const GlobalOptions &global, const std::string &name, bool keep_slots)
{
    json out = json::array();
    for (const auto &side : sides(global, name)) {
        pq::Connection c(side.dsn);
        bool there = c.scalar("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pymigrate'") &&
                     c.scalar("SELECT 1 FROM pymigrate.subscription WHERE name = $1", {side.subscription});
        if (there)
            c.exec("SELECT pymigrate.drop_subscription($1, drop_slot => $2)",
                   {side.subscription, keep_slots ? "false" : "true"});
        out.push_back({{"direction", side.direction}, {"dropped", there}});
        if (!global.json)
            std::cout << side.direction << ": "
                      << (there ? "subscription " + side.subscription + " dropped" +
                                      (keep_slots ? "" : ", with its slot on the provider")
                                : "nothing to drop")
                      << std::endl;
    }
    if (global.json)
        std::cout << json{{"name", name}, {"directions", out}}.dump() << std::endl;
    return kOk;
}

} // namespace
} // namespace sync

void
register_sync(CLI::App &app, GlobalOptions &global, int &exit_code)
{
    using namespace sync;
    auto *cmd = app.add_subcommand("sync", "Keep the monolith and a service database equal, in both directions");
    cmd->require_subcommand(1);
    cmd->footer("Every command takes --monolith DSN and --service DSN (or PYMIGRATE_MONOLITH / PYMIGRATE_SERVICE).\n"
                "Run `pymigrate sync COMMAND --help` for each command.\n"
                "Examples:\n"
                "  pymigrate sync setup --tables users,user_addresses\n"
                "  pymigrate sync status --json");

    struct SetupArgs {
        std::vector<std::string> tables;
        std::string config, conflict, resolver, capture, name;
        bool no_copy = false;
        double timeout = 3600;
    };
    auto a = std::make_shared<SetupArgs>();
    auto *setup = cmd->add_subcommand("setup", "Set up two-way sync: checks, initial copy, both subscriptions, "
                                               "sequences");
    setup->add_option("--tables", a->tables, "monolith tables to sync under the same names (comma-separated)");
    setup->add_option("--config", a->config, "YAML configuration (tables, mapping, conflict rules, nodes, capture)");
    setup->add_option("--conflict", a->conflict,
                      "conflict strategy: last_write_wins (default), priority, custom, keep_local, apply_remote, "
                      "error");
    setup->add_option("--resolver", a->resolver, "--conflict custom: the SQL function deciding conflicts");
    setup->add_option("--capture", a->capture, "how the monolith's changes are read: logical (default) or trigger");
    setup->add_option("--name", a->name, "name of this sync (default sync)");
    setup->add_flag("--no-copy", a->no_copy, "the service tables already hold the monolith's rows");
    setup->add_option("--timeout", a->timeout, "seconds to wait for the initial copy (default 3600)");
    setup->footer(
        "What it does: checks both servers (version, wal_level, track_commit_timestamp, the preload line,\n"
        "output_plugin_libraries), creates the extension where missing, subscribes the service to the monolith\n"
        "with an initial copy and waits (progress on stderr) until it streams, then subscribes the monolith to\n"
        "the service without a copy, and splits identity/serial sequences: the monolith draws odd numbers, the\n"
        "service even ones (INCREMENT BY 2), both above every value either side holds. If a step fails, what\n"
        "it created is dropped again.\n"
        "Examples:\n"
        "  pymigrate sync setup --monolith 'host=db1 dbname=shop' --service 'host=db2 dbname=users' "
        "--tables users,addresses\n"
        "  pymigrate sync setup --tables users --conflict custom --resolver public.merge_user\n"
        "  pymigrate sync setup --config sync.yaml --json");
    setup->callback([a, &global, &exit_code] {
        exit_code = run_sync_command("setup", [&] {
            if (a->config.empty() == a->tables.empty())
                throw ConfigError("give either --tables or --config");
            SyncConfig c = a->config.empty() ? SyncConfig{} : load_config(a->config);
            if (!a->tables.empty())
                c.tables = tables_from_list(a->tables);
            if (!a->name.empty())
                c.name = a->name;
            if (!a->capture.empty()) {
                if (a->capture != "logical" && a->capture != "trigger")
                    throw ConfigError("--capture \"" + a->capture + "\": logical or trigger");
                c.capture = a->capture;
            }
            if (!a->conflict.empty())
                c.conflict["strategy"] = a->conflict;
            if (!a->resolver.empty())
                c.conflict["resolver"] = a->resolver;
            if (a->no_copy)
                c.copy = false;
            return do_setup(c, global, a->timeout);
        });
    });

    auto name = std::make_shared<std::string>("sync");
    auto *status = cmd->add_subcommand("status", "State, lag, rate and conflicts of both directions");
    status->add_option("--name", *name, "name of the sync (default sync)");
    status->footer("Exit code 3 when a direction is missing or in error.\n"
                   "Examples:\n  pymigrate sync status --monolith 'dbname=shop' --service 'dbname=users'\n"
                   "  pymigrate sync status --json");
    status->callback([name, &global, &exit_code] {
        exit_code = run_sync_command("status", [&] { return do_status(global, *name); });
    });

    auto *pause = cmd->add_subcommand("pause", "Stop applying in both directions (changes wait in the slots)");
    pause->add_option("--name", *name, "name of the sync (default sync)");
    pause->footer("Example:\n  pymigrate sync pause --monolith 'dbname=shop' --service 'dbname=users'");
    pause->callback([name, &global, &exit_code] {
        exit_code = run_sync_command("pause", [&] { return do_enable(global, *name, false); });
    });

    auto *resume = cmd->add_subcommand("resume", "Apply again in both directions, from where it stopped");
    resume->add_option("--name", *name, "name of the sync (default sync)");
    resume->footer("Example:\n  pymigrate sync resume --monolith 'dbname=shop' --service 'dbname=users'");
    resume->callback([name, &global, &exit_code] {
        exit_code = run_sync_command("resume", [&] { return do_enable(global, *name, true); });
    });

    auto keep_slots = std::make_shared<bool>(false);
    auto *teardown = cmd->add_subcommand("teardown", "Drop both subscriptions and their slots");
    teardown->add_option("--name", *name, "name of the sync (default sync)");
    teardown->add_flag("--keep-slots", *keep_slots, "leave the slots (a provider that cannot be reached)");
    teardown->footer("Tables, rows and sequences stay as they are.\n"
                     "Example:\n  pymigrate sync teardown --monolith 'dbname=shop' --service 'dbname=users'");
    teardown->callback([name, keep_slots, &global, &exit_code] {
        exit_code = run_sync_command("teardown", [&] { return do_teardown(global, *name, *keep_slots); });
    });
}

} // namespace pymigrate::cli

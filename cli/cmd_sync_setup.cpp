// pymigrate sync setup: everything a user would otherwise do by hand, in
// order, undoing what it made if a step fails.
#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/cmd_sync.hpp"
#include "cli/exit_codes.hpp"
#include "common/dsn.hpp"

namespace pymigrate::cli::sync
{

using nlohmann::json;

namespace
{

struct Server {
    const char *role; // "monolith" / "service"
    std::string dsn;
    pq::Connection conn;
};

// What a server lacks for its part; empty when it has everything.
// `provides_logical`: the other side decodes its WAL.
std::vector<std::string>
check_server(Server &s, bool provides_logical)
{
    std::vector<std::string> problems;
    pq::Result r =
        s.conn.exec("SELECT current_setting('server_version_num')::int, current_setting('wal_level'), "
                    " current_setting('track_commit_timestamp'), current_setting('shared_preload_libraries'), "
                    " current_setting('output_plugin_libraries', true), "
                    " (SELECT rolsuper OR rolreplication FROM pg_catalog.pg_roles WHERE rolname = current_user), "
                    " (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), "
                    " EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pymigrate')");
    std::string role = s.role;
    int version = std::stoi(std::string(r.value(0, 0)));
    if (version < 150000 || version >= 160000)
        problems.push_back(role + ": PostgreSQL " + std::to_string(version) + "; pymigrate needs PostgreSQL 15");
    if (provides_logical && std::string(r.value(0, 1)) != "logical")
        problems.push_back(role + ": wal_level is " + std::string(r.value(0, 1)) +
                           "; the other side reads its changes by logical decoding. Fix: ALTER SYSTEM SET wal_level "
                           "= logical; then restart" +
                           (role == "monolith" ? " (or use --capture trigger)" : ""));
    if (std::string(r.value(0, 2)) != "on")
        problems.push_back(role + ": track_commit_timestamp is off; conflict detection needs the commit time and "
                                  "origin of each row. Fix: ALTER SYSTEM SET track_commit_timestamp = on; then "
                                  "restart");
    std::string preload(r.value(0, 3));
    if (preload.find("pymigrate") == std::string::npos)
        problems.push_back(role + ": shared_preload_libraries (\"" + preload +
                           "\") lacks pymigrate; its apply worker runs from there. Fix: add pymigrate to it, "
                           "restart");
    auto plugins = r.optional(0, 4);
    bool superuser = std::string(r.value(0, 6)) == "t";
    // Debian's PostgreSQL 15.20+ lets only listed libraries act as output
    // plugins; a superuser's session is allowed by the apply worker.
    if (provides_logical && plugins && plugins->find("pymigrate") == std::string::npos && !superuser)
        problems.push_back(role + ": output_plugin_libraries (\"" + *plugins +
                           "\") lacks pymigrate and this user is not a superuser. Fix: ALTER SYSTEM SET "
                           "output_plugin_libraries = '" +
                           (plugins->empty() ? "" : *plugins + ",") +
                           "pymigrate'; SELECT pg_reload_conf(); or connect as a superuser");
    if (provides_logical && std::string(r.value(0, 5)) != "t")
        problems.push_back(role + ": user " + s.conn.scalar("SELECT current_user").value_or("?") +
                           " has neither REPLICATION nor superuser; the other side's worker connects as it");
    if (std::string(r.value(0, 7)) != "t")
        problems.push_back(role + ": the pymigrate extension is not installed on this server (make install)");
    return problems;
}

void
progress(const GlobalOptions &global, const std::string &line)
{
    (void)global;
    std::cerr << "pymigrate sync setup: " << line << std::endl;
}

// Waits until `name` streams; progress on stderr when it changes. Throws
// with the last error when it does not get there.
void
wait_streaming(Server &s, const std::string &name, const GlobalOptions &global, double timeout_s)
{
    auto start = std::chrono::steady_clock::now();
    std::string last;
    while (true) {
        pq::Result r = s.conn.exec("SELECT state, copy_tables_done, copy_tables_total, copy_rows, copy_table, "
                                   "last_error, retries, lag_bytes FROM pymigrate.subscription_status WHERE name = $1",
                                   {name});
        if (r.rows() == 0)
            throw std::runtime_error("subscription " + name + " disappeared from the " + s.role);
        std::string state(r.value(0, 0));
        if (state == "streaming")
            return;
        std::string line = state;
        if (state == "copying")
            line += fmt::format(": {}/{} tables, {} rows{}", r.value(0, 1), r.value(0, 2), r.value(0, 3),
                                r.optional(0, 4) ? " (now " + *r.optional(0, 4) + ")" : std::string());
        else if (state == "catchup")
            line += fmt::format(": {} bytes behind", r.optional(0, 7).value_or("?"));
        else if (state == "error")
            line += ": " + r.optional(0, 5).value_or("") + " (retry " + std::string(r.value(0, 6)) + ")";
        if (line != last)
            progress(global, s.role + std::string(" <- ") +
                                 (std::string(s.role) == "service" ? "monolith" : "service") + ": " + line);
        last = line;
        if (state == "error" && std::stoi(std::string(r.value(0, 6))) >= 3)
            throw std::runtime_error("subscription " + name + " on the " + s.role +
                                     " keeps failing: " + r.optional(0, 5).value_or("?"));
        double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (waited > timeout_s)
            throw std::runtime_error(fmt::format("subscription {} on the {} is not streaming after {:.0f} s (state {})",
                                                 name, s.role, waited, state));
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
}

// An identity or serial column's sequence on one side.
struct SeqColumn {
    std::string table, column, sequence;
};

std::vector<SeqColumn>
sequences_of(pq::Connection &c, const std::string &table)
{
    std::vector<SeqColumn> out;
    pq::Result r = c.exec("SELECT $1::regclass::text, a.attname, pg_catalog.pg_get_serial_sequence($1::regclass::text, "
                          "a.attname) FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 "
                          "AND NOT a.attisdropped AND pg_catalog.pg_get_serial_sequence($1::regclass::text, a.attname) "
                          "IS NOT NULL ORDER BY a.attnum",
                          {table});
    for (int i = 0; i < r.rows(); ++i)
        out.push_back({std::string(r.value(i, 0)), std::string(r.value(i, 1)), std::string(r.value(i, 2))});
    return out;
}

long long
high_water(pq::Connection &c, const SeqColumn &s)
{
    return std::stoll(c.scalar("SELECT greatest((SELECT coalesce(max(" + pq::quote_ident(s.column) +
                               ")::bigint, 0) "
                               "FROM " +
                               s.table + "), (SELECT last_value FROM " + s.sequence + "))")
                          .value_or("0"));
}

// Both sides draw from disjoint sets: the monolith odd numbers, the service
// even ones, both from above everything either side holds (plus room for
// what the monolith draws meanwhile).
json
split_sequences(Server &m, Server &s, const SyncConfig &c)
{
    json done = json::array();
    for (const auto &t : c.tables) {
        auto mseq = sequences_of(m.conn, t.monolith);
        auto sseq = sequences_of(s.conn, t.service);
        for (const auto &ms : mseq) {
            std::string scol = t.columns.count(ms.column) ? t.columns.at(ms.column) : ms.column;
            const SeqColumn *ss = nullptr;
            for (const auto &x : sseq)
                if (x.column == scol)
                    ss = &x;
            // The monolith's inserts are blocked while its sequence moves.
            m.conn.exec("BEGIN");
            m.conn.exec("LOCK TABLE " + ms.table + " IN SHARE MODE");
            long long base = high_water(m.conn, ms);
            if (ss)
                base = std::max(base, high_water(s.conn, *ss));
            base += 1000; // room for values drawn outside inserts meanwhile
            long long odd = base % 2 ? base : base + 1;
            m.conn.exec("ALTER SEQUENCE " + ms.sequence + " INCREMENT BY 2");
            m.conn.exec("SELECT pg_catalog.setval($1::regclass, $2, false)", {ms.sequence, std::to_string(odd)});
            m.conn.exec("COMMIT");
            json row = {{"monolith", ms.table + "." + ms.column}, {"monolith_next", odd}, {"increment", 2}};
            if (ss) {
                s.conn.exec("ALTER SEQUENCE " + ss->sequence + " INCREMENT BY 2");
                s.conn.exec("SELECT pg_catalog.setval($1::regclass, $2, false)",
                            {ss->sequence, std::to_string(odd + 1)});
                row["service"] = ss->table + "." + ss->column;
                row["service_next"] = odd + 1;
            }
            done.push_back(row);
        }
    }
    return done;
}

std::string
qualify(Server &on, const std::string &table)
{
    auto name = on.conn.scalar("SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) "
                               "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE c.oid = pg_catalog.to_regclass($1)",
                               {table});
    if (!name)
        throw ConfigError("table " + table + " does not exist on the " + on.role);
    return *name;
}

std::string
pg_array(const std::vector<std::string> &items)
{
    return pq::array_literal(items);
}

void
create_subscription(Server &on, const std::string &name, const std::string &provider_dsn,
                    const std::vector<std::string> &tables, bool copy, const json &options, const json &table_options)
{
    on.conn.exec("SELECT pymigrate.create_subscription($1, $2, $3::text[], copy_data => $4, options => $5::jsonb, "
                 "table_options => $6::jsonb)",
                 {name, provider_dsn, pg_array(tables), copy ? "true" : "false", options.dump(), table_options.dump()});
}

void
drop_if_there(Server &on, const std::string &name)
{
    try {
        on.conn.exec("ROLLBACK"); // in case a step failed inside a transaction
        on.conn.exec("SELECT pymigrate.drop_subscription($1, if_exists => true)", {name});
    } catch (const std::exception &e) {
        std::cerr << "pymigrate sync setup: could not drop " << name << " on the " << on.role << ": " << e.what()
                  << std::endl;
    }
}

} // namespace

int
do_setup(SyncConfig config, const GlobalOptions &global, double timeout_s)
{
    std::string mdsn = require_dsn(global.monolith, "--monolith");
    std::string sdsn = require_dsn(global.service, "--service");
    Server m{"monolith", mdsn, pq::Connection(mdsn)};
    Server s{"service", sdsn, pq::Connection(sdsn)};
    for (Server *x : {&m, &s})
        x->conn.exec("SET client_min_messages = warning");

    // 1. Both servers can do their part.
    std::vector<std::string> problems = check_server(m, config.capture == "logical");
    for (auto &p : check_server(s, true))
        problems.push_back(p);
    if (!problems.empty()) {
        std::cerr << "pymigrate sync setup: the servers are not ready:\n";
        for (const auto &p : problems)
            std::cerr << "  - " << p << "\n";
        return kFailed;
    }
    for (Server *x : {&m, &s})
        if (!x->conn.scalar("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pymigrate'")) {
            x->conn.exec("CREATE EXTENSION pymigrate");
            progress(global, std::string("created the extension on the ") + x->role + " (" + redact_dsn(x->dsn) + ")");
        }
    // Schema-qualified names, so that a mapping names the other side's
    // table exactly (an unqualified one would mean "the same schema").
    for (auto &t : config.tables) {
        t.monolith = qualify(m, t.monolith);
        t.service = qualify(s, t.service);
    }
    std::string ssub = service_subscription(config.name);
    std::string msub = monolith_subscription(config.name);
    if (s.conn.scalar("SELECT 1 FROM pymigrate.subscription WHERE name = $1", {ssub}) ||
        m.conn.scalar("SELECT 1 FROM pymigrate.subscription WHERE name = $1", {msub}))
        throw std::runtime_error("sync \"" + config.name + "\" is already set up (subscription " + ssub + " or " +
                                 msub + " exists); `pymigrate sync teardown` first, or choose --name");

    std::string monolith_peer = config.monolith_peer_dsn.empty() ? mdsn : config.monolith_peer_dsn;
    std::string service_peer = config.service_peer_dsn.empty() ? sdsn : config.service_peer_dsn;
    json result = {{"name", config.name}};
    try {
        // 2. service <- monolith, with the initial copy.
        create_subscription(s, ssub, monolith_peer, local_tables(config, true), config.copy,
                            subscription_options(config, true), table_options(config, true));
        progress(global, "created " + ssub + " on the service; " +
                             (config.copy ? "copying the monolith's rows" : "no initial copy"));
        wait_streaming(s, ssub, global, timeout_s);
        progress(global, "monolith -> service is streaming");
        // 3. monolith <- service, without a copy (the rows are the same).
        create_subscription(m, msub, service_peer, local_tables(config, false), false,
                            subscription_options(config, false), table_options(config, false));
        wait_streaming(m, msub, global, timeout_s);
        progress(global, "service -> monolith is streaming");
        // 4. Inserts on both sides never draw the same key.
        result["sequences"] = split_sequences(m, s, config);
        for (const auto &q : result["sequences"])
            progress(global, "sequence of " + q["monolith"].get<std::string>() + ": the monolith draws odd numbers " +
                                 "from " + std::to_string(q["monolith_next"].get<long long>()) +
                                 (q.contains("service") ? ", the service even ones from " +
                                                              std::to_string(q["service_next"].get<long long>())
                                                        : std::string(", (no sequence on the service)")));
    } catch (...) {
        progress(global, "failed; dropping what this run created");
        drop_if_there(m, msub);
        drop_if_there(s, ssub);
        throw;
    }
    result["subscriptions"] = {{"service", ssub}, {"monolith", msub}};
    result["tables"] = local_tables(config, false);
    if (global.json)
        std::cout << result.dump(2) << std::endl;
    else
        std::cout << "sync " << config.name << " is running both ways: " << ssub << " on the service, " << msub
                  << " on the monolith (" << config.tables.size() << " tables). `pymigrate sync status` shows it."
                  << std::endl;
    return kOk;
}

} // namespace pymigrate::cli::sync

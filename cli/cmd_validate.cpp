// pymigrate validate: compares the monolith with the service database
// (pymigrate.validate() runs inside the monolith and reaches the service over
// libpq), prints the consistency report, and optionally repairs.
#include <libpq-fe.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.hpp"
#include "cli/exit_codes.hpp"
#include "common/dsn.hpp"
#include "common/pq.hpp"

namespace pymigrate::cli {
namespace {

using json = nlohmann::json;

struct ValidateOptions {
    std::vector<std::string> tables;
    std::string mapping = "{}";
    bool with_rows = false;
    bool no_recheck = false;
    double recheck_delay = -1;   // seconds; < 0: the server's default
    double recheck_timeout = -1; // seconds; < 0: the server's default
    int buckets = 0;
    int parallel = -1;
    int show = 20;
    int64_t report_run = 0; // > 0: show this run instead of running one
    bool status = false;
    std::string reconcile; // direction
    bool apply = false;
    int max_changes = 1000;
};

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

std::string
read_mapping(const std::string &arg)
{
    std::string text = arg;
    if (!arg.empty() && arg[0] == '@') {
        std::ifstream in(arg.substr(1));
        if (!in)
            throw UsageError("cannot read the mapping file " + arg.substr(1));
        std::stringstream s;
        s << in.rdbuf();
        text = s.str();
    }
    try {
        return json::parse(text).dump();
    } catch (const json::exception &e) {
        throw UsageError(std::string("--mapping is not valid JSON: ") + e.what());
    }
}

// Server NOTICEs (re-check announcements) go to stderr with -v only.
void
notice_processor(void *arg, const char *message)
{
    if (*static_cast<int *>(arg) > 0)
        std::cerr << message;
}

json
rows_as_json(const pq::Result &r)
{
    json out = json::array();
    for (int i = 0; i < r.rows(); ++i) {
        json row = json::object();
        for (int c = 0; c < r.columns(); ++c) {
            auto v = r.optional(i, c);
            row[r.column_name(c)] = v ? json(*v) : json(nullptr);
        }
        out.push_back(row);
    }
    return out;
}

// Numbers come back as text; keep JSON numbers numbers.
json
numeric_fields(json rows, std::initializer_list<const char *> fields)
{
    for (auto &row : rows)
        for (const char *f : fields)
            if (row.contains(f) && row[f].is_string()) {
                const std::string s = row[f].get<std::string>();
                row[f] = s.find('.') == std::string::npos ? json(std::stoll(s)) : json(std::stod(s));
            }
    return rows;
}

std::string
pad(const std::string &s, size_t width)
{
    return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

void
print_table(const std::vector<std::string> &headers, const std::vector<std::vector<std::string>> &rows)
{
    std::vector<size_t> width(headers.size());
    for (size_t c = 0; c < headers.size(); ++c) {
        width[c] = headers[c].size();
        for (const auto &r : rows)
            width[c] = std::max(width[c], r[c].size());
    }
    auto line = [&](const std::vector<std::string> &cells) {
        std::string out;
        for (size_t c = 0; c < cells.size(); ++c)
            out += (c ? "  " : "") + pad(cells[c], width[c]);
        while (!out.empty() && out.back() == ' ')
            out.pop_back();
        std::cout << out << "\n";
    };
    line(headers);
    std::vector<std::string> rule;
    for (size_t w : width)
        rule.push_back(std::string(w, '-'));
    line(rule);
    for (const auto &r : rows)
        line(r);
}

int
show_run(pq::Connection &c, int64_t run, const GlobalOptions &global, int show)
{
    std::string id = std::to_string(run);
    auto head = c.exec("SELECT id, status, remote, started_at, finished_at, error FROM pymigrate.validation_run "
                       "WHERE id = $1",
                       {id});
    if (head.rows() == 0)
        throw UsageError("validation run " + id + " does not exist");
    std::string status(head.value(0, 1));
    auto report = c.exec("SELECT * FROM pymigrate.consistency_report($1)", {id});
    auto diffs = c.exec("SELECT table_name, key::text AS key, kind, status FROM pymigrate.discrepancy "
                        "WHERE run_id = $1 AND status IN ('confirmed', 'pending') ORDER BY table_name, id LIMIT $2",
                        {id, std::to_string(show)});
    auto total = c.scalar("SELECT count(*) FROM pymigrate.discrepancy WHERE run_id = $1 AND status IN "
                          "('confirmed', 'pending')",
                          {id});
    if (global.json) {
        json out = {{"run", run},
                    {"status", status},
                    {"remote", std::string(head.value(0, 2))},
                    {"started_at", std::string(head.value(0, 3))},
                    {"finished_at", head.optional(0, 4) ? json(*head.optional(0, 4)) : json(nullptr)},
                    {"error", head.optional(0, 5) ? json(*head.optional(0, 5)) : json(nullptr)},
                    {"tables", numeric_fields(rows_as_json(report), {"rows_compared", "consistency_pct", "missing",
                                                                     "extra", "changed", "pending", "resolved"})},
                    {"discrepancies", rows_as_json(diffs)},
                    {"discrepancies_total", std::stoll(total.value_or("0"))}};
        for (auto &d : out["discrepancies"])
            d["key"] = json::parse(d["key"].get<std::string>());
        std::cout << out.dump(2) << std::endl;
    } else {
        std::cout << fmt::format("validation run {} against {}: {}\n", run, head.value(0, 2), status);
        if (head.optional(0, 5))
            std::cout << "error: " << *head.optional(0, 5) << "\n";
        if (report.rows() > 0) {
            std::vector<std::vector<std::string>> rows;
            for (int i = 0; i < report.rows(); ++i)
                rows.push_back({std::string(report.value(i, 0)), std::string(report.value(i, 2)),
                                std::string(report.value(i, 3)) + "%", std::string(report.value(i, 4)),
                                std::string(report.value(i, 5)), std::string(report.value(i, 6)),
                                std::string(report.value(i, 7)), std::string(report.value(i, 8)),
                                std::string(report.value(i, 10)), std::string(report.value(i, 11))});
            std::cout << "\n";
            print_table({"table", "rows", "consistency", "missing", "extra", "changed", "pending", "resolved",
                         "method", "duration"},
                        rows);
        }
        if (diffs.rows() > 0) {
            std::cout << fmt::format("\ndiscrepancies ({} of {}; missing: only in the monolith, extra: only in the "
                                     "service):\n",
                                     diffs.rows(), total.value_or("0"));
            std::vector<std::vector<std::string>> rows;
            for (int i = 0; i < diffs.rows(); ++i)
                rows.push_back({std::string(diffs.value(i, 0)), std::string(diffs.value(i, 1)),
                                std::string(diffs.value(i, 2)), std::string(diffs.value(i, 3))});
            print_table({"table", "key", "kind", "status"}, rows);
        }
    }
    if (status == "consistent")
        return kOk;
    return status == "failed" ? kFailed : kCheckFailed;
}

int
show_status(pq::Connection &c, const GlobalOptions &global)
{
    auto r = c.exec("SELECT table_name, remote_table, run_id, validated_at, rows_compared, consistency_pct, missing, "
                    "extra, changed, pending, status FROM pymigrate.consistency_status ORDER BY table_name");
    bool all_consistent = true;
    for (int i = 0; i < r.rows(); ++i)
        all_consistent = all_consistent && r.value(i, 10) == "consistent";
    if (global.json) {
        std::cout << numeric_fields(rows_as_json(r), {"run_id", "rows_compared", "consistency_pct", "missing", "extra",
                                                      "changed", "pending"})
                         .dump(2)
                  << std::endl;
    } else {
        std::vector<std::vector<std::string>> rows;
        for (int i = 0; i < r.rows(); ++i)
            rows.push_back({std::string(r.value(i, 0)), std::string(r.value(i, 2)), std::string(r.value(i, 3)),
                            std::string(r.value(i, 4)), std::string(r.value(i, 5)) + "%", std::string(r.value(i, 10))});
        print_table({"table", "run", "validated at", "rows", "consistency", "status"}, rows);
    }
    return all_consistent ? kOk : kCheckFailed;
}

int
reconcile(pq::Connection &c, const ValidateOptions &o, const GlobalOptions &global)
{
    std::string direction;
    if (o.reconcile == "monolith-to-service")
        direction = "local_to_remote";
    else if (o.reconcile == "service-to-monolith")
        direction = "remote_to_local";
    else
        throw UsageError("--reconcile takes monolith-to-service or service-to-monolith, not " + o.reconcile);
    std::string run = o.report_run > 0 ? std::to_string(o.report_run)
                                       : c.scalar("SELECT max(id) FROM pymigrate.validation_run").value_or("");
    if (run.empty())
        throw UsageError("no validation run to reconcile: run `pymigrate validate` first");
    auto r = c.exec("SELECT table_name, key::text, action, statement FROM pymigrate.reconcile($1, $2, $3, $4)",
                    {run, direction, o.apply ? "false" : "true", std::to_string(o.max_changes)});
    if (global.json) {
        json out = {{"run", std::stoll(run)}, {"direction", o.reconcile}, {"applied", o.apply},
                    {"statements", rows_as_json(r)}};
        std::cout << out.dump(2) << std::endl;
    } else {
        for (int i = 0; i < r.rows(); ++i)
            std::cout << r.value(i, 3) << ";\n";
        std::cerr << fmt::format("{} statement(s) {} (validation run {}, {})\n", r.rows(),
                                 o.apply ? "applied" : "to apply with --apply", run, o.reconcile);
    }
    return kOk;
}

int
run(const ValidateOptions &o, const GlobalOptions &global)
{
    if (global.monolith.empty())
        throw UsageError("--monolith (or PYMIGRATE_MONOLITH) is required: validation runs inside the monolith");
    pq::Connection c(global.monolith);
    int verbose = global.verbose;
    PQsetNoticeProcessor(c.get(), notice_processor, &verbose);
    if (o.status)
        return show_status(c, global);
    if (!o.reconcile.empty())
        return reconcile(c, o, global);
    if (o.report_run > 0)
        return show_run(c, o.report_run, global, o.show);
    if (global.service.empty())
        throw UsageError("--service (or PYMIGRATE_SERVICE) is required to validate");
    if (global.verbose)
        std::cerr << "validating " << redact_dsn(global.monolith) << " against " << redact_dsn(global.service)
                  << std::endl;
    std::vector<pq::Param> params = {o.tables.empty() ? std::nullopt : std::optional(pq::array_literal(o.tables)),
                                     global.service,
                                     o.mapping,
                                     o.with_rows ? "true" : "false",
                                     o.no_recheck ? "false" : "true",
                                     o.recheck_delay >= 0 ? std::optional(fmt::format("{} seconds", o.recheck_delay))
                                                          : std::nullopt,
                                     o.buckets > 0 ? std::optional(std::to_string(o.buckets)) : std::nullopt,
                                     o.parallel >= 0 ? std::optional(std::to_string(o.parallel)) : std::nullopt,
                                     o.recheck_timeout >= 0
                                         ? std::optional(fmt::format("{} seconds", o.recheck_timeout))
                                         : std::nullopt};
    auto id = c.scalar("SELECT pymigrate.validate($1::text[], $2, $3::jsonb, with_rows => $4::boolean, "
                       "recheck => $5::boolean, recheck_delay => coalesce($6::interval, '2 seconds'), "
                       "buckets => $7::integer, parallel => $8::integer, "
                       "recheck_timeout => coalesce($9::interval, '30 seconds'))",
                       params);
    return show_run(c, std::stoll(*id), global, o.show);
}

} // namespace

void
register_validate(CLI::App &app, GlobalOptions &global, int &exit_code)
{
    auto o = std::make_shared<ValidateOptions>();
    auto *cmd = app.add_subcommand("validate", "Check that the monolith and the service database hold the same rows");
    cmd->add_option("-t,--table", o->tables, "a table to compare (repeat; default: every table both sides have)");
    cmd->add_option("--mapping", o->mapping,
                    "JSON (or @file) per table: {\"orders\": {\"table\": \"svc.orders\", \"columns\": {\"total\": "
                    "\"amount\"}, \"key\": [\"id\"], \"exclude\": [\"updated_at\"]}}");
    cmd->add_flag("--with-rows", o->with_rows, "record both row images of each discrepancy");
    cmd->add_flag("--no-recheck", o->no_recheck, "report differences at once instead of re-checking them");
    cmd->add_option("--recheck-delay", o->recheck_delay,
                    "seconds between re-checks when no pymigrate subscription connects the two sides (default 2)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--recheck-timeout", o->recheck_timeout,
                    "longest wait, in seconds, for the subscriptions between the two sides to apply the changes in "
                    "flight before re-checking (default 30)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--buckets", o->buckets, "digest buckets (default: from the row count)")->check(CLI::PositiveNumber);
    cmd->add_option("--parallel", o->parallel, "parallel workers per side for the digest (0: none)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--show", o->show, "discrepancies to list (default 20)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--run", o->report_run, "show (or reconcile) a recorded run instead of running one")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--status", o->status, "the latest result of every table validated so far");
    cmd->add_option("--reconcile", o->reconcile,
                    "print the statements that repair the latest run (or --run): monolith-to-service or "
                    "service-to-monolith");
    cmd->add_flag("--apply", o->apply, "with --reconcile: apply them, in one transaction on the target");
    cmd->add_option("--max-changes", o->max_changes, "with --reconcile: refuse above this many rows (default 1000)")
        ->check(CLI::NonNegativeNumber);
    cmd->footer("Exit status: 0 consistent, 3 differences found (or pending), 1 failed.\n"
                "Examples:\n"
                "  pymigrate validate --monolith 'dbname=shop' --service 'host=svc dbname=orders' -t orders -t "
                "order_items\n"
                "  pymigrate validate --monolith 'dbname=shop' --status --json\n"
                "  pymigrate validate --monolith 'dbname=shop' --reconcile monolith-to-service --apply");
    cmd->callback([o, &global, &exit_code] {
        try {
            o->mapping = read_mapping(o->mapping);
            exit_code = run(*o, global);
        } catch (const UsageError &e) {
            std::cerr << "pymigrate validate: " << e.what() << std::endl;
            exit_code = kUsage;
        } catch (const pq::Error &e) {
            std::cerr << "pymigrate validate: " << e.what() << std::endl;
            exit_code = kFailed;
        }
    });
}

} // namespace pymigrate::cli

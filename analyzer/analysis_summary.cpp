#include <cmath>
#include <cstdio>

#include "analyzer/analysis_report.hpp"

namespace pymigrate::analyzer
{
namespace
{

std::string
count(double v)
{
    // 12345 -> "12,345"
    std::string s = std::to_string(static_cast<long long>(std::llround(v)));
    for (int i = static_cast<int>(s.size()) - 3; i > (s[0] == '-' ? 1 : 0); i -= 3)
        s.insert(static_cast<size_t>(i), ",");
    return s;
}

std::string
bytes(int64_t b)
{
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

std::string
percent(double part, double whole)
{
    if (whole <= 0)
        return "0%";
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f%%", 100.0 * part / whole);
    return buf;
}

std::string
join(const std::vector<std::string> &v, const char *sep = ", ")
{
    std::string s;
    for (const auto &x : v)
        s += (s.empty() ? "" : sep) + x;
    return s;
}

std::string
one_line(std::string s, size_t max)
{
    for (auto &c : s)
        if (c == '\n' || c == '\t' || c == '\r')
            c = ' ';
    std::string out;
    for (char c : s)
        if (!(c == ' ' && !out.empty() && out.back() == ' '))
            out += c;
    return out.size() > max ? out.substr(0, max - 3) + "..." : out;
}

constexpr size_t kShown = 10;

} // namespace

std::string
summary_markdown(const Analysis &a)
{
    const Score &sc = a.score;
    std::string o;
    char buf[256];
    o += "# Service boundaries: " + a.model.source + "\n\n";
    snprintf(buf, sizeof buf,
             "%zu tables -> %zu services; modularity %.3f; coupling %.3f (share of the table graph's weight that "
             "crosses services)\n",
             a.model.schema.tables.size(), a.services.size(), sc.modularity, sc.coupling);
    o += buf;
    o += "Evidence: " + count(sc.foreign_keys_total) + " foreign keys; " + count(a.model.workload.queries.size()) +
         " query patterns (" + count(sc.query_calls_total) + " calls) from " + a.model.workload.query_source + "; " +
         count(sc.transactions_total) + " transactions from a statement log\n\n";

    o += "## Services\n\n";
    int i = 0;
    for (const auto &s : a.services) {
        o += std::to_string(++i) + ". **" + s.name + "**: " + std::to_string(s.tables.size()) +
             (s.tables.size() == 1 ? " table" : " tables");
        if (s.rows > 0 || s.bytes > 0)
            o += ", " + count(static_cast<double>(s.rows)) + " rows, " + bytes(s.bytes);
        if (s.writes > 0)
            o += ", " + count(static_cast<double>(s.writes)) + " rows written";
        o += "\n   ";
        std::vector<std::string> names;
        for (const auto &t : s.tables)
            names.push_back(t == s.central_table ? t + " (central)" : t);
        o += join(names) + "\n";
    }

    o += "\n## Cost of the cut\n\n";
    o += "- Foreign keys across services: " + count(sc.foreign_keys.size()) + " of " + count(sc.foreign_keys_total) +
         (sc.foreign_keys.empty() ? "\n" : " (each becomes an API call or a replicated copy)\n");
    size_t n = 0;
    for (const auto &c : sc.foreign_keys) {
        if (n++ == kShown) {
            o += "    ... and " + std::to_string(sc.foreign_keys.size() - kShown) + " more (see --json)\n";
            break;
        }
        o += "    " + c.fk->table + " (" + join(c.fk->columns) + ") -> " + c.fk->ref_table + " (" +
             join(c.fk->ref_columns) + ")    [" + c.from_service + " -> " + c.to_service + "]\n";
    }
    o += "- Queries joining across services: " + count(sc.queries.size()) + " of " +
         count(a.model.workload.queries.size()) + " patterns, " + count(sc.query_calls_cut) + " of " +
         count(sc.query_calls_total) + " calls (" + percent(sc.query_calls_cut, sc.query_calls_total) + ")\n";
    n = 0;
    for (const auto &c : sc.queries) {
        if (n++ == kShown) {
            o += "    ... and " + std::to_string(sc.queries.size() - kShown) + " more (see --json)\n";
            break;
        }
        o += "    " + count(c.query->calls) + " calls [" + join(c.services, " + ") +
             "]: " + one_line(c.query->text, 90) + "\n";
    }
    o += "- Transactions writing to more than one service (would become distributed): " +
         count(static_cast<double>(sc.transactions_cut)) + " of " + count(static_cast<double>(sc.transactions_total)) +
         " (" + percent(static_cast<double>(sc.transactions_cut), static_cast<double>(sc.transactions_total)) + ")\n";
    n = 0;
    for (const auto &c : sc.transactions) {
        if (n++ == kShown) {
            o += "    ... and " + std::to_string(sc.transactions.size() - kShown) + " more (see --json)\n";
            break;
        }
        o += "    " + count(static_cast<double>(c.transaction->count)) + " x writes " + join(c.transaction->written) +
             " [" + join(c.services, " + ") + "]\n";
    }
    std::vector<std::string> warnings = a.model.warnings;
    warnings.insert(warnings.end(), a.warnings.begin(), a.warnings.end());
    if (!warnings.empty()) {
        o += "\n## Warnings\n\n";
        for (const auto &w : warnings)
            o += "- " + w + "\n";
    }
    return o;
}

} // namespace pymigrate::analyzer

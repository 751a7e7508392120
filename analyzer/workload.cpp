#include "analyzer/workload.hpp"

#include <algorithm>
#include <set>

#include "analyzer/sql_parser.hpp"

namespace pymigrate::analyzer
{

const WorkloadBuilder::Parsed &
WorkloadBuilder::parse(const std::string &text)
{
    auto it = parsed_.find(text);
    if (it != parsed_.end())
        return it->second;
    Parsed p;
    try {
        auto tree = parse_sql(text);
        std::set<std::string> read, written;
        for (const auto &stmt : tree.value("stmts", nlohmann::json::array())) {
            StatementTables st = statement_tables(stmt);
            for (const auto &[s, n] : st.written)
                if (const Table *t = schema_.resolve(s, n))
                    written.insert(t->key());
            for (const auto &[s, n] : st.read)
                if (const Table *t = schema_.resolve(s, n))
                    read.insert(t->key());
        }
        for (const auto &w : written)
            read.erase(w);
        p.ok = true;
        p.fingerprint = fingerprint_sql(text);
        p.read.assign(read.begin(), read.end());
        p.written.assign(written.begin(), written.end());
    } catch (const SqlSyntaxError &) {
        ++unparsed_;
    }
    return parsed_.emplace(text, std::move(p)).first->second;
}

bool
WorkloadBuilder::add_query(const std::string &text, double calls)
{
    const Parsed &p = parse(text);
    if (!p.ok)
        return false;
    if (p.read.empty() && p.written.empty())
        return true;
    // libpg_query's fingerprint ignores digits in table names (t20 and t35, or
    // events_2023 and events_2024, are one shape to it); the tables decide here too.
    std::string key = p.fingerprint;
    for (const auto &t : p.read)
        key += "\n" + t;
    for (const auto &t : p.written)
        key += "\n+" + t;
    Query &q = queries_[key];
    if (q.fingerprint.empty()) {
        q.fingerprint = p.fingerprint;
        q.text = text.size() > 2000 ? text.substr(0, 2000) + "..." : text;
        std::set<std::string> all(p.read.begin(), p.read.end());
        all.insert(p.written.begin(), p.written.end());
        q.tables.assign(all.begin(), all.end());
        q.written = p.written;
    }
    q.calls += calls;
    return true;
}

void
WorkloadBuilder::add_transaction(const std::vector<std::string> &statements)
{
    std::set<std::string> read, written;
    std::string example;
    for (const auto &s : statements) {
        const Parsed &p = parse(s);
        if (!p.ok)
            continue;
        read.insert(p.read.begin(), p.read.end());
        written.insert(p.written.begin(), p.written.end());
        if ((!p.read.empty() || !p.written.empty()) && example.size() < 400)
            example += (example.empty() ? "" : "; ") + (s.size() > 160 ? s.substr(0, 160) + "..." : s);
    }
    for (const auto &w : written)
        read.erase(w);
    if (read.empty() && written.empty())
        return;
    std::vector<std::string> w(written.begin(), written.end()), r(read.begin(), read.end());
    TransactionPattern &t = transactions_[{w, r}];
    if (t.count == 0) {
        t.written = w;
        t.read = r;
        t.example = example;
    }
    ++t.count;
}

Workload
WorkloadBuilder::finish(const std::string &query_source)
{
    Workload w;
    w.query_source = query_source;
    for (auto &[fp, q] : queries_)
        w.queries.push_back(std::move(q));
    // Heaviest first: what a person reads first.
    std::stable_sort(w.queries.begin(), w.queries.end(),
                     [](const Query &a, const Query &b) { return a.calls > b.calls; });
    for (auto &[k, t] : transactions_)
        w.transactions.push_back(std::move(t));
    std::stable_sort(w.transactions.begin(), w.transactions.end(),
                     [](const TransactionPattern &a, const TransactionPattern &b) { return a.count > b.count; });
    w.statements_unparsed = unparsed_;
    queries_.clear();
    transactions_.clear();
    return w;
}

} // namespace pymigrate::analyzer

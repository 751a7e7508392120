#include "analyzer/table_graph.hpp"

#include <algorithm>
#include <cmath>

namespace pymigrate::analyzer
{
namespace
{

// A query over k tables ties k-1 pairs' worth, not k(k-1)/2: a wide report
// query should not weigh more than a join of two tables run as often.
template <typename F>
void
each_pair(const TableGraph &g, const std::vector<std::string> &tables, double amount, F add)
{
    std::vector<int> v;
    for (const auto &t : tables)
        if (auto it = g.index.find(t); it != g.index.end())
            v.push_back(it->second);
    if (v.size() < 2)
        return;
    double share = amount / static_cast<double>(v.size() - 1);
    for (size_t i = 0; i < v.size(); ++i)
        for (size_t j = i + 1; j < v.size(); ++j)
            add(std::min(v[i], v[j]), std::max(v[i], v[j]), share);
}

} // namespace

TableGraph
build_graph(const Model &model, const Weights &weights)
{
    TableGraph g;
    for (const auto &t : model.schema.tables) {
        g.index[t.key()] = static_cast<int>(g.tables.size());
        g.tables.push_back(t.key());
    }
    std::map<std::pair<int, int>, TableGraph::Edge> edges;
    auto edge = [&](int a, int b) -> TableGraph::Edge & {
        auto &e = edges[{a, b}];
        e.a = a;
        e.b = b;
        return e;
    };
    for (const auto &fk : model.schema.foreign_keys) {
        auto a = g.index.find(fk.table), b = g.index.find(fk.ref_table);
        if (a == g.index.end() || b == g.index.end() || a->second == b->second)
            continue; // a self-reference ties a table to itself only
        edge(std::min(a->second, b->second), std::max(a->second, b->second)).foreign_keys++;
    }
    for (const auto &q : model.workload.queries)
        each_pair(g, q.tables, q.calls, [&](int a, int b, double s) { edge(a, b).query_calls += s; });
    for (const auto &t : model.workload.transactions)
        each_pair(g, t.written, static_cast<double>(t.count),
                  [&](int a, int b, double s) { edge(a, b).transactions += s; });

    double max_calls = 0, max_tx = 0;
    for (const auto &[k, e] : edges) {
        max_calls = std::max(max_calls, e.query_calls);
        max_tx = std::max(max_tx, e.transactions);
    }
    g.strength.assign(g.tables.size(), 0);
    for (auto &[k, e] : edges) {
        e.weight = weights.foreign_key * e.foreign_keys;
        if (max_calls > 0)
            e.weight += weights.query * std::log1p(e.query_calls) / std::log1p(max_calls);
        if (max_tx > 0)
            e.weight += weights.transaction * std::log1p(e.transactions) / std::log1p(max_tx);
        if (e.weight <= 0)
            continue;
        g.strength[e.a] += e.weight;
        g.strength[e.b] += e.weight;
        g.total_weight += e.weight;
        g.edges.push_back(e);
    }
    return g;
}

} // namespace pymigrate::analyzer

// From the table graph to groups of tables: Leiden, then the user's
// constraints (pinned tables, a number of services, sizes).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "analyzer/analysis.hpp"
#include "analyzer/leiden.hpp"

namespace pymigrate::analyzer
{
namespace
{

using Groups = std::vector<std::vector<int>>;

// Weight between every pair of groups (and inside each, on the diagonal).
std::map<std::pair<int, int>, double>
group_weights(const TableGraph &g, const std::vector<int> &group_of)
{
    std::map<std::pair<int, int>, double> w;
    for (const auto &e : g.edges) {
        int a = group_of[e.a], b = group_of[e.b];
        w[{std::min(a, b), std::max(a, b)}] += e.weight;
    }
    return w;
}

Groups
to_groups(const std::vector<int> &membership)
{
    int k = membership.empty() ? 0 : *std::max_element(membership.begin(), membership.end()) + 1;
    Groups out(k);
    for (int v = 0; v < static_cast<int>(membership.size()); ++v)
        out[membership[v]].push_back(v);
    std::erase_if(out, [](const auto &g) { return g.empty(); });
    return out;
}

std::vector<int>
membership_of(const Groups &groups, size_t n)
{
    std::vector<int> m(n, -1);
    for (int i = 0; i < static_cast<int>(groups.size()); ++i)
        for (int v : groups[i])
            m[v] = i;
    return m;
}

// Leiden on the graph with pinned groups contracted to one vertex each, so
// tables pinned together always stay together.
Groups
leiden_with_pins(const TableGraph &g, const std::vector<int> &pin_group, double resolution, uint64_t seed)
{
    const int n = static_cast<int>(g.tables.size());
    std::vector<int> super(n);
    std::map<int, int> pin_super;
    int next = 0;
    for (int v = 0; v < n; ++v) {
        if (pin_group[v] >= 0) {
            auto it = pin_super.emplace(pin_group[v], next).first;
            if (it->second == next)
                ++next;
            super[v] = it->second;
        } else {
            super[v] = next++;
        }
    }
    std::map<std::pair<int, int>, double> w;
    for (const auto &e : g.edges)
        if (super[e.a] != super[e.b])
            w[{std::min(super[e.a], super[e.b]), std::max(super[e.a], super[e.b])}] += e.weight;
    std::vector<WeightedEdge> edges;
    for (const auto &[k, x] : w)
        edges.push_back({k.first, k.second, x});
    std::vector<double> nw(next, 0);
    for (int v = 0; v < n; ++v)
        nw[super[v]] += g.strength[v];
    auto m = leiden(next, edges, nw, resolution, seed);
    std::vector<int> membership(n);
    for (int v = 0; v < n; ++v)
        membership[v] = m[super[v]];
    return to_groups(membership);
}

// A group holding two pinned services is split between them: each other
// table goes to the pinned service it is tied to most strongly.
Groups
separate_pins(const TableGraph &g, Groups groups, const std::vector<int> &pin_group)
{
    Groups out;
    for (auto &grp : groups) {
        std::set<int> pins;
        for (int v : grp)
            if (pin_group[v] >= 0)
                pins.insert(pin_group[v]);
        if (pins.size() <= 1) {
            out.push_back(grp);
            continue;
        }
        std::map<int, std::vector<int>> parts;
        std::vector<int> loose;
        for (int v : grp)
            (pin_group[v] >= 0 ? parts[pin_group[v]] : loose).push_back(v);
        std::vector<int> owner(g.tables.size(), -1);
        for (auto &[p, vs] : parts)
            for (int v : vs)
                owner[v] = p;
        // Repeat: a loose table tied only to another loose table follows it.
        for (int round = 0; round < static_cast<int>(loose.size()) + 1; ++round) {
            bool changed = false;
            for (int v : loose) {
                if (owner[v] >= 0)
                    continue;
                std::map<int, double> tie;
                for (const auto &e : g.edges) {
                    int other = e.a == v ? e.b : e.b == v ? e.a : -1;
                    if (other >= 0 && owner[other] >= 0)
                        tie[owner[other]] += e.weight;
                }
                if (tie.empty())
                    continue;
                auto best =
                    std::max_element(tie.begin(), tie.end(), [](auto &x, auto &y) { return x.second < y.second; });
                owner[v] = best->first;
                parts[best->first].push_back(v);
                changed = true;
            }
            if (!changed)
                break;
        }
        for (int v : loose)
            if (owner[v] < 0)
                parts.begin()->second.push_back(v);
        for (auto &[p, vs] : parts)
            out.push_back(vs);
    }
    return out;
}

int
pin_of(const Groups &, const std::vector<int> &grp, const std::vector<int> &pin_group)
{
    for (int v : grp)
        if (pin_group[v] >= 0)
            return pin_group[v];
    return -1;
}

// Merges the two most strongly tied groups (not both pinned) until `target`.
Groups
merge_to(const TableGraph &g, Groups groups, size_t target, const std::vector<int> &pin_group, size_t min_size)
{
    while (groups.size() > target || min_size > 0) {
        auto m = membership_of(groups, g.tables.size());
        auto w = group_weights(g, m);
        double best = -1;
        std::pair<int, int> pick{-1, -1};
        for (const auto &[k, x] : w) {
            if (k.first == k.second)
                continue;
            if (pin_of(groups, groups[k.first], pin_group) >= 0 && pin_of(groups, groups[k.second], pin_group) >= 0)
                continue;
            if (min_size > 0 && groups[k.first].size() >= min_size && groups[k.second].size() >= min_size)
                continue; // merging for size: one side must be too small
            // Normalized by size so small groups merge first.
            double score = x / static_cast<double>(std::min(groups[k.first].size(), groups[k.second].size()));
            if (score > best) {
                best = score;
                pick = k;
            }
        }
        if (pick.first < 0)
            break;
        auto &into = groups[pick.first];
        into.insert(into.end(), groups[pick.second].begin(), groups[pick.second].end());
        std::sort(into.begin(), into.end());
        groups.erase(groups.begin() + pick.second);
    }
    return groups;
}

Groups
split_larger(const TableGraph &g, Groups groups, size_t max_size, const ClusterOptions &o,
             std::vector<std::string> &warnings)
{
    Groups out;
    while (!groups.empty()) {
        auto grp = groups.back();
        groups.pop_back();
        if (grp.size() <= max_size) {
            out.push_back(grp);
            continue;
        }
        // The group's own subgraph, at doubling resolution until it splits.
        std::map<int, int> local;
        for (int v : grp)
            local.emplace(v, static_cast<int>(local.size()));
        std::vector<WeightedEdge> edges;
        std::vector<double> nw(grp.size(), 0);
        for (const auto &e : g.edges)
            if (local.count(e.a) && local.count(e.b)) {
                edges.push_back({local[e.a], local[e.b], e.weight});
                nw[local[e.a]] += e.weight;
                nw[local[e.b]] += e.weight;
            }
        Groups parts;
        for (double r = o.resolution * 2; r < o.resolution * 1e6; r *= 2) {
            parts = to_groups(leiden(static_cast<int>(grp.size()), edges, nw, r, o.seed));
            if (parts.size() > 1)
                break;
        }
        if (parts.size() <= 1) {
            warnings.push_back("a service of " + std::to_string(grp.size()) + " tables cannot be split below " +
                               std::to_string(max_size) + " tables");
            out.push_back(grp);
            continue;
        }
        for (auto &p : parts) {
            for (auto &v : p)
                v = grp[v];
            groups.push_back(p);
        }
    }
    return out;
}

} // namespace

std::vector<std::vector<int>>
cluster_graph(const TableGraph &g, const ClusterOptions &o, std::vector<std::string> &warnings)
{
    const size_t n = g.tables.size();
    if (o.resolution <= 0 || !std::isfinite(o.resolution))
        throw AnalysisError("the resolution must be a positive number");
    if (o.services && (*o.services < 1 || static_cast<size_t>(*o.services) > n))
        throw AnalysisError("--services must be between 1 and the number of tables (" + std::to_string(n) + ")");
    if (o.min_tables && o.max_tables && *o.min_tables > *o.max_tables)
        throw AnalysisError("--min-tables is larger than --max-tables");

    std::vector<int> pin_group(n, -1);
    std::map<std::string, int> pin_ids;
    for (const auto &[table, service] : o.pins) {
        auto it = g.index.find(table);
        if (it == g.index.end())
            throw AnalysisError("--pin names table \"" + table + "\", which the source does not have");
        pin_group[it->second] = pin_ids.emplace(service, static_cast<int>(pin_ids.size())).first->second;
    }
    if (o.services && pin_ids.size() > static_cast<size_t>(*o.services))
        throw AnalysisError("more pinned services (" + std::to_string(pin_ids.size()) + ") than --services");

    Groups groups = separate_pins(g, leiden_with_pins(g, pin_group, o.resolution, o.seed), pin_group);
    if (o.services) {
        // Search the resolution (log scale) for the number asked; then merge.
        size_t target = static_cast<size_t>(*o.services);
        double lo = std::log(1e-4), hi = std::log(1e3);
        Groups best = groups;
        for (int i = 0; i < 40 && best.size() != target; ++i) {
            double mid = (lo + hi) / 2;
            Groups gr = separate_pins(g, leiden_with_pins(g, pin_group, std::exp(mid), o.seed), pin_group);
            auto dist = [&](const Groups &x) {
                // Prefer too many (they can be merged) over too few.
                return x.size() >= target ? x.size() - target : 1000 + target - x.size();
            };
            if (dist(gr) < dist(best))
                best = gr;
            (gr.size() > target ? hi : lo) = mid;
        }
        groups = merge_to(g, best, target, pin_group, 0);
        if (groups.size() != target)
            warnings.push_back("asked for " + std::to_string(target) + " services, the graph gives " +
                               std::to_string(groups.size()) + " (tables with no ties cannot be merged)");
    }
    if (o.max_tables)
        groups = split_larger(g, groups, static_cast<size_t>(*o.max_tables), o, warnings);
    if (o.min_tables)
        groups = merge_to(g, groups, 1, pin_group, static_cast<size_t>(*o.min_tables));
    for (auto &grp : groups)
        std::sort(grp.begin(), grp.end());
    return groups;
}

} // namespace pymigrate::analyzer

// analyze() and rescore(): services from the graph (or from the user), their
// names and sizes, and the cost of the cut.
#include "analyzer/analysis.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "analyzer/leiden.hpp"

namespace pymigrate::analyzer
{
namespace
{

std::string
singular(std::string w)
{
    auto ends = [&](const std::string &s) {
        return w.size() > s.size() && w.compare(w.size() - s.size(), s.size(), s) == 0;
    };
    if (ends("ies"))
        return w.substr(0, w.size() - 3) + "y";
    if (ends("sses") || ends("xes") || ends("ches") || ends("shes"))
        return w.substr(0, w.size() - 2);
    if (ends("s") && !ends("ss") && !ends("us") && !ends("is"))
        return w.substr(0, w.size() - 1);
    return w;
}

// Sizes and the cost of the cut for an assignment of tables to services.
void
score(Analysis &a, const TableGraph &g)
{
    std::map<std::string, std::string> service_of;
    for (const auto &s : a.services)
        for (const auto &t : s.tables)
            service_of[t] = s.name;
    for (auto &s : a.services) {
        s.rows = s.bytes = s.writes = 0;
        for (const auto &t : s.tables)
            if (const Table *tb = a.model.schema.find(t)) {
                s.rows += std::max<int64_t>(tb->rows, 0);
                s.bytes += std::max<int64_t>(tb->bytes, 0);
                s.writes += std::max<int64_t>(tb->writes, 0);
            }
    }
    Score &sc = a.score;
    sc = Score{};
    for (const auto &fk : a.model.schema.foreign_keys) {
        ++sc.foreign_keys_total;
        const auto &from = service_of[fk.table], &to = service_of[fk.ref_table];
        if (from != to)
            sc.foreign_keys.push_back({&fk, from, to});
    }
    auto services_of = [&](const std::vector<std::string> &tables) {
        std::set<std::string> s;
        for (const auto &t : tables)
            s.insert(service_of[t]);
        return std::vector<std::string>(s.begin(), s.end());
    };
    for (const auto &q : a.model.workload.queries) {
        sc.query_calls_total += q.calls;
        auto s = services_of(q.tables);
        if (s.size() > 1) {
            sc.query_calls_cut += q.calls;
            sc.queries.push_back({&q, s});
        }
    }
    for (const auto &t : a.model.workload.transactions) {
        sc.transactions_total += t.count;
        auto s = services_of(t.written);
        if (s.size() > 1) {
            sc.transactions_cut += t.count;
            sc.transactions.push_back({&t, s});
        }
    }
    std::vector<int> membership(g.tables.size(), 0);
    std::map<std::string, int> ids;
    for (size_t v = 0; v < g.tables.size(); ++v)
        membership[v] = ids.emplace(service_of[g.tables[v]], static_cast<int>(ids.size())).first->second;
    std::vector<WeightedEdge> edges;
    double cut = 0;
    for (const auto &e : g.edges) {
        edges.push_back({e.a, e.b, e.weight});
        if (membership[e.a] != membership[e.b])
            cut += e.weight;
    }
    sc.modularity = modularity(static_cast<int>(g.tables.size()), edges, membership);
    sc.coupling = g.total_weight > 0 ? cut / g.total_weight : 0;
}

void
order_services(std::vector<Service> &services)
{
    std::stable_sort(services.begin(), services.end(), [](const Service &a, const Service &b) {
        return a.tables.size() != b.tables.size() ? a.tables.size() > b.tables.size() : a.name < b.name;
    });
}

} // namespace

std::string
service_name_for(const std::string &table)
{
    // The table's own name (no schema), as an identifier.
    std::string base = table;
    if (auto dot = base.rfind('.'); dot != std::string::npos && base.back() != '"')
        base = base.substr(dot + 1);
    std::string id;
    for (char c : base) {
        unsigned char u = static_cast<unsigned char>(c);
        if (std::isalnum(u))
            id += static_cast<char>(std::tolower(u));
        else if (!id.empty() && id.back() != '_' && c != '"')
            id += '_';
    }
    while (!id.empty() && id.back() == '_')
        id.pop_back();
    if (id.empty())
        id = "unnamed";
    return singular(id) + "_service";
}

const Service *
Analysis::service(const std::string &name) const
{
    for (const auto &s : services)
        if (s.name == name)
            return &s;
    return nullptr;
}

const Service *
Analysis::service_of(const std::string &table) const
{
    for (const auto &s : services)
        if (std::find(s.tables.begin(), s.tables.end(), table) != s.tables.end())
            return &s;
    return nullptr;
}

Analysis
analyze(Model model, const Weights &weights, const ClusterOptions &options)
{
    Analysis a;
    a.model = std::move(model);
    a.weights = weights;
    a.options = options;
    TableGraph g = build_graph(a.model, weights);
    auto groups = cluster_graph(g, options, a.warnings);

    std::set<std::string> used;
    for (const auto &grp : groups) {
        Service s;
        // The most central table: the strongest ties inside the service.
        double best = -1;
        for (int v : grp) {
            double inside = 0;
            for (const auto &e : g.edges)
                if ((e.a == v && std::binary_search(grp.begin(), grp.end(), e.b)) ||
                    (e.b == v && std::binary_search(grp.begin(), grp.end(), e.a)))
                    inside += e.weight;
            double score = inside * 1e6 + g.strength[v]; // ties broken by all ties, then by name order
            if (score > best) {
                best = score;
                s.central_table = g.tables[v];
            }
            s.tables.push_back(g.tables[v]);
        }
        s.name = service_name_for(s.central_table);
        for (const auto &t : s.tables)
            if (auto p = options.pins.find(t); p != options.pins.end())
                s.name = p->second;
        a.services.push_back(std::move(s));
    }
    order_services(a.services);
    for (auto &s : a.services) {
        if (auto r = options.renames.find(s.name); r != options.renames.end())
            s.name = r->second;
        std::string name = s.name;
        for (int i = 2; used.count(name); ++i)
            name = s.name + "_" + std::to_string(i);
        s.name = name;
        used.insert(name);
    }
    for (const auto &[from, to] : options.renames)
        if (!a.service(to))
            a.warnings.push_back("--rename " + from + "=" + to + ": there is no service named " + from);
    score(a, g);
    return a;
}

Analysis
rescore(Model model, const Weights &weights, std::vector<Service> services)
{
    Analysis a;
    a.model = std::move(model);
    a.weights = weights;
    std::map<std::string, std::string> seen;
    std::set<std::string> names;
    for (auto &s : services) {
        if (s.name.empty())
            throw AnalysisError("a service has no name");
        if (!names.insert(s.name).second)
            throw AnalysisError("two services are named \"" + s.name + "\"");
        for (const auto &t : s.tables) {
            if (!a.model.schema.find(t))
                throw AnalysisError("service \"" + s.name + "\" lists table \"" + t +
                                    "\", which the model does not have");
            auto [it, fresh] = seen.emplace(t, s.name);
            if (!fresh)
                throw AnalysisError("table \"" + t + "\" is in two services: \"" + it->second + "\" and \"" + s.name +
                                    "\"");
        }
        if (s.central_table.empty() || std::find(s.tables.begin(), s.tables.end(), s.central_table) == s.tables.end())
            s.central_table = s.tables.empty() ? "" : s.tables.front();
    }
    std::vector<std::string> missing;
    for (const auto &t : a.model.schema.tables)
        if (!seen.count(t.key()))
            missing.push_back(t.key());
    if (!missing.empty()) {
        std::string list;
        for (const auto &m : missing)
            list += (list.empty() ? "" : ", ") + m;
        throw AnalysisError("tables in no service: " + list + " (every table must be in exactly one service)");
    }
    std::erase_if(services, [](const Service &s) { return s.tables.empty(); });
    a.services = std::move(services);
    order_services(a.services);
    TableGraph g = build_graph(a.model, weights);
    score(a, g);
    return a;
}

} // namespace pymigrate::analyzer

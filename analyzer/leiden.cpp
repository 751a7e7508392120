#include "analyzer/leiden.hpp"

#include <igraph/igraph.h>

#include <map>
#include <numeric>
#include <stdexcept>
#include <string>

namespace pymigrate::analyzer
{
namespace
{

// igraph's default error handler aborts the process: replace it once with
// one that returns the error code, which we turn into an exception.
void
quiet_igraph()
{
    static bool done = [] {
        igraph_set_error_handler(igraph_error_handler_ignore);
        igraph_set_warning_handler(igraph_warning_handler_ignore);
        return true;
    }();
    (void)done;
}

void
check(igraph_error_t rc, const char *what)
{
    if (rc != IGRAPH_SUCCESS)
        throw std::runtime_error(std::string("igraph ") + what + " failed: " + igraph_strerror(rc));
}

// igraph objects owned for the scope of one call.
struct Graph {
    igraph_t g;
    igraph_vector_t weights;
    Graph(int n, const std::vector<WeightedEdge> &edges)
    {
        quiet_igraph();
        igraph_vector_int_t ev;
        check(igraph_vector_int_init(&ev, static_cast<igraph_integer_t>(edges.size() * 2)), "vector");
        for (size_t i = 0; i < edges.size(); ++i) {
            VECTOR(ev)[2 * i] = edges[i].a;
            VECTOR(ev)[2 * i + 1] = edges[i].b;
        }
        igraph_error_t rc = igraph_create(&g, &ev, n, IGRAPH_UNDIRECTED);
        igraph_vector_int_destroy(&ev);
        check(rc, "create");
        if (igraph_vector_init(&weights, static_cast<igraph_integer_t>(edges.size())) != IGRAPH_SUCCESS) {
            igraph_destroy(&g);
            throw std::runtime_error("igraph: out of memory");
        }
        for (size_t i = 0; i < edges.size(); ++i)
            VECTOR(weights)[i] = edges[i].weight;
    }
    ~Graph()
    {
        igraph_vector_destroy(&weights);
        igraph_destroy(&g);
    }
    Graph(const Graph &) = delete;
    Graph &operator=(const Graph &) = delete;
};

} // namespace

std::vector<int>
leiden(int n, const std::vector<WeightedEdge> &edges, const std::vector<double> &node_weight, double resolution,
       uint64_t seed)
{
    std::vector<int> out(n);
    if (n == 0)
        return out;
    double total = std::accumulate(node_weight.begin(), node_weight.end(), 0.0);
    if (edges.empty() || total <= 0) {
        std::iota(out.begin(), out.end(), 0);
        return out;
    }
    Graph g(n, edges);
    igraph_vector_t nw;
    check(igraph_vector_init(&nw, n), "vector");
    for (int i = 0; i < n; ++i)
        VECTOR(nw)[i] = node_weight[i];
    igraph_vector_int_t membership;
    if (igraph_vector_int_init(&membership, n) != IGRAPH_SUCCESS) {
        igraph_vector_destroy(&nw);
        throw std::runtime_error("igraph: out of memory");
    }
    // The same seed, the same vertex order, the same result.
    igraph_rng_seed(igraph_rng_default(), seed);
    igraph_integer_t clusters = 0;
    igraph_real_t quality = 0;
    // Modularity in the CPM form igraph implements: node weights are the
    // strengths and the resolution is divided by the total strength (2m).
    igraph_error_t rc = igraph_community_leiden(&g.g, &g.weights, &nw, resolution / total, 0.01, false, -1, &membership,
                                                &clusters, &quality);
    if (rc == IGRAPH_SUCCESS) {
        // Renumber by first appearance so numbering is independent of igraph's.
        std::map<igraph_integer_t, int> renumber;
        for (int i = 0; i < n; ++i) {
            auto it = renumber.emplace(VECTOR(membership)[i], static_cast<int>(renumber.size())).first;
            out[i] = it->second;
        }
    }
    igraph_vector_int_destroy(&membership);
    igraph_vector_destroy(&nw);
    check(rc, "community_leiden");
    return out;
}

double
modularity(int n, const std::vector<WeightedEdge> &edges, const std::vector<int> &membership)
{
    if (edges.empty() || n == 0)
        return 0;
    Graph g(n, edges);
    igraph_vector_int_t m;
    check(igraph_vector_int_init(&m, n), "vector");
    for (int i = 0; i < n; ++i)
        VECTOR(m)[i] = membership[i];
    igraph_real_t q = 0;
    igraph_error_t rc = igraph_modularity(&g.g, &m, &g.weights, 1.0, false, &q);
    igraph_vector_int_destroy(&m);
    check(rc, "modularity");
    return q;
}

} // namespace pymigrate::analyzer

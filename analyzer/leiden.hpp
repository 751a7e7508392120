// Leiden community detection (igraph), modularity objective with a
// resolution, deterministic for a seed.
#pragma once

#include <cstdint>
#include <vector>

namespace pymigrate::analyzer
{

struct WeightedEdge {
    int a, b;
    double weight;
};

// Community of each of the `n` vertices (numbered from 0, in order of first
// vertex). `node_weight` is each vertex's strength (for modularity: the sum
// of its edge weights, which may include weight on edges not listed).
std::vector<int> leiden(int n, const std::vector<WeightedEdge> &edges, const std::vector<double> &node_weight,
                        double resolution, uint64_t seed);

// Weighted modularity (resolution 1) of a membership.
double modularity(int n, const std::vector<WeightedEdge> &edges, const std::vector<int> &membership);

} // namespace pymigrate::analyzer

// The weighted graph of tables the services are cut from: an edge where two
// tables are tied by a foreign key, appear in one query (weighted by calls),
// or are written in one transaction.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "analyzer/model.hpp"

namespace pymigrate::analyzer
{

// How much each kind of tie counts. A foreign key adds `foreign_key` to its
// edge; queries and transactions add up to `query` / `transaction` for the
// hottest pair of tables, less for others (log-scaled, so one very hot query
// does not drown everything else).
struct Weights {
    double foreign_key = 1.0;
    double query = 1.0;
    double transaction = 1.0;
};

struct TableGraph {
    struct Edge {
        int a = 0, b = 0; // a < b
        double weight = 0;
        int foreign_keys = 0;
        double query_calls = 0;  // calls of queries joining both (split over a query's pairs)
        double transactions = 0; // transactions writing both (split likewise)
    };
    std::vector<std::string> tables; // vertex i is tables[i] (Schema order)
    std::map<std::string, int> index;
    std::vector<Edge> edges;
    std::vector<double> strength; // sum of the weights of a vertex's edges
    double total_weight = 0;
};

TableGraph build_graph(const Model &model, const Weights &weights);

} // namespace pymigrate::analyzer

// The analysis: services cut from the table graph, and what the cut costs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "analyzer/model.hpp"
#include "analyzer/table_graph.hpp"

namespace pymigrate::analyzer
{

// Options of the cut (the CLI's flags). Bad values raise AnalysisError.
struct ClusterOptions {
    uint64_t seed = 42;
    double resolution = 1.0;                    // higher: more, smaller services
    std::optional<int> services;                // exactly this many (searches the resolution, then merges)
    std::optional<int> min_tables;              // merge smaller services into their closest neighbour
    std::optional<int> max_tables;              // split larger ones
    std::map<std::string, std::string> pins;    // table key -> service name
    std::map<std::string, std::string> renames; // derived service name -> new name
};

class AnalysisError : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

struct Service {
    std::string name;
    std::string central_table; // the table the name comes from
    std::vector<std::string> tables;
    int64_t rows = 0, bytes = 0, writes = 0; // sums over tables that have statistics
};

struct CrossForeignKey {
    const ForeignKey *fk;
    std::string from_service, to_service;
};
struct CrossQuery {
    const Query *query;
    std::vector<std::string> services;
};
struct CrossTransaction {
    const TransactionPattern *transaction;
    std::vector<std::string> services; // services it writes
};

struct Score {
    double modularity = 0;
    double coupling = 0; // share of the graph's edge weight that crosses services, 0 (none) .. 1
    std::vector<CrossForeignKey> foreign_keys;
    std::vector<CrossQuery> queries;
    std::vector<CrossTransaction> transactions;
    int foreign_keys_total = 0;
    double query_calls_total = 0, query_calls_cut = 0;
    int64_t transactions_total = 0, transactions_cut = 0;
};

// Holds pointers into its own model (the Score's entries): moved, never copied.
struct Analysis {
    Analysis() = default;
    Analysis(Analysis &&) = default;
    Analysis &operator=(Analysis &&) = default;
    Analysis(const Analysis &) = delete;
    Analysis &operator=(const Analysis &) = delete;

    Model model;
    Weights weights;
    ClusterOptions options;
    std::vector<Service> services;
    Score score;
    std::vector<std::string> warnings; // about the cut (the model has its own)

    const Service *service(const std::string &name) const;
    const Service *service_of(const std::string &table) const;
};

// Clusters the model's tables into services and scores the cut.
Analysis analyze(Model model, const Weights &weights, const ClusterOptions &options);

// Scores services given by the user (an edited analysis): every table in
// exactly one service, names unique. Throws AnalysisError naming the problem.
Analysis rescore(Model model, const Weights &weights, std::vector<Service> services);

// Parts of analyze(), exposed for tests.
std::vector<std::vector<int>> cluster_graph(const TableGraph &graph, const ClusterOptions &options,
                                            std::vector<std::string> &warnings);
std::string service_name_for(const std::string &table);

} // namespace pymigrate::analyzer

// Builds the workload model from statements as the sources see them: query
// texts with call counts (pg_stat_statements, a log), and transactions (a
// log). Each distinct text is parsed once; queries are grouped by
// libpg_query fingerprint.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyzer/model.hpp"
#include "analyzer/statement_tables.hpp"

namespace pymigrate::analyzer
{

class WorkloadBuilder
{
  public:
    explicit WorkloadBuilder(const Schema &schema) : schema_(schema) {}

    // A statement seen `calls` times. Statements that touch no known table
    // (utility commands, catalog queries) are left out. Returns false when
    // the text does not parse.
    bool add_query(const std::string &text, double calls);

    // One transaction, as the texts of its statements in order.
    void add_transaction(const std::vector<std::string> &statements);

    Workload finish(const std::string &query_source);

  private:
    struct Parsed {
        bool ok = false;
        std::string fingerprint;
        std::vector<std::string> read, written; // table keys
    };
    const Parsed &parse(const std::string &text);

    const Schema &schema_;
    std::unordered_map<std::string, Parsed> parsed_;
    std::map<std::string, Query> queries_; // by fingerprint and tables
    std::map<std::pair<std::vector<std::string>, std::vector<std::string>>, TransactionPattern> transactions_;
    int64_t unparsed_ = 0;
};

} // namespace pymigrate::analyzer

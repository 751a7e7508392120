// Two live servers, each with the pymigrate extension, for the validator's
// integration tests: "monolith" runs pymigrate.validate(), "service" is the
// other side.
#pragma once

#include <libpq-fe.h>

#include <string>

#include "test/harness/cluster_fixture.hpp"

namespace pymigrate::testing {

template <typename Derived>
class ValidateSuite : public ClusterSuite<Derived, 2> {
  public:
    static ClusterOptions options(int i)
    {
        ClusterOptions o;
        o.name = i == 0 ? "monolith" : "service";
        return o;
    }

  protected:
    void SetUp() override
    {
        ClusterSuite<Derived, 2>::SetUp();
        if (::testing::Test::HasFatalFailure())
            return;
        for (int i = 0; i < 2; ++i)
            this->cluster(i).connect().exec("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pymigrate");
    }
    static Cluster &monolith() { return ClusterSuite<Derived, 2>::cluster(0); }
    static Cluster &service() { return ClusterSuite<Derived, 2>::cluster(1); }
};

// Copies a table's rows from one server to another with COPY (text format,
// so every value arrives exactly as it was, numeric scale included).
inline void
copy_rows(pq::Connection &from, const std::string &from_table, pq::Connection &to, const std::string &to_table)
{
    PGresult *out = PQexec(from.get(), ("COPY " + from_table + " TO STDOUT").c_str());
    PGresult *in = PQexec(to.get(), ("COPY " + to_table + " FROM STDIN").c_str());
    bool ok = PQresultStatus(out) == PGRES_COPY_OUT && PQresultStatus(in) == PGRES_COPY_IN;
    PQclear(out);
    PQclear(in);
    if (!ok)
        throw std::runtime_error("COPY could not start: " + std::string(PQerrorMessage(from.get())) +
                                 PQerrorMessage(to.get()));
    char *buf = nullptr;
    int n;
    while ((n = PQgetCopyData(from.get(), &buf, 0)) > 0) {
        PQputCopyData(to.get(), buf, n);
        PQfreemem(buf);
    }
    PQclear(PQgetResult(from.get()));
    PQputCopyEnd(to.get(), nullptr);
    PGresult *done = PQgetResult(to.get());
    ok = PQresultStatus(done) == PGRES_COMMAND_OK;
    PQclear(done);
    if (!ok)
        throw std::runtime_error("COPY into " + to_table + " failed: " + PQerrorMessage(to.get()));
}

} // namespace pymigrate::testing

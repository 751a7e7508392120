// Two live servers, each with the pymigrate extension, for the validator's
// integration tests: "monolith" runs pymigrate.validate(), "service" is the
// other side.
#pragma once

#include <libpq-fe.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "test/harness/cluster_fixture.hpp"
#include "test/harness/wait.hpp"

namespace pymigrate::testing {

// TwoClusters ("monolith", "service"), each with the extension.
class ValidateSuite : public TwoClusters {
  protected:
    void SetUp() override
    {
        TwoClusters::SetUp();
        if (::testing::Test::HasFatalFailure())
            return;
        for (int i = 0; i < 2; ++i)
            cluster(i).connect().exec("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pymigrate");
    }
    static Cluster &monolith() { return cluster(0); }
    static Cluster &service() { return cluster(1); }
};

// The next NOTIFY pymigrate_alert on `listener` (which ran LISTEN), as JSON;
// null after `timeout` without one.
inline nlohmann::json
next_alert(pq::Connection &listener, std::chrono::milliseconds timeout = std::chrono::seconds(10))
{
    nlohmann::json payload;
    eventually(
        [&] {
            PQconsumeInput(listener.get());
            PGnotify *n = PQnotifies(listener.get());
            if (n) {
                payload = nlohmann::json::parse(n->extra);
                PQfreemem(n);
            }
            return n != nullptr;
        },
        timeout);
    return payload;
}

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

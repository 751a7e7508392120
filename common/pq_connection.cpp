// Blocking client connections (CLI, analyzer, harness, tests). Not for the
// backend, whose waits must be interruptible (extension/pg/remote.hpp).
#include "common/pq.hpp"

#include <libpq-fe.h>

#include "common/dsn.hpp"

namespace pymigrate::pq {

namespace {

std::string
trimmed(const char *message)
{
    std::string s = message ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

} // namespace

Connection::Connection(const std::string &dsn) : c_(PQconnectdb(dsn.c_str())), redacted_(redact_dsn(dsn))
{
    if (!c_)
        throw Error("out of memory connecting to " + redacted_, "");
    if (PQstatus(c_.get()) != CONNECTION_OK)
        throw Error("cannot connect to " + redacted_ + ": " + trimmed(PQerrorMessage(c_.get())), "08006");
}

Result
Connection::check(PGresult *raw, const std::string &sql)
{
    ResultPtr r(raw);
    auto status = PQresultStatus(r.get());
    if (r && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN ||
              status == PGRES_COPY_OUT || status == PGRES_EMPTY_QUERY))
        return Result(std::move(r));
    const char *state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    std::string message = r ? trimmed(PQresultErrorMessage(r.get())) : trimmed(PQerrorMessage(c_.get()));
    std::string shown = sql.size() > 200 ? sql.substr(0, 200) + "..." : sql;
    throw Error(message + " (statement: " + shown + ")", state ? state : "");
}

Result
Connection::exec(const std::string &sql)
{
    return check(PQexec(c_.get(), sql.c_str()), sql);
}

Result
Connection::exec(const std::string &sql, const std::vector<Param> &params)
{
    std::vector<const char *> values;
    values.reserve(params.size());
    for (const auto &p : params)
        values.push_back(p ? p->c_str() : nullptr);
    return check(PQexecParams(c_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                              nullptr, 0),
                 sql);
}

std::optional<std::string>
Connection::scalar(const std::string &sql, const std::vector<Param> &params)
{
    Result r = params.empty() ? exec(sql) : exec(sql, params);
    if (r.rows() == 0 || r.columns() == 0)
        return std::nullopt;
    return r.optional(0, 0);
}

bool
ping(const std::string &dsn) noexcept
{
    return PQping(dsn.c_str()) == PQPING_OK;
}

} // namespace pymigrate::pq

#include "common/pq.hpp"

#include <libpq-fe.h>

#include "common/dsn.hpp"

namespace pymigrate::pq {

void
ConnDeleter::operator()(PGconn *c) const noexcept
{
    PQfinish(c);
}

void
ResultDeleter::operator()(PGresult *r) const noexcept
{
    PQclear(r);
}

int
Result::rows() const noexcept
{
    return PQntuples(r_.get());
}

int
Result::columns() const noexcept
{
    return PQnfields(r_.get());
}

bool
Result::is_null(int row, int col) const noexcept
{
    return PQgetisnull(r_.get(), row, col) != 0;
}

std::string_view
Result::value(int row, int col) const
{
    if (row < 0 || row >= rows() || col < 0 || col >= columns())
        throw std::out_of_range("result has no cell (" + std::to_string(row) + ", " + std::to_string(col) + ")");
    return {PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col))};
}

std::optional<std::string>
Result::optional(int row, int col) const
{
    auto v = value(row, col);
    if (is_null(row, col))
        return std::nullopt;
    return std::string(v);
}

std::string
Result::column_name(int col) const
{
    if (col < 0 || col >= columns())
        throw std::out_of_range("result has no column " + std::to_string(col));
    return PQfname(r_.get(), col);
}

std::string
Result::command_tuples() const
{
    return PQcmdTuples(r_.get());
}

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

std::string
quote_ident(std::string_view ident)
{
    std::string out = "\"";
    for (char c : ident) {
        if (c == '"')
            out += '"';
        out += c;
    }
    return out + "\"";
}

std::string
quote_literal(std::string_view value)
{
    bool has_backslash = value.find('\\') != std::string_view::npos;
    std::string out = has_backslash ? "E'" : "'";
    for (char c : value) {
        if (c == '\'' || (has_backslash && c == '\\'))
            out += c;
        out += c;
    }
    return out + "'";
}

} // namespace pymigrate::pq

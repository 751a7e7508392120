// libpq RAII for client-side code (CLI, analyzer, harness, tests, benches).
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/pq_fwd.hpp"

namespace pymigrate::pq {

struct ConnDeleter {
    void operator()(PGconn *c) const noexcept;
};
struct ResultDeleter {
    void operator()(PGresult *r) const noexcept;
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// A failed connection or statement: libpq's message, the SQLSTATE when the
// server sent one, and the (password-free) connection it happened on.
class Error : public std::runtime_error {
  public:
    Error(const std::string &message, std::string sqlstate) : std::runtime_error(message), sqlstate_(std::move(sqlstate))
    {
    }
    const std::string &sqlstate() const noexcept { return sqlstate_; }

  private:
    std::string sqlstate_;
};

// A query result; values are read as text (the client side never needs more).
class Result {
  public:
    explicit Result(ResultPtr r) : r_(std::move(r)) {}
    [[nodiscard]] int rows() const noexcept;
    [[nodiscard]] int columns() const noexcept;
    [[nodiscard]] bool is_null(int row, int col) const noexcept;
    // Bounds-checked: throws std::out_of_range for a cell that does not exist.
    [[nodiscard]] std::string_view value(int row, int col) const;
    [[nodiscard]] std::optional<std::string> optional(int row, int col) const;
    [[nodiscard]] std::string column_name(int col) const;
    // Rows affected by INSERT/UPDATE/DELETE ("" for other commands).
    [[nodiscard]] std::string command_tuples() const;
    PGresult *get() const noexcept { return r_.get(); }

  private:
    ResultPtr r_;
};

using Param = std::optional<std::string>;

class Connection {
  public:
    // Throws Error with the connection string redacted.
    explicit Connection(const std::string &dsn);
    explicit Connection(ConnPtr conn) : c_(std::move(conn)) {}

    // Runs one or more statements (simple protocol); throws on error.
    Result exec(const std::string &sql);
    // One statement with $1.. parameters (text format; nullopt is NULL).
    Result exec(const std::string &sql, const std::vector<Param> &params);
    // Convenience: the first column of the first row, or nullopt.
    std::optional<std::string> scalar(const std::string &sql, const std::vector<Param> &params = {});

    PGconn *get() const noexcept { return c_.get(); }
    const std::string &dsn_for_messages() const noexcept { return redacted_; }

  private:
    Result check(PGresult *r, const std::string &sql);
    ConnPtr c_;
    std::string redacted_;
};

// True when the server behind `dsn` accepts connections (PQping).
[[nodiscard]] bool ping(const std::string &dsn) noexcept;

// Quotes an identifier / literal for SQL built by tools (never for user data
// in hot paths: those use parameters).
std::string quote_ident(std::string_view ident);
std::string quote_literal(std::string_view value);
// A one-dimensional array's text form, {"a","b",NULL}, for a parameter
// whose type is an array of a string-like type.
std::string array_literal(const std::vector<std::optional<std::string>> &items);
std::string array_literal(const std::vector<std::string> &items);

} // namespace pymigrate::pq

// Owned libpq results and quoting: no blocking calls, so the backend links it too.
#include "common/pq.hpp"

#include <libpq-fe.h>

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

std::string
array_literal(const std::vector<std::optional<std::string>> &items)
{
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) {
        if (i)
            out += ',';
        if (!items[i]) {
            out += "NULL";
            continue;
        }
        out += '"';
        for (char c : *items[i]) {
            if (c == '"' || c == '\\')
                out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

std::string
array_literal(const std::vector<std::string> &items)
{
    return array_literal(std::vector<std::optional<std::string>>(items.begin(), items.end()));
}

} // namespace pymigrate::pq

// libpg_query, PostgreSQL's own parser as a library: parse trees as JSON,
// fingerprints, and syntax errors with a position.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>

namespace pymigrate::analyzer
{

// A statement the parser rejected: its message and the 1-based character
// position in the text given to the parser (0 when unknown).
class SqlSyntaxError : public std::runtime_error
{
  public:
    SqlSyntaxError(const std::string &message, int position) : std::runtime_error(message), position_(position) {}
    int
    position() const noexcept
    {
        return position_;
    }

  private:
    int position_;
};

// The parse tree of `sql` (one or more statements): {"version", "stmts": [...]}.
// Throws SqlSyntaxError.
nlohmann::json parse_sql(const std::string &sql);

// libpg_query's fingerprint: the same for statements that differ only in
// constants, whitespace or comments. Empty when the text does not parse.
std::string fingerprint_sql(const std::string &sql);

// 1-based line and column of a 1-based character position.
struct TextPosition {
    int line = 1, column = 1;
};
TextPosition text_position(const std::string &text, int position);

// The text of one element of a statement starting at byte `start`: up to the
// first ',' or unmatched ')' outside parentheses, quotes and strings, or
// `limit`, whichever comes first; trimmed.
std::string element_text(const std::string &text, size_t start, size_t limit);

// A string node's value ({"String": {"sval": "x"}} -> "x").
std::string node_string(const nlohmann::json &node);
// An integer constant node's value ({"A_Const": {"ival": {"ival": 5}}} -> 5;
// protobuf's JSON leaves zero out: {"ival": {}} -> 0).
std::optional<double> node_number(const nlohmann::json &node);

} // namespace pymigrate::analyzer

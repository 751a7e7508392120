// Pieces of generated Python: literals, and what a column is in Python (its
// kind in tables.py, its pydantic type, a sample value for the tests).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "analyzer/api/service_api.hpp"

namespace pymigrate::analyzer::api
{

// A Python string literal ("..." with escapes) for any text.
std::string py_str(const std::string &s);
std::string py_tuple(const std::vector<std::string> &items); // ("a", "b",)

// query.Column's kind: int number float string bool uuid date datetime time json bytes enum other.
std::string py_kind(const Column &c);
// The type values are cast to in SQL: the declared type without length or
// precision, so a too-long filter value is never silently cut.
std::string cast_type(const ColumnType &t);
// Columns psycopg would not turn into JSON by itself are read as text.
bool text_output(const Column &c);

// The pydantic type of a body field (without Optional).
std::string pydantic_type(const Column &c);

// A Python expression giving a fresh valid value for the column (random where
// the column may be unique), or nullopt when the tests cannot make one.
std::optional<std::string> sample_expression(const Column &c);
// A Python expression for a value of the wrong JSON type for the column, or nullopt.
std::optional<std::string> wrong_type_expression(const Column &c);

} // namespace pymigrate::analyzer::api

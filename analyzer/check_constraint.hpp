// What a CHECK constraint says about single columns, for the API schema:
// `kind IN ('billing', 'shipping')` becomes an enum, `rating BETWEEN 1 AND 5`
// a minimum and maximum. Anything else is left to the database to enforce.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "analyzer/model.hpp"

namespace pymigrate::analyzer
{

// `expr` is a parse tree node of the expression.
void apply_check(Table &table, const nlohmann::json &expr);

// `text` as pg_get_constraintdef prints it: "CHECK ((rating >= 1) AND ...)".
// Text that does not parse is ignored (the database still enforces it).
void apply_check_text(Table &table, const std::string &text);

} // namespace pymigrate::analyzer

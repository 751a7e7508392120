// The OpenAPI 3.0.3 document of a service: list / get / create / patch /
// delete per table, PostgREST filter operators, order, limit / offset and
// keyset cursors, JSON Schema from the columns' types and constraints.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "analyzer/api/service_api.hpp"

namespace pymigrate::analyzer::api
{

// The filter operators, as PostgREST spells them (`?price=gte.10`).
inline constexpr const char *kFilterOperators[] = {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "in", "is"};
// Query parameters that are not filters; a column of the same name cannot be filtered on.
inline constexpr const char *kControlParameters[] = {"limit", "offset", "order", "cursor"};

nlohmann::ordered_json openapi_document(const ServiceApi &api);

// The JSON Schema (OpenAPI 3.0 dialect) of one column's values.
nlohmann::ordered_json column_schema(const ApiColumn &c);

// YAML of a JSON document (strings always quoted, so "200" stays a string).
std::string to_yaml(const nlohmann::ordered_json &doc);

} // namespace pymigrate::analyzer::api

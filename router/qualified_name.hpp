// Table names as PostgreSQL resolves them: unquoted identifiers fold to lower
// case, quoted ones are exact. The router keys tables by "schema.table".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pymigrate::router
{

// The schema assumed for a table named without one. The shim cannot follow
// the session's search_path; route rules name tables with their schema.
inline constexpr std::string_view kDefaultSchema = "public";

// "Orders", "sales.orders", "\"Sales\".\"Orders\"" -> "public.orders",
// "sales.orders", "Sales.Orders". nullopt (with a reason) for anything else:
// empty parts, more than two parts, unbalanced quotes, a dot inside a name.
[[nodiscard]] std::optional<std::string> parse_qualified_name(std::string_view text, std::string *error = nullptr,
                                                              std::string_view default_schema = kDefaultSchema);

// The key of a relation the parser reports (schema may be empty).
std::string table_key(std::string_view schema, std::string_view relname,
                      std::string_view default_schema = kDefaultSchema);

} // namespace pymigrate::router

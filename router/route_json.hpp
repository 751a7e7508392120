// The route file format (JSON), which is also what the control plane's
// pymigrate.route_snapshot() returns and what NOTIFY carries, so the shim has
// one parser for both sources:
//
//   {"format": 1, "version": 12, "services": [
//     {"name": "billing", "tables": ["public.invoices"], "dsn": "host=... dbname=billing",
//      "strategy": "percentage", "percent": 12.5, "sticky": true, "salt": "billing",
//      "canary_keys": [], "active": "monolith",
//      "flag": {"name": "new-billing", "enabled": false, "overrides": {"user:42": true}},
//      "transactions": "first_statement", "enabled": true, "version": 7}]}
//
// Strict: unknown keys, wrong types and values out of range are errors that
// name the field ("services[0].percent: 150 is out of range 0..100").
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "router/route_table.hpp"

namespace pymigrate::router
{

inline constexpr int kRouteFormat = 1;
inline constexpr size_t kMaxRouteDocument = 4 << 20; // 4 MiB

class RouteFormatError : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

// Never throws; on failure `error` says what and where.
[[nodiscard]] std::optional<RouteTable> parse_route_document(std::string_view text, std::string &error) noexcept;

// One service object (as in "services"), for the CLI and SQL functions;
// throws RouteFormatError naming `where`.
RouteRule rule_from_json(const nlohmann::json &j, const std::string &where);
nlohmann::json to_json(const RouteRule &rule);
nlohmann::json to_json(const RouteTable &table);

// Percent as a person writes it ("12.5") <-> basis points; at most two decimals.
[[nodiscard]] std::optional<int> percent_to_basis_points(double percent) noexcept;
double basis_points_to_percent(int bp) noexcept;

} // namespace pymigrate::router

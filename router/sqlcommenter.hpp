// sqlcommenter (https://google.github.io/sqlcommenter/spec/) comment bodies:
//   key='value',key2='value2'
// keys and values URL-encoded, values in single quotes with ' escaped as \'.
// The shim reads the routing key from route_key='...'.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pymigrate::router
{

inline constexpr size_t kMaxTagValue = 1024;

// All key/value pairs of a comment body, decoded. False (and `out` holds the
// pairs read so far) when the body is not sqlcommenter: a missing quote, a
// bad %XX escape, a key without '=', a value over kMaxTagValue bytes.
[[nodiscard]] bool parse_sqlcommenter(std::string_view body, std::vector<std::pair<std::string, std::string>> &out);

// The decoded value of `key`, or false when absent or the body is malformed.
[[nodiscard]] bool sqlcommenter_value(std::string_view body, std::string_view key, std::string &value);

} // namespace pymigrate::router

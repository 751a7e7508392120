// Connection strings (libpq conninfo, keyword=value or URI).
#pragma once

#include <string>
#include <string_view>

namespace pymigrate {

// The connection string with secrets (password, sslpassword) masked, for
// anything a person or a log will see. A string libpq cannot parse is not
// echoed at all, since it might hold a secret in a form we do not recognise.
std::string redact_dsn(std::string_view dsn);

// The same connection, in keyword=value form, with `keyword` set to `value`
// (replaced if present). Throws std::invalid_argument naming what libpq
// could not parse.
std::string dsn_with(std::string_view dsn, std::string_view keyword, std::string_view value);

// Quotes a value for a keyword=value connection string.
std::string quote_conninfo_value(std::string_view value);

} // namespace pymigrate

// The shim's log: off unless PYMIGRATE_LOG names "stderr" or a file. Never
// stdout (it belongs to the application). Connection strings pass through
// redact_dsn before they get here.
#pragma once

#include <string>

namespace pymigrate::shim
{

void log(const std::string &message) noexcept;

} // namespace pymigrate::shim

// The exit codes of `pymigrate`, documented in the README and `--help`.
#pragma once

namespace pymigrate::cli {

enum ExitCode : int {
    kOk = 0,          // did what was asked
    kFailed = 1,      // could not do it (connection, server error, bad state)
    kUsage = 2,       // bad command line or configuration file
    kCheckFailed = 3, // ran, and found a problem it was asked to check for
};

// The line every --help ends with.
inline constexpr const char *kExitCodesHelp =
    "Exit codes: 0 done, 1 failed, 2 bad usage or configuration, 3 a check found problems.";

} // namespace pymigrate::cli

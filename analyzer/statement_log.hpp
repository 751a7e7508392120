// PostgreSQL statement logs (log_statement = 'all' or 'mod', or
// log_min_duration_statement = 0): csvlog, jsonlog, or stderr with a
// log_line_prefix holding %c (session) and %x (transaction id). From them
// the analyzer recovers which statements ran in one transaction.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace pymigrate::analyzer
{

// A log the reader cannot use: unknown format, or a prefix that lacks what
// transactions need. The message says which and how to fix it.
class LogFormatError : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

struct LogOptions {
    std::string format = "auto"; // auto, csvlog, jsonlog, stderr
    std::string line_prefix;     // the server's log_line_prefix, for stderr logs
};

struct LoggedStatement {
    std::string session; // %c
    std::string vxid;    // %v (csvlog and jsonlog always have it)
    std::string xid;     // %x ("0" before the transaction wrote)
    std::string text;
};

struct StatementLog {
    std::string format; // the one detected or given
    std::vector<LoggedStatement> statements;
    std::vector<std::vector<std::string>> transactions; // statement texts, in order
};

// Reads `path`. Throws LogFormatError for a log it cannot read as any of the
// formats, std::runtime_error when the file cannot be opened.
StatementLog read_statement_log(const std::string &path, const LogOptions &options);

// Groups statements into transactions: by (session, vxid) where the log has
// vxids; otherwise within a session by BEGIN ... COMMIT / ROLLBACK blocks and
// by transaction id, each remaining statement being a transaction of its own.
std::vector<std::vector<std::string>> group_transactions(const std::vector<LoggedStatement> &statements);

} // namespace pymigrate::analyzer

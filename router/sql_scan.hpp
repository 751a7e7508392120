// A single pass over a statement's text that yields its "shape": comments
// dropped, whitespace runs as one space, string and numeric literals as '?'.
//
// The shape is the classification cache's key: which tables a statement
// touches, and whether it writes, never depends on literal values, so
// "SELECT ... WHERE aid = 17" and "... = 42" share one parse. This is the
// pg_stat_statements idea, done without the parser: libpg_query's own
// normalize and fingerprint parse the statement, which is exactly the cost
// the cache is there to avoid.
//
// The same pass finds the sqlcommenter comment that carries a routing key.
#pragma once

#include <string>
#include <string_view>

namespace pymigrate::router
{

struct ScanResult {
    // Body (between /* and */) of the last block comment that mentions
    // "route_key", or empty. Points into the scanned text.
    std::string_view route_comment;
};

// Writes the shape into `shape` (cleared first; its capacity is reused).
// Never fails: text that is not valid SQL still gets a shape, and the parser
// decides what it is.
ScanResult scan_statement(std::string_view sql, std::string &shape) noexcept;

} // namespace pymigrate::router

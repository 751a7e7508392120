// Statement classification with the real PostgreSQL parser (libpg_query):
// what kind of statement, which tables it touches, whether it writes.
// Cached by the statement's shape (sql_scan.hpp), so each distinct statement
// is parsed once per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "router/route_table.hpp"
#include "router/sql_scan.hpp"

namespace pymigrate::router
{

enum class StatementKind : uint8_t {
    Data,       // SELECT / INSERT / UPDATE / DELETE / MERGE / TRUNCATE / COPY (STDIN, STDOUT) / EXPLAIN of one
    Begin,      // only BEGIN / START TRANSACTION: the transaction's backend is chosen by what follows
    SessionSet, // SET / RESET / DISCARD at session level: replayed on the service's connections
    Deallocate, // DEALLOCATE name | ALL
    Other,      // DDL, other utility, transaction control, text the parser rejects: never routed by itself
};

struct Classification {
    StatementKind kind = StatementKind::Other;
    bool parsed = false; // false: libpg_query rejected the text (it goes to the monolith, which will say why)
    bool write = false;  // may change data or lock rows
    bool has_transaction_control = false; // COMMIT, ROLLBACK, SAVEPOINT ... somewhere in the text
    std::vector<std::string> tables;      // Data: every table touched, "schema.table", sorted, unique
    std::string deallocate_name;          // Deallocate: the name, empty for ALL
    bool resets_session = false;          // RESET ALL, DISCARD ALL: earlier session SETs no longer apply
    bool discards_prepared = false;       // DISCARD ALL: every prepared statement is gone
};

// From libpg_query's JSON parse tree (exposed for tests and the fuzzer).
Classification classify_parse_tree(std::string_view json);
// Parses `sql` (NUL-terminated) with libpg_query. Never throws.
Classification classify_sql(const char *sql) noexcept;

// The service (index in table.rules()) that owns every table a Data statement
// touches, or -1: no tables, a table no service owns, or tables of two owners
// (a join across the cut stays on the monolith).
[[nodiscard]] int resolve_service(const Classification &c, const RouteTable &table) noexcept;

// Per-thread cache: shape -> classification. Not thread-safe; the shim keeps
// one per thread. Bounded: when full it starts over (statements of a running
// application are few; what matters is not re-parsing them).
class ClassifierCache
{
  public:
    explicit ClassifierCache(size_t capacity = 4096) : capacity_(capacity) {}
    // `sql` must be NUL-terminated at sql[len]. `scan` receives the comment
    // that carries a routing key, if any.
    const std::shared_ptr<const Classification> &classify(const char *sql, size_t len, ScanResult &scan);
    size_t
    size() const noexcept
    {
        return entries_.size();
    }
    uint64_t
    misses() const noexcept
    {
        return misses_;
    }

  private:
    struct Key {
        uint64_t lo, hi;
        bool
        operator==(const Key &o) const noexcept
        {
            return lo == o.lo && hi == o.hi;
        }
    };
    struct KeyHash {
        size_t
        operator()(const Key &k) const noexcept
        {
            return static_cast<size_t>(k.lo);
        }
    };
    size_t capacity_;
    uint64_t misses_ = 0;
    std::string shape_;
    std::unordered_map<Key, std::shared_ptr<const Classification>, KeyHash> entries_;
};

} // namespace pymigrate::router

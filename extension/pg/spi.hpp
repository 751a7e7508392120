// SPI for the extension's control-plane code (catalog reads and writes):
// one connection per scope, every call checked, parameters passed as
// values (never interpolated), results copied out before SPI_finish.
// Not for per-row hot paths: parameters go through their types' input
// functions and results come back as text.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pg/pg_fwd.hpp"

namespace pymigrate::pg {

struct SpiParam {
    Oid type;                          // e.g. TEXTOID, INT8OID, JSONBOID
    std::optional<std::string> value;  // text form; nullopt is NULL
};

// One result row, as text (NULL as nullopt).
using SpiRow = std::vector<std::optional<std::string>>;

class Spi {
  public:
    Spi();  // SPI_connect
    ~Spi(); // SPI_finish (errors there are swallowed: nothing can be done)
    Spi(const Spi &) = delete;
    Spi &operator=(const Spi &) = delete;

    // Runs `sql` with $1.. bound to `params`; returns the rows it produced
    // (copied out), and the number of rows processed through `processed`.
    std::vector<SpiRow> query(const std::string &sql, const std::vector<SpiParam> &params = {},
                              bool read_only = false, uint64_t *processed = nullptr);
    // The first column of the first row, or nullopt for no row / NULL.
    std::optional<std::string> scalar(const std::string &sql, const std::vector<SpiParam> &params = {},
                                      bool read_only = false);
    // For statements without results; returns rows processed.
    uint64_t execute(const std::string &sql, const std::vector<SpiParam> &params = {});
};

} // namespace pymigrate::pg

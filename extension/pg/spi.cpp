#include "pg/spi.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "executor/spi.h"
#include "utils/lsyscache.h"
}

namespace pymigrate::pg {
namespace {

[[noreturn]] void
spi_failed(const char *what, int rc, const std::string &sql)
{
    throw Error(ERRCODE_INTERNAL_ERROR, std::string(what) + " failed: " + SPI_result_code_string(rc),
                "Statement: " + sql.substr(0, 200));
}

} // namespace

Spi::Spi()
{
    int rc = pg_call([] { return SPI_connect(); });
    if (rc != SPI_OK_CONNECT)
        spi_failed("SPI_connect", rc, "");
}

Spi::~Spi()
{
    try {
        pg_call([] { return SPI_finish(); });
    } catch (...) {
        // The transaction is being aborted anyway; its cleanup pops SPI.
    }
}

std::vector<SpiRow>
Spi::query(const std::string &sql, const std::vector<SpiParam> &params, bool read_only, uint64_t *processed)
{
    int n = static_cast<int>(params.size());
    // palloc'd arrays: freed with the SPI procedure context at SPI_finish.
    Oid *types = pg_call([n] { return static_cast<Oid *>(palloc0(sizeof(Oid) * (n + 1))); });
    Datum *values = pg_call([n] { return static_cast<Datum *>(palloc0(sizeof(Datum) * (n + 1))); });
    char *nulls = pg_call([n] { return static_cast<char *>(palloc0(n + 1)); });
    for (int i = 0; i < n; ++i) {
        types[i] = params[i].type;
        nulls[i] = params[i].value ? ' ' : 'n';
        if (params[i].value) {
            const char *text = params[i].value->c_str();
            Oid type = params[i].type;
            values[i] = pg_call([text, type] {
                Oid input;
                Oid ioparam;
                getTypeInputInfo(type, &input, &ioparam);
                return OidInputFunctionCall(input, const_cast<char *>(text), ioparam, -1);
            });
        }
    }
    const char *src = sql.c_str();
    int rc = pg_call([&] { return SPI_execute_with_args(src, n, types, values, nulls, read_only, 0); });
    if (rc < 0)
        spi_failed("SPI_execute_with_args", rc, sql);
    if (processed)
        *processed = SPI_processed;
    std::vector<SpiRow> rows;
    if (SPI_tuptable == nullptr)
        return rows;
    SPITupleTable *table = SPI_tuptable;
    int ncols = table->tupdesc->natts;
    rows.reserve(SPI_processed);
    for (uint64_t r = 0; r < SPI_processed; ++r) {
        SpiRow row;
        row.reserve(ncols);
        for (int c = 1; c <= ncols; ++c) {
            HeapTuple tuple = table->vals[r];
            char *v = pg_call([table, tuple, c] { return SPI_getvalue(tuple, table->tupdesc, c); });
            row.push_back(v ? std::optional<std::string>(v) : std::nullopt);
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

std::optional<std::string>
Spi::scalar(const std::string &sql, const std::vector<SpiParam> &params, bool read_only)
{
    auto rows = query(sql, params, read_only);
    if (rows.empty() || rows[0].empty())
        return std::nullopt;
    return rows[0][0];
}

uint64_t
Spi::execute(const std::string &sql, const std::vector<SpiParam> &params)
{
    uint64_t processed = 0;
    (void)query(sql, params, false, &processed);
    return processed;
}

} // namespace pymigrate::pg

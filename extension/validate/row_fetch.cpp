#include "validate/row_fetch.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"
}

#include <set>
#include <tuple>

#include "validate/datum_encode.hpp"

namespace pymigrate::validate {

using pg::Error;
using pg::pg_call;

namespace {

// One result row turned into plain C data (palloc'd in the row context),
// so that the C++ strings are built outside pg_call.
struct RawRow {
    Oid rel;
    ItemPointerData tid;
    long ordinal;
    const uint8_t *key_enc;
    size_t key_len;
    uint64_t row_hash;
    TransactionId xmin;
    char *key_json;
    char *image;
    char **values; // one per planned column, NULL for SQL NULL
};

std::string
column_list(const TablePlan &plan)
{
    std::string out;
    for (const auto *list : {&plan.key, &plan.values})
        for (const auto &c : *list)
            out += ", t." + std::string(quote_identifier(c.name.c_str()));
    return out;
}

// Runs `sql` with one parameter in `snapshot` and calls `on_row` with each
// row decoded; `lead` result columns come before the planned columns: either
// (tableoid, ctid, xmin) or (ordinal, xmin).
template <typename OnRow>
void
run_fetch(const TablePlan &plan, const std::string &sql, Oid param_type, Datum param, Snapshot snapshot, int lead,
          bool with_image, bool with_values, OnRow &&on_row)
{
    pg::Spi spi;
    const char *src = sql.c_str();
    SPIPlanPtr prepared = pg_call([src, param_type] {
        Oid types[1] = {param_type};
        return SPI_prepare(src, 1, types);
    });
    if (!prepared)
        throw Error(ERRCODE_INTERNAL_ERROR, "could not prepare a row fetch for " + plan.name,
                    std::string("SPI_prepare: ") + SPI_result_code_string(SPI_result));
    int rc = pg_call([prepared, param, snapshot] {
        Datum values[1] = {param};
        return SPI_execute_snapshot(prepared, values, nullptr, snapshot, InvalidSnapshot, true, false, 0);
    });
    if (rc != SPI_OK_SELECT)
        throw Error(ERRCODE_INTERNAL_ERROR, "row fetch for " + plan.name + " failed: " + SPI_result_code_string(rc));
    SPITupleTable *table = SPI_tuptable;
    uint64 count = SPI_processed;
    size_t ncols = plan.key.size() + plan.values.size();
    std::vector<short> attnums;
    for (size_t i = 0; i < ncols; ++i)
        attnums.push_back(static_cast<short>(lead + 1 + i));
    const short *att = attnums.data();
    MemoryContext row_cxt = pg_call([] {
        return AllocSetContextCreate(CurrentMemoryContext, "pymigrate fetch row", ALLOCSET_DEFAULT_SIZES);
    });
    EncodeBuffer buf;
    pg_call([&buf] { buf.init(CurrentMemoryContext); });
    for (uint64 r = 0; r < count; ++r) {
        RawRow raw{};
        pg_call([&] {
            MemoryContext old = MemoryContextSwitchTo(row_cxt);
            TupleDesc desc = table->tupdesc;
            Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * desc->natts));
            bool *isnull = static_cast<bool *>(palloc(sizeof(bool) * desc->natts));
            heap_deform_tuple(table->vals[r], desc, values, isnull);
            RowHash h = encode_row(buf, plan, att, values, isnull);
            raw.key_enc = buf.data();
            raw.key_len = h.key_len;
            raw.row_hash = h.row_hash;
            StringInfoData key;
            initStringInfo(&key);
            append_key_json(&key, plan, att, values, isnull);
            raw.key_json = key.data;
            raw.xmin = DatumGetTransactionId(values[lead - 1]);
            if (lead == 3) {
                raw.rel = DatumGetObjectId(values[0]);
                raw.tid = *reinterpret_cast<ItemPointer>(DatumGetPointer(values[1]));
            } else {
                raw.ordinal = DatumGetInt64(values[0]);
            }
            if (with_image && !isnull[desc->natts - 1]) {
                Jsonb *j = DatumGetJsonbP(values[desc->natts - 1]);
                raw.image = JsonbToCString(nullptr, &j->root, VARSIZE(j));
            }
            if (with_values) {
                raw.values = static_cast<char **>(palloc0(sizeof(char *) * ncols));
                size_t i = 0;
                for (const auto *list : {&plan.key, &plan.values})
                    for (const auto &c : *list) {
                        int a = att[i] - 1;
                        if (!isnull[a])
                            raw.values[i] = OidOutputFunctionCall(c.codec.output_fn, values[a]);
                        ++i;
                    }
            }
            MemoryContextSwitchTo(old);
        });
        on_row(raw);
        pg_call([row_cxt] { MemoryContextReset(row_cxt); });
    }
    pg_call([row_cxt] { MemoryContextDelete(row_cxt); });
}

FetchedRow
fetched(const RawRow &raw)
{
    FetchedRow f;
    f.key_enc.assign(reinterpret_cast<const char *>(raw.key_enc), raw.key_len);
    f.key_json = raw.key_json;
    f.row_hash = raw.row_hash;
    f.xmin = raw.xmin;
    if (raw.image)
        f.image = raw.image;
    return f;
}

} // namespace

std::vector<FetchedRow>
fetch_rows_at(const TablePlan &plan, const std::vector<RowRef> &refs, Snapshot snapshot, bool with_image)
{
    std::vector<FetchedRow> out;
    if (refs.empty())
        return out;
    std::set<std::tuple<uint32_t, uint32_t, uint16_t>> wanted;
    for (const auto &r : refs)
        wanted.emplace(r.rel, r.block, r.offset);
    std::string sql = "SELECT t.tableoid, t.ctid, t.xmin" + column_list(plan) + (with_image ? ", pg_catalog.to_jsonb(t.*)" : "") +
                      " FROM " + plan.name + " AS t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1)";
    std::vector<ItemPointerData> tids;
    for (const auto &w : wanted) {
        ItemPointerData tid;
        ItemPointerSet(&tid, std::get<1>(w), std::get<2>(w));
        tids.push_back(tid);
    }
    ItemPointerData *tid_data = tids.data();
    int n = static_cast<int>(tids.size());
    Datum array = pg_call([tid_data, n] {
        Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * n));
        for (int i = 0; i < n; ++i)
            elems[i] = PointerGetDatum(&tid_data[i]);
        return PointerGetDatum(construct_array(elems, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));
    });
    run_fetch(plan, sql, TIDARRAYOID, array, snapshot, 3, with_image, false, [&](const RawRow &raw) {
        auto k = std::make_tuple(static_cast<uint32_t>(raw.rel), ItemPointerGetBlockNumberNoCheck(&raw.tid),
                                 ItemPointerGetOffsetNumberNoCheck(&raw.tid));
        if (wanted.count(k))
            out.push_back(fetched(raw));
    });
    return out;
}

std::vector<KeyedRow>
fetch_rows_by_key(const TablePlan &plan, const std::vector<std::string> &keys, Snapshot snapshot, bool with_image,
                  bool with_values)
{
    std::vector<KeyedRow> out;
    if (keys.empty())
        return out;
    std::string sql = "SELECT k.i, t.xmin" + column_list(plan) + (with_image ? ", pg_catalog.to_jsonb(t.*)" : "") +
                      " FROM pg_catalog.jsonb_array_elements($1) WITH ORDINALITY AS k(v, i) JOIN " + plan.name +
                      " AS t ON ";
    for (size_t i = 0; i < plan.key.size(); ++i) {
        Oid type = plan.key[i].type;
        char *tname = pg_call([type] { return format_type_extended(type, -1, FORMAT_TYPE_FORCE_QUALIFY); });
        sql += (i ? " AND t." : "t.") + std::string(quote_identifier(plan.key[i].name.c_str())) +
               " OPERATOR(pg_catalog.=) (k.v OPERATOR(pg_catalog.->>) " + std::to_string(i) + ")::" + tname;
    }
    std::string array = "[";
    for (size_t i = 0; i < keys.size(); ++i)
        array += (i ? "," : "") + keys[i];
    array += "]";
    const char *text = array.c_str();
    Datum param = pg_call([text] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(text)); });
    run_fetch(plan, sql, JSONBOID, param, snapshot, 2, with_image, with_values, [&](const RawRow &raw) {
        KeyedRow k;
        k.index = static_cast<size_t>(raw.ordinal - 1);
        k.row = fetched(raw);
        if (with_values)
            for (size_t i = 0; i < plan.key.size() + plan.values.size(); ++i)
                k.values.push_back(raw.values[i] ? std::optional<std::string>(raw.values[i]) : std::nullopt);
        out.push_back(std::move(k));
    });
    return out;
}

} // namespace pymigrate::validate

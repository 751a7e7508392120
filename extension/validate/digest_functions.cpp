// SQL functions over one table on this server: the digest, the rows of
// chosen buckets, and the packed forms that pymigrate.validate() on the
// other server asks for over libpq.
#include "pg/guard.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"
#include "executor/tuptable.h"
}

#include "common/row_encoding.hpp"
#include "validate/datum_encode.hpp"
#include "validate/row_fetch.hpp"
#include "validate/sql_args.hpp"
#include "validate/table_scan.hpp"

namespace enc = pymigrate::rowenc;
using namespace pymigrate::validate;
using pymigrate::pg::Error;
using pymigrate::pg::pg_call;

namespace {

constexpr uint32_t kMaxBuckets = 1u << 22;

TablePlan
plan_from_args(FunctionCallInfo fcinfo)
{
    Oid relid = oid_arg(fcinfo, 0, "tbl");
    return plan_table(relid, text_array_arg(fcinfo, 1, "columns"), text_array_arg(fcinfo, 2, "key"));
}

uint32_t
buckets_arg(FunctionCallInfo fcinfo, int n, const TablePlan &plan)
{
    auto b = int_arg(fcinfo, n);
    if (!b)
        return default_buckets(plan.estimated_rows);
    if (*b < 1 || static_cast<uint32_t>(*b) > kMaxBuckets)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                    "buckets must be between 1 and " + std::to_string(kMaxBuckets) + ", not " + std::to_string(*b));
    return static_cast<uint32_t>(*b);
}

std::vector<bool>
which_arg(FunctionCallInfo fcinfo, int n, uint32_t buckets)
{
    std::vector<bool> which(buckets, false);
    for (int32_t b : int_array_arg(fcinfo, n, "which")) {
        if (b < 0 || static_cast<uint32_t>(b) >= buckets)
            throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "bucket " + std::to_string(b) + " in which is out of range",
                        "Buckets are numbered from 0 to " + std::to_string(buckets - 1) + ".");
        which[b] = true;
    }
    return which;
}

int
parallel_arg(FunctionCallInfo fcinfo, int n, const TablePlan &plan)
{
    auto p = int_arg(fcinfo, n);
    if (p && *p < 0)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "parallel must be 0 (no workers) or more, not " + std::to_string(*p));
    return choose_workers(plan, p ? *p : -1);
}

Datum
bytea_datum(const std::string &bytes)
{
    const char *data = bytes.data();
    size_t len = bytes.size();
    return pg_call([data, len] {
        bytea *b = static_cast<bytea *>(palloc(VARHDRSZ + len));
        SET_VARSIZE(b, VARHDRSZ + len);
        memcpy(VARDATA(b), data, len);
        return PointerGetDatum(b);
    });
}

Datum
jsonb_datum(const char *json)
{
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

Datum
bytea_from(const uint8_t *data, size_t len)
{
    bytea *b = static_cast<bytea *>(palloc(VARHDRSZ + len));
    SET_VARSIZE(b, VARHDRSZ + len);
    memcpy(VARDATA(b), data, len);
    return PointerGetDatum(b);
}

} // namespace

PYMIGRATE_FUNCTION(pymigrate_table_digest)
{
    TablePlan plan = plan_from_args(fcinfo);
    uint32_t buckets = buckets_arg(fcinfo, 3, plan);
    int workers = parallel_arg(fcinfo, 4, plan);
    auto digest = digest_table(plan, buckets, active_snapshot(), workers);
    SetResult out = begin_set_result(fcinfo);
    const enc::BucketDigest *d = digest.data();
    pg_call([out, d, buckets] {
        for (uint32_t b = 0; b < buckets; ++b) {
            Datum values[4] = {Int32GetDatum(static_cast<int32>(b)), Int64GetDatum(static_cast<int64>(d[b].count)),
                               Int64GetDatum(static_cast<int64>(d[b].sum)), Int64GetDatum(static_cast<int64>(d[b].xor_))};
            bool nulls[4] = {false, false, false, false};
            tuplestore_putvalues(out.store, out.desc, values, nulls);
        }
    });
    return Datum(0);
}

PYMIGRATE_FUNCTION(pymigrate_digest_packed)
{
    TablePlan plan = plan_from_args(fcinfo);
    uint32_t buckets = buckets_arg(fcinfo, 3, plan);
    int workers = parallel_arg(fcinfo, 4, plan);
    auto digest = digest_table(plan, buckets, active_snapshot(), workers);
    std::string bytes(enc::kPackedDigestHeader + enc::kPackedBucket * buckets, '\0');
    auto *p = reinterpret_cast<uint8_t *>(bytes.data());
    enc::store_u32(p, enc::kFormatVersion);
    enc::store_u32(p + 4, buckets);
    p += enc::kPackedDigestHeader;
    for (const auto &d : digest) {
        enc::store_u64(p, d.count);
        enc::store_u64(p + 8, d.sum);
        enc::store_u64(p + 16, d.xor_);
        p += enc::kPackedBucket;
    }
    return bytea_datum(bytes);
}

namespace {

struct BucketRowsOut {
    SetResult out;
    const TablePlan *plan;
};

void
put_bucket_row(void *arg, const RowRef &ref, uint32_t bucket, TupleTableSlot *slot, const short *attnums)
{
    auto *o = static_cast<BucketRowsOut *>(arg);
    StringInfoData key;
    initStringInfo(&key);
    append_key_json(&key, *o->plan, attnums, slot->tts_values, slot->tts_isnull);
    Datum values[4] = {Int32GetDatum(static_cast<int32>(bucket)), jsonb_datum(key.data),
                       Int64GetDatum(static_cast<int64>(ref.key_hash)), Int64GetDatum(static_cast<int64>(ref.row_hash))};
    bool nulls[4] = {false, false, false, false};
    tuplestore_putvalues(o->out.store, o->out.desc, values, nulls);
}

void
put_row_ref(void *arg, const RowRef &ref, uint32_t, TupleTableSlot *slot, const short *)
{
    auto *o = static_cast<BucketRowsOut *>(arg);
    Datum values[4] = {Int64GetDatum(static_cast<int64>(ref.key_hash)), Int64GetDatum(static_cast<int64>(ref.row_hash)),
                       ObjectIdGetDatum(ref.rel), PointerGetDatum(&slot->tts_tid)};
    bool nulls[4] = {false, false, false, false};
    tuplestore_putvalues(o->out.store, o->out.desc, values, nulls);
}

} // namespace

PYMIGRATE_FUNCTION(pymigrate_bucket_rows)
{
    TablePlan plan = plan_from_args(fcinfo);
    uint32_t buckets = buckets_arg(fcinfo, 3, plan);
    std::vector<bool> which = which_arg(fcinfo, 4, buckets);
    BucketRowsOut o{begin_set_result(fcinfo), &plan};
    if (std::find(which.begin(), which.end(), true) != which.end())
        visit_rows(plan, buckets, which, active_snapshot(), put_bucket_row, &o);
    return Datum(0);
}

PYMIGRATE_FUNCTION(pymigrate_bucket_rows_packed)
{
    TablePlan plan = plan_from_args(fcinfo);
    uint32_t buckets = buckets_arg(fcinfo, 3, plan);
    std::vector<bool> which = which_arg(fcinfo, 4, buckets);
    std::string bytes;
    if (std::find(which.begin(), which.end(), true) != which.end())
        pack_row_refs(bucket_row_refs(plan, buckets, which, active_snapshot()), bytes);
    return bytea_datum(bytes);
}

PYMIGRATE_FUNCTION(pymigrate_row_refs)
{
    TablePlan plan = plan_from_args(fcinfo);
    BucketRowsOut o{begin_set_result(fcinfo), &plan};
    visit_rows(plan, 1, {}, active_snapshot(), put_row_ref, &o);
    return Datum(0);
}

namespace {

void
put_fetched(const SetResult &out, const FetchedRow &f, int ordinal, const std::vector<std::optional<std::string>> *vals)
{
    const FetchedRow *fp = &f;
    pg_call([out, fp, ordinal, vals] {
        Datum values[7];
        bool nulls[7] = {false, false, false, false, false, false, false};
        values[0] = Int32GetDatum(ordinal);
        values[1] = jsonb_datum(fp->key_json.c_str());
        values[2] = bytea_from(reinterpret_cast<const uint8_t *>(fp->key_enc.data()), fp->key_enc.size());
        values[3] = Int64GetDatum(static_cast<int64>(fp->row_hash));
        nulls[4] = !fp->image;
        values[4] = fp->image ? jsonb_datum(fp->image->c_str()) : Datum(0);
        nulls[5] = vals == nullptr;
        values[5] = Datum(0);
        if (vals) {
            int n = static_cast<int>(vals->size());
            Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * n));
            bool *elem_nulls = static_cast<bool *>(palloc(sizeof(bool) * n));
            for (int i = 0; i < n; ++i) {
                elem_nulls[i] = !(*vals)[i];
                elems[i] = (*vals)[i] ? CStringGetTextDatum((*vals)[i]->c_str()) : Datum(0);
            }
            int dims[1] = {n};
            int lbs[1] = {1};
            values[5] = PointerGetDatum(construct_md_array(elems, elem_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
        }
        values[6] = TransactionIdGetDatum(fp->xmin);
        tuplestore_putvalues(out.store, out.desc, values, nulls);
    });
}

} // namespace

// _rows_at(tbl, columns, key, refs bytea, with_image): the rows a packed
// bucket scan (or merge) located, in the caller's snapshot.
PYMIGRATE_FUNCTION(pymigrate_rows_at)
{
    TablePlan plan = plan_from_args(fcinfo);
    if (arg_is_null(fcinfo, 3))
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, "refs must not be NULL");
    bytea *packed = pg_call([fcinfo] { return PG_GETARG_BYTEA_PP(3); });
    std::vector<RowRef> refs;
    if (!unpack_row_refs(reinterpret_cast<const uint8_t *>(VARDATA_ANY(packed)), VARSIZE_ANY_EXHDR(packed), refs))
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "refs is not a packed list of row references");
    bool with_image = bool_arg(fcinfo, 4, false);
    auto rows = fetch_rows_at(plan, refs, active_snapshot(), with_image);
    SetResult out = begin_set_result(fcinfo);
    for (const auto &r : rows)
        put_fetched(out, r, 0, nullptr);
    return Datum(0);
}

// _rows_by_key(tbl, columns, key, keys jsonb, with_image, with_values).
PYMIGRATE_FUNCTION(pymigrate_rows_by_key)
{
    TablePlan plan = plan_from_args(fcinfo);
    if (arg_is_null(fcinfo, 3))
        throw Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, "keys must not be NULL");
    char *keys_text = pg_call([fcinfo] {
        Jsonb *j = PG_GETARG_JSONB_P(3);
        if (!JB_ROOT_IS_ARRAY(j) || JB_ROOT_IS_SCALAR(j))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("keys must be a JSON array of keys")));
        StringInfoData s;
        initStringInfo(&s);
        JsonbIterator *it = JsonbIteratorInit(&j->root);
        JsonbValue v;
        JsonbIteratorToken t;
        int depth = 0;
        // Re-serialize each element of the outer array, one per line.
        while ((t = JsonbIteratorNext(&it, &v, true)) != WJB_DONE) {
            if (t == WJB_BEGIN_ARRAY && depth++ == 0)
                continue;
            if (t == WJB_ELEM) {
                if (v.type != jbvBinary)
                    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                    errmsg("each key must be a JSON array of the key's column values")));
                (void)JsonbToCString(&s, v.val.binary.data, v.val.binary.len);
                appendStringInfoChar(&s, '\n');
            }
        }
        return s.data;
    });
    std::vector<std::string> keys;
    for (const char *p = keys_text; *p;) {
        const char *nl = strchr(p, '\n');
        keys.emplace_back(p, nl - p);
        p = nl + 1;
    }
    bool with_image = bool_arg(fcinfo, 4, false);
    bool with_values = bool_arg(fcinfo, 5, false);
    auto rows = fetch_rows_by_key(plan, keys, active_snapshot(), with_image, with_values);
    SetResult out = begin_set_result(fcinfo);
    for (const auto &r : rows)
        put_fetched(out, r.row, static_cast<int>(r.index + 1), with_values ? &r.values : nullptr);
    return Datum(0);
}

// _table_info(tbl, columns, key): what validate() needs to know about the
// other side's table before it scans: the resolved columns and a row estimate.
PYMIGRATE_FUNCTION(pymigrate_table_info)
{
    TablePlan plan = plan_from_args(fcinfo);
    std::string json = "{\"estimated_rows\": " + std::to_string(static_cast<long long>(plan.estimated_rows)) +
                       ", \"pages\": " + std::to_string(plan.pages) + ", \"key\": [";
    auto names = [&json](const std::vector<PlannedColumn> &cols) {
        for (size_t i = 0; i < cols.size(); ++i) {
            char *q = pg_call([&] {
                StringInfoData s;
                initStringInfo(&s);
                escape_json(&s, cols[i].name.c_str());
                return s.data;
            });
            json += (i ? ", " : "") + std::string(q);
        }
    };
    names(plan.key);
    json += "], \"columns\": [";
    names(plan.values);
    json += "]}";
    const char *j = json.c_str();
    return pg_call([j] { return jsonb_datum(j); });
}

PYMIGRATE_FUNCTION(pymigrate_encode_value)
{
    Oid type = pg_call([fcinfo] { return get_fn_expr_argtype(fcinfo->flinfo, 0); });
    if (type == InvalidOid)
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "could not determine the type of the value");
    Codec codec = make_codec(type, "the value");
    bool isnull = PG_ARGISNULL(0);
    Datum value = isnull ? Datum(0) : PG_GETARG_DATUM(0);
    const Codec *c = &codec;
    return pg_call([c, value, isnull] {
        EncodeBuffer b;
        b.init(CurrentMemoryContext);
        encode_value(b, *c, value, isnull);
        return bytea_from(b.data(), b.size());
    });
}

PYMIGRATE_FUNCTION(pymigrate_encoding_version)
{
    return Int32GetDatum(enc::kFormatVersion);
}

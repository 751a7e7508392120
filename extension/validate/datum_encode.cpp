#include "validate/datum_encode.hpp"

#include "pg/postgres.hpp"

#include <sys/socket.h>

extern "C" {
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/date.h"
#include "utils/inet.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "catalog/pg_enum.h"
#include "access/htup_details.h"
}

#include "common/row_encoding.hpp"

namespace pymigrate::validate {

namespace enc = pymigrate::rowenc;

void
EncodeBuffer::init(MemoryContext context, size_t capacity)
{
    buf_ = static_cast<uint8_t *>(MemoryContextAlloc(context, capacity));
    len_ = 0;
    cap_ = capacity;
}

void
EncodeBuffer::reserve(size_t n)
{
    size_t cap = cap_;
    while (cap < n)
        cap *= 2;
    buf_ = static_cast<uint8_t *>(repalloc(buf_, cap));
    cap_ = cap;
}

namespace {

// The on-disk numeric format (src/backend/utils/adt/numeric.c). It is
// persistent (pg_upgrade keeps it), so reading it here is as stable as the
// data files themselves; it saves the text round trip of numeric_out.
constexpr uint16_t kNumericSignMask = 0xC000;
constexpr uint16_t kNumericNeg = 0x4000;
constexpr uint16_t kNumericShort = 0x8000;
constexpr uint16_t kNumericSpecial = 0xC000;
constexpr uint16_t kNumericExtSignMask = 0xF000;
constexpr uint16_t kNumericNaN = 0xC000;
constexpr uint16_t kNumericPInf = 0xD000;
constexpr uint16_t kNumericShortSignMask = 0x2000;
constexpr uint16_t kNumericShortWeightSignMask = 0x0040;
constexpr uint16_t kNumericShortWeightMask = 0x003F;

template <typename Put>
void
with_numeric(const struct varlena *v, Put &&put)
{
    const uint8_t *p = reinterpret_cast<const uint8_t *>(VARDATA_ANY(v));
    size_t len = VARSIZE_ANY_EXHDR(v);
    uint16_t header;
    memcpy(&header, p, 2);
    enc::NumericSign sign;
    int weight;
    size_t digits_at;
    if ((header & kNumericSignMask) == kNumericSpecial) {
        uint16_t ext = header & kNumericExtSignMask;
        sign = ext == kNumericNaN ? enc::kNaN : ext == kNumericPInf ? enc::kPlusInfinity : enc::kMinusInfinity;
        put(sign, 0, std::span<const uint16_t>());
        return;
    }
    if ((header & kNumericSignMask) == kNumericShort) {
        sign = (header & kNumericShortSignMask) ? enc::kNegative : enc::kPositive;
        // A 7-bit two's complement weight: sign-extend it.
        weight = header & kNumericShortWeightMask;
        if (header & kNumericShortWeightSignMask)
            weight = static_cast<int32_t>(0xFFFFFFC0u | static_cast<uint32_t>(weight));
        digits_at = 2;
    } else {
        sign = (header & kNumericSignMask) == kNumericNeg ? enc::kNegative : enc::kPositive;
        int16_t w;
        memcpy(&w, p + 2, 2);
        weight = w;
        digits_at = 4;
    }
    size_t n = (len - digits_at) / 2;
    // Digits may be unaligned (short varlena header): copy them out.
    uint16_t stack[64];
    uint16_t *digits = n <= 64 ? stack : static_cast<uint16_t *>(palloc(n * sizeof(uint16_t)));
    memcpy(digits, p + digits_at, n * sizeof(uint16_t));
    put(sign, weight, std::span<const uint16_t>(digits, n));
}

void
encode_numeric(EncodeBuffer &b, Datum d)
{
    const struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
    with_numeric(v, [&b](enc::NumericSign s, int w, std::span<const uint16_t> digits) {
        enc::put_numeric(b, s, w, digits);
    });
}

void
encode_jsonb(EncodeBuffer &b, Datum d)
{
    Jsonb *j = DatumGetJsonbP(d);
    size_t at = enc::begin_field(b, enc::kJson);
    JsonbIterator *it = JsonbIteratorInit(&j->root);
    JsonbValue v;
    JsonbIteratorToken token;
    while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE) {
        switch (token) {
        case WJB_BEGIN_ARRAY:
            if (!v.val.array.rawScalar)
                enc::put_json_container(b, enc::kJsonArray, static_cast<uint32_t>(v.val.array.nElems));
            break;
        case WJB_BEGIN_OBJECT:
            enc::put_json_container(b, enc::kJsonObject, static_cast<uint32_t>(v.val.object.nPairs));
            break;
        case WJB_KEY:
            enc::put_json_string(b, std::string_view(v.val.string.val, v.val.string.len));
            break;
        case WJB_VALUE:
        case WJB_ELEM:
            switch (v.type) {
            case jbvNull: enc::put_json_scalar(b, enc::kJsonNull); break;
            case jbvBool: enc::put_json_scalar(b, v.val.boolean ? enc::kJsonTrue : enc::kJsonFalse); break;
            case jbvString: enc::put_json_string(b, std::string_view(v.val.string.val, v.val.string.len)); break;
            case jbvNumeric:
                with_numeric(reinterpret_cast<const struct varlena *>(v.val.numeric),
                             [&b](enc::NumericSign s, int w, std::span<const uint16_t> digits) {
                                 enc::put_json_number(b, s, w, digits);
                             });
                break;
            default: elog(ERROR, "pymigrate: unexpected jsonb value type %d", static_cast<int>(v.type));
            }
            break;
        case WJB_END_ARRAY:
        case WJB_END_OBJECT:
        case WJB_DONE: break;
        }
    }
    enc::end_field(b, at);
}

const char *
enum_label(const Codec &c, Oid value)
{
    size_t lo = 0, hi = c.enum_labels.size();
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c.enum_labels[mid].first < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c.enum_labels.size() && c.enum_labels[lo].first == value)
        return c.enum_labels[lo].second.c_str();
    // A label added after the plan was made: ask the catalog.
    HeapTuple tup = SearchSysCache1(ENUMOID, ObjectIdGetDatum(value));
    if (!HeapTupleIsValid(tup))
        elog(ERROR, "pymigrate: invalid internal value for enum: %u", value);
    const char *label = pstrdup(NameStr(reinterpret_cast<Form_pg_enum>(GETSTRUCT(tup))->enumlabel));
    ReleaseSysCache(tup);
    return label;
}

void
encode_array(EncodeBuffer &b, const Codec &c, Datum d)
{
    ArrayType *a = DatumGetArrayTypeP(d);
    int ndim = ARR_NDIM(a);
    Datum *elems;
    bool *nulls;
    int n;
    deconstruct_array(a, ARR_ELEMTYPE(a), c.elem_len, c.elem_byval, c.elem_align, &elems, &nulls, &n);
    size_t at = enc::begin_field(b, enc::kArray);
    enc::put_array_dims(b, std::span<const int>(ARR_DIMS(a), ndim), std::span<const int>(ARR_LBOUND(a), ndim));
    for (int i = 0; i < n; ++i)
        encode_value(b, *c.element, elems[i], nulls[i]);
    enc::end_field(b, at);
}

} // namespace

void
encode_value(EncodeBuffer &b, const Codec &c, Datum d, bool isnull)
{
    if (isnull) {
        enc::put_null(b);
        return;
    }
    switch (c.kind) {
    case Kind::Int2: enc::put_int(b, DatumGetInt16(d)); break;
    case Kind::Int4: enc::put_int(b, DatumGetInt32(d)); break;
    case Kind::Int8: enc::put_int(b, DatumGetInt64(d)); break;
    case Kind::Oid: enc::put_int(b, DatumGetObjectId(d)); break;
    case Kind::Numeric: encode_numeric(b, d); break;
    case Kind::Float4: enc::put_float(b, DatumGetFloat4(d)); break;
    case Kind::Float8: enc::put_float(b, DatumGetFloat8(d)); break;
    case Kind::Bool: enc::put_bool(b, DatumGetBool(d)); break;
    case Kind::Text:
    case Kind::Bpchar:
    case Kind::Bytea: {
        const struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
        std::string_view s(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
        if (c.kind == Kind::Text)
            enc::put_text(b, s);
        else if (c.kind == Kind::Bpchar)
            enc::put_bpchar(b, s);
        else
            enc::put_bytes(b, enc::kBytes, s.data(), s.size());
        break;
    }
    case Kind::Name: enc::put_text(b, NameStr(*DatumGetName(d))); break;
    case Kind::Char: {
        char ch = DatumGetChar(d);
        enc::put_bytes(b, enc::kText, &ch, ch ? 1 : 0);
        break;
    }
    case Kind::Uuid: enc::put_bytes(b, enc::kUuid, DatumGetUUIDP(d)->data, UUID_LEN); break;
    case Kind::Date: enc::put_pg_date(b, DatumGetDateADT(d)); break;
    case Kind::Timestamp: enc::put_pg_timestamp(b, enc::kTimestamp, DatumGetTimestamp(d)); break;
    case Kind::TimestampTz: enc::put_pg_timestamp(b, enc::kTimestampTz, DatumGetTimestampTz(d)); break;
    case Kind::Time: enc::put_time(b, DatumGetTimeADT(d)); break;
    case Kind::TimeTz: {
        TimeTzADT *t = DatumGetTimeTzADTP(d);
        enc::put_timetz(b, t->time, t->zone);
        break;
    }
    case Kind::Interval: {
        Interval *i = DatumGetIntervalP(d);
        enc::put_interval(b, i->month, i->day, i->time);
        break;
    }
    case Kind::Jsonb: encode_jsonb(b, d); break;
    case Kind::Inet: {
        inet *ip = DatumGetInetPP(d);
        enc::put_inet(b, ip_family(ip) == PGSQL_AF_INET ? 4 : 6, ip_bits(ip), c.type == CIDROID,
                      reinterpret_cast<const uint8_t *>(ip_addr(ip)), ip_addrsize(ip));
        break;
    }
    case Kind::Enum: enc::put_text(b, enum_label(c, DatumGetObjectId(d))); break;
    case Kind::Array: encode_array(b, c, d); break;
    }
}

RowHash
encode_row(EncodeBuffer &b, const TablePlan &plan, const short *attnums, const Datum *values, const bool *isnull)
{
    b.clear();
    size_t i = 0;
    for (const auto &col : plan.key) {
        int a = attnums[i++] - 1;
        encode_value(b, col.codec, values[a], isnull[a]);
    }
    size_t key_len = b.size();
    for (const auto &col : plan.values) {
        int a = attnums[i++] - 1;
        encode_value(b, col.codec, values[a], isnull[a]);
    }
    return RowHash{enc::hash_bytes(b.data(), key_len), enc::hash_bytes(b.data(), b.size()), key_len};
}

void
append_json_value(StringInfo out, const Codec &c, Datum d, bool isnull)
{
    if (isnull) {
        appendStringInfoString(out, "null");
        return;
    }
    switch (c.kind) {
    case Kind::Bool: appendStringInfoString(out, DatumGetBool(d) ? "true" : "false"); return;
    case Kind::Jsonb: {
        Jsonb *j = DatumGetJsonbP(d);
        (void)JsonbToCString(out, &j->root, VARSIZE(j));
        return;
    }
    default: break;
    }
    char *text = OidOutputFunctionCall(c.output_fn, d);
    bool bare = c.kind == Kind::Int2 || c.kind == Kind::Int4 || c.kind == Kind::Int8 || c.kind == Kind::Oid;
    if (c.kind == Kind::Numeric)
        bare = strcmp(text, "NaN") != 0 && strcmp(text, "Infinity") != 0 && strcmp(text, "-Infinity") != 0;
    if (bare)
        appendStringInfoString(out, text);
    else
        escape_json(out, text);
}

void
append_key_json(StringInfo out, const TablePlan &plan, const short *attnums, const Datum *values, const bool *isnull)
{
    appendStringInfoChar(out, '[');
    for (size_t i = 0; i < plan.key.size(); ++i) {
        if (i)
            appendStringInfoString(out, ", ");
        int a = attnums[i] - 1;
        append_json_value(out, plan.key[i].codec, values[a], isnull[a]);
    }
    appendStringInfoChar(out, ']');
}

} // namespace pymigrate::validate

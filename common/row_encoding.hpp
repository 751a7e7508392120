// The canonical binary encoding of a row that consistency validation hashes
// (format: common/row_encoding.md). No PostgreSQL types here: the extension
// turns Datums into these calls (extension/validate/datum_encode.cpp), and
// client code (a tool reading binary COPY, a test) can produce the very same
// bytes, hence the same hashes, from values it holds.
//
// The writers append to any buffer type B offering
//     uint8_t *grow(size_t n)   // n more writable bytes at the end (may reallocate)
//     size_t size() const
//     uint8_t *data()
// so the extension can use a palloc'd buffer whose growth raises a
// PostgreSQL error, and clients a std::vector (RowBuffer below).
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace pymigrate::rowenc {

// Bumped on any change to the bytes below; both sides of a validation must agree.
inline constexpr int kFormatVersion = 1;

enum Tag : uint8_t {
    kNull = 0x00, // the whole field; no length, no payload
    kInt = 0x01,  // int64: int2/int4/int8/oid, and numerics that are integers in int64 range
    kNumeric = 0x02,
    kFloat = 0x03, // float8 bits (float4 widened)
    kBool = 0x04,
    kText = 0x05, // text, varchar, bpchar (trailing blanks removed), name, "char", enum labels
    kBytes = 0x06,
    kUuid = 0x07,
    kDate = 0x08,        // int32 days since 1970-01-01
    kTimestamp = 0x09,   // int64 microseconds since 1970-01-01 (no time zone)
    kTimestampTz = 0x0A, // int64 microseconds since 1970-01-01 00:00 UTC
    kTime = 0x0B,        // int64 microseconds since midnight
    kTimeTz = 0x0C,      // int64 microseconds since midnight UTC, int32 zone (seconds west of UTC)
    kInterval = 0x0D,    // int32 months, int32 days, int64 microseconds
    kJson = 0x0E,        // jsonb token stream (below)
    kInet = 0x0F,        // uint8 family (4|6), uint8 bits, uint8 is_cidr, address bytes
    kArray = 0x10,       // uint32 ndim, per dimension (int32 length, int32 lower bound), element fields
};

// Numeric sign byte.
enum NumericSign : uint8_t { kPositive = 0, kNegative = 1, kNaN = 2, kPlusInfinity = 3, kMinusInfinity = 4 };

// jsonb tokens (inside a kJson payload).
enum JsonToken : uint8_t {
    kJsonNull = 'n',
    kJsonFalse = 'f',
    kJsonTrue = 't',
    kJsonString = 's',  // uint32 length, bytes
    kJsonNumber = '#',  // a nested kInt or kNumeric field
    kJsonObject = '{',  // uint32 pair count, then (string token, value token) pairs in jsonb key order
    kJsonArray = '[',   // uint32 element count, then element tokens
};

// Microseconds and days between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
inline constexpr int64_t kPgEpochOffsetMicros = 946684800LL * 1000000LL;
inline constexpr int32_t kPgEpochOffsetDays = 10957;

inline constexpr size_t kFieldHeader = 5; // tag + uint32 length

// ---- little-endian primitives ------------------------------------------------

inline void
store_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        p[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline void
store_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        p[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline uint32_t
load_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

inline uint64_t
load_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

template <typename B>
inline void
put_u8(B &b, uint8_t v)
{
    *b.grow(1) = v;
}

template <typename B>
inline void
put_u32(B &b, uint32_t v)
{
    store_u32(b.grow(4), v);
}

template <typename B>
inline void
put_u64(B &b, uint64_t v)
{
    store_u64(b.grow(8), v);
}

// ---- fields --------------------------------------------------------------------

template <typename B>
inline void
put_null(B &b)
{
    put_u8(b, kNull);
}

// A field of fixed size: tag, length, then `len` payload bytes for the caller.
template <typename B>
inline uint8_t *
begin_fixed(B &b, Tag tag, uint32_t len)
{
    uint8_t *p = b.grow(kFieldHeader + len);
    p[0] = tag;
    store_u32(p + 1, len);
    return p + kFieldHeader;
}

// A field whose length is known only after its payload is written: returns
// the offset to hand to end_field().
template <typename B>
inline size_t
begin_field(B &b, Tag tag)
{
    size_t at = b.size();
    uint8_t *p = b.grow(kFieldHeader);
    p[0] = tag;
    return at;
}

template <typename B>
inline void
end_field(B &b, size_t at)
{
    store_u32(b.data() + at + 1, static_cast<uint32_t>(b.size() - at - kFieldHeader));
}

template <typename B>
inline void
put_int(B &b, int64_t v)
{
    store_u64(begin_fixed(b, kInt, 8), static_cast<uint64_t>(v));
}

template <typename B>
inline void
put_bool(B &b, bool v)
{
    *begin_fixed(b, kBool, 1) = v ? 1 : 0;
}

template <typename B>
inline void
put_float(B &b, double v)
{
    uint64_t bits;
    if (v != v) {
        bits = 0x7ff8000000000000ULL; // every NaN is the same value to PostgreSQL
    } else {
        if (v == 0.0)
            v = 0.0; // -0 equals 0
        memcpy(&bits, &v, 8);
    }
    store_u64(begin_fixed(b, kFloat, 8), bits);
}

template <typename B>
inline void
put_bytes(B &b, Tag tag, const void *data, size_t len)
{
    uint8_t *p = begin_fixed(b, tag, static_cast<uint32_t>(len));
    if (len)
        memcpy(p, data, len);
}

template <typename B>
inline void
put_text(B &b, std::string_view s)
{
    put_bytes(b, kText, s.data(), s.size());
}

// bpchar: trailing blanks are not significant ('DE'::char(4) = 'DE').
template <typename B>
inline void
put_bpchar(B &b, std::string_view s)
{
    size_t n = s.size();
    while (n > 0 && s[n - 1] == ' ')
        --n;
    put_bytes(b, kText, s.data(), n);
}

template <typename B>
inline void
put_uuid(B &b, const uint8_t (&bytes)[16])
{
    put_bytes(b, kUuid, bytes, 16);
}

// PostgreSQL's own representations (days / microseconds since 2000-01-01);
// infinities (INT32/INT64 min and max) stay what they are.
template <typename B>
inline void
put_pg_date(B &b, int32_t pg_days)
{
    int32_t v = pg_days;
    if (v != INT32_MIN && v != INT32_MAX)
        v += kPgEpochOffsetDays;
    store_u32(begin_fixed(b, kDate, 4), static_cast<uint32_t>(v));
}

template <typename B>
inline void
put_pg_timestamp(B &b, Tag tag, int64_t pg_micros)
{
    int64_t v = pg_micros;
    if (v != INT64_MIN && v != INT64_MAX)
        v += kPgEpochOffsetMicros;
    store_u64(begin_fixed(b, tag, 8), static_cast<uint64_t>(v));
}

template <typename B>
inline void
put_time(B &b, int64_t micros)
{
    store_u64(begin_fixed(b, kTime, 8), static_cast<uint64_t>(micros));
}

// timetz: equal when the UTC instant and the zone are equal (timetz_eq).
template <typename B>
inline void
put_timetz(B &b, int64_t micros, int32_t zone_seconds)
{
    uint8_t *p = begin_fixed(b, kTimeTz, 12);
    store_u64(p, static_cast<uint64_t>(micros + static_cast<int64_t>(zone_seconds) * 1000000));
    store_u32(p + 8, static_cast<uint32_t>(zone_seconds));
}

template <typename B>
inline void
put_interval(B &b, int32_t months, int32_t days, int64_t micros)
{
    uint8_t *p = begin_fixed(b, kInterval, 16);
    store_u32(p, static_cast<uint32_t>(months));
    store_u32(p + 4, static_cast<uint32_t>(days));
    store_u64(p + 8, static_cast<uint64_t>(micros));
}

template <typename B>
inline void
put_inet(B &b, int family, int bits, bool is_cidr, const uint8_t *addr, size_t addr_len)
{
    uint8_t *p = begin_fixed(b, kInet, static_cast<uint32_t>(3 + addr_len));
    p[0] = static_cast<uint8_t>(family);
    p[1] = static_cast<uint8_t>(bits);
    p[2] = is_cidr ? 1 : 0;
    memcpy(p + 3, addr, addr_len);
}

// A numeric given as PostgreSQL holds it: sign, weight (base-10000 exponent
// of the first digit) and base-10000 digits. Display scale is ignored, so
// 1.0 and 1.00 encode alike; leading and trailing zero digits are stripped;
// an integer that fits in int64 is encoded as kInt, so 5::numeric and 5::int
// agree.
template <typename B>
inline void
put_numeric(B &b, NumericSign sign, int weight, std::span<const uint16_t> digits)
{
    if (sign != kPositive && sign != kNegative) {
        uint8_t *p = begin_fixed(b, kNumeric, 1);
        p[0] = sign;
        return;
    }
    size_t first = 0;
    size_t last = digits.size();
    while (first < last && digits[first] == 0) {
        ++first;
        --weight;
    }
    while (last > first && digits[last - 1] == 0)
        --last;
    size_t n = last - first;
    if (n == 0) {
        put_int(b, 0);
        return;
    }
    // Integral when the last digit is at exponent >= 0; 10000^4 * 9999 is
    // below 2^127, so __int128 cannot overflow for weight <= 4.
    if (weight - static_cast<int>(n) + 1 >= 0 && weight <= 4) {
        __int128 v = 0;
        for (size_t i = first; i < last; ++i)
            v = v * 10000 + digits[i];
        for (int e = weight - static_cast<int>(n) + 1; e > 0; --e)
            v *= 10000;
        if (sign == kNegative)
            v = -v;
        if (v >= INT64_MIN && v <= INT64_MAX) {
            put_int(b, static_cast<int64_t>(v));
            return;
        }
    }
    uint8_t *p = begin_fixed(b, kNumeric, static_cast<uint32_t>(5 + 2 * n));
    p[0] = sign;
    store_u32(p + 1, static_cast<uint32_t>(static_cast<int32_t>(weight)));
    for (size_t i = 0; i < n; ++i) {
        p[5 + 2 * i] = static_cast<uint8_t>(digits[first + i] & 0xff);
        p[6 + 2 * i] = static_cast<uint8_t>(digits[first + i] >> 8);
    }
}

// ---- jsonb tokens (between begin_field(b, kJson) and end_field) ------------------

template <typename B>
inline void
put_json_scalar(B &b, JsonToken token) // kJsonNull, kJsonFalse, kJsonTrue
{
    put_u8(b, token);
}

template <typename B>
inline void
put_json_string(B &b, std::string_view s)
{
    uint8_t *p = b.grow(5 + s.size());
    p[0] = kJsonString;
    store_u32(p + 1, static_cast<uint32_t>(s.size()));
    if (!s.empty())
        memcpy(p + 5, s.data(), s.size());
}

// kJsonObject or kJsonArray with its pair / element count; the members follow.
template <typename B>
inline void
put_json_container(B &b, JsonToken token, uint32_t count)
{
    uint8_t *p = b.grow(5);
    p[0] = token;
    store_u32(p + 1, count);
}

// A number: the token, then the number as a put_numeric() field.
template <typename B>
inline void
put_json_number(B &b, NumericSign sign, int weight, std::span<const uint16_t> digits)
{
    put_u8(b, kJsonNumber);
    put_numeric(b, sign, weight, digits);
}

// ---- arrays (between begin_field(b, kArray) and end_field) ---------------------

template <typename B>
inline void
put_array_dims(B &b, std::span<const int> lengths, std::span<const int> lower_bounds)
{
    put_u32(b, static_cast<uint32_t>(lengths.size()));
    for (size_t i = 0; i < lengths.size(); ++i) {
        put_u32(b, static_cast<uint32_t>(lengths[i]));
        put_u32(b, static_cast<uint32_t>(lower_bounds[i]));
    }
}

// ---- hashing -------------------------------------------------------------------

inline uint64_t
hash_bytes(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}

// The bucket of a key hash among `buckets` (any count, not only powers of
// two): the high bits of key_hash * buckets, so buckets are contiguous hash
// ranges.
inline uint32_t
bucket_of(uint64_t key_hash, uint32_t buckets)
{
    return static_cast<uint32_t>((static_cast<unsigned __int128>(key_hash) * buckets) >> 64);
}

// Per-bucket aggregate of row hashes: order-independent, so a scan in any
// order (or split among parallel workers) gives the same digest.
struct BucketDigest {
    uint64_t count = 0;
    uint64_t sum = 0;
    uint64_t xor_ = 0;

    void add(uint64_t row_hash)
    {
        ++count;
        sum += row_hash;
        xor_ ^= row_hash;
    }
    void merge(const BucketDigest &o)
    {
        count += o.count;
        sum += o.sum;
        xor_ ^= o.xor_;
    }
    bool operator==(const BucketDigest &) const = default;
};

// A digest on the wire (pymigrate._digest): uint32 format version, uint32
// bucket count, then per bucket uint64 count, sum, xor, all little-endian.
inline constexpr size_t kPackedDigestHeader = 8;
inline constexpr size_t kPackedBucket = 24;

// ---- a buffer for client code ------------------------------------------------

class RowBuffer {
  public:
    uint8_t *grow(size_t n)
    {
        size_t at = bytes_.size();
        bytes_.resize(at + n);
        return bytes_.data() + at;
    }
    size_t size() const { return bytes_.size(); }
    uint8_t *data() { return bytes_.data(); }
    const uint8_t *data() const { return bytes_.data(); }
    void clear() { bytes_.clear(); }
    const std::vector<uint8_t> &bytes() const { return bytes_; }

  private:
    std::vector<uint8_t> bytes_;
};

} // namespace pymigrate::rowenc

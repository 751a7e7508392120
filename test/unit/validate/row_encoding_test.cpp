// The client-side encoder produces, byte for byte, what the extension
// produces for the same values: the expected strings are those of
// test/regress/expected/validate_encoding.out.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/row_encoding.hpp"

namespace enc = pymigrate::rowenc;

namespace {

std::string
hex(const enc::RowBuffer &b)
{
    static const char *digits = "0123456789abcdef";
    std::string out = "\\x";
    for (uint8_t c : b.bytes()) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

template <typename F>
std::string
encoded(F &&put)
{
    enc::RowBuffer b;
    put(b);
    return hex(b);
}

} // namespace

TEST(RowEncoding, IntegersAreWidenedToEightBytes)
{
    EXPECT_EQ(encoded([](auto &b) { enc::put_null(b); }), "\\x00");
    EXPECT_EQ(encoded([](auto &b) { enc::put_int(b, 0); }), "\\x01080000000000000000000000");
    EXPECT_EQ(encoded([](auto &b) { enc::put_int(b, 1); }), "\\x01080000000100000000000000");
    EXPECT_EQ(encoded([](auto &b) { enc::put_int(b, -1); }), "\\x0108000000ffffffffffffffff");
    EXPECT_EQ(encoded([](auto &b) { enc::put_int(b, 2147483647); }), "\\x0108000000ffffff7f00000000");
}

TEST(RowEncoding, NumericsIgnoreScaleAndIntegralOnesAreIntegers)
{
    const uint16_t one[] = {1};
    const uint16_t one_and_zero_digits[] = {0, 1, 0, 0};
    const uint16_t one_point_five[] = {1, 5000};
    const uint16_t big[] = {1234, 5678, 1, 2300};
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kPositive, 0, one); }),
              "\\x01080000000100000000000000");
    // Leading and trailing zero digits (1.0 as PostgreSQL may hold it) are stripped.
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kPositive, 1, one_and_zero_digits); }),
              "\\x01080000000100000000000000");
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kPositive, 0, one_point_five); }),
              "\\x0209000000000000000001008813");
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kNegative, 1, big); }),
              "\\x020d0000000101000000d2042e160100fc08");
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kPositive, -1, one); }), "\\x020700000000ffffffff0100");
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kPositive, 5, one); }), "\\x020700000000050000000100");
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kNaN, 0, {}); }), "\\x020100000002");
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kMinusInfinity, 0, {}); }), "\\x020100000004");
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kPositive, 0, {}); }),
              "\\x01080000000000000000000000");
    // The largest int64 is an integer; one more is a numeric.
    const uint16_t max[] = {922, 3372, 368, 5477, 5807};
    const uint16_t over[] = {922, 3372, 368, 5477, 5808};
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kPositive, 4, max); }),
              encoded([](auto &b) { enc::put_int(b, INT64_MAX); }));
    EXPECT_EQ(encoded([&](auto &b) { enc::put_numeric(b, enc::kPositive, 4, over); })[3], '2');
}

TEST(RowEncoding, TextBytesAndPaddedChar)
{
    EXPECT_EQ(encoded([](auto &b) { enc::put_text(b, "DE"); }), "\\x05020000004445");
    EXPECT_EQ(encoded([](auto &b) { enc::put_bpchar(b, "DE  "); }), "\\x05020000004445");
    EXPECT_EQ(encoded([](auto &b) { enc::put_text(b, ""); }), "\\x0500000000");
    EXPECT_EQ(encoded([](auto &b) { enc::put_bytes(b, enc::kBytes, "\x00\xff", 2); }), "\\x060200000000ff");
}

TEST(RowEncoding, TimesAreMicrosecondsSinceTheUnixEpoch)
{
    // 2024-01-01 10:00:00 UTC, as PostgreSQL holds it (microseconds since 2000-01-01).
    int64_t pg = (1704103200LL - 946684800LL) * 1000000LL;
    EXPECT_EQ(encoded([&](auto &b) { enc::put_pg_timestamp(b, enc::kTimestampTz, pg); }),
              "\\x0a080000000088e571df0d0600");
    EXPECT_EQ(encoded([](auto &b) { enc::put_pg_timestamp(b, enc::kTimestamp, -enc::kPgEpochOffsetMicros); }),
              "\\x09080000000000000000000000");
    EXPECT_EQ(encoded([](auto &b) { enc::put_pg_date(b, 1 - enc::kPgEpochOffsetDays); }), "\\x080400000001000000");
    EXPECT_EQ(encoded([](auto &b) { enc::put_pg_timestamp(b, enc::kTimestampTz, INT64_MAX); }),
              "\\x0a08000000ffffffffffffff7f");
    EXPECT_EQ(encoded([](auto &b) { enc::put_time(b, 12LL * 3600 * 1000000); }), "\\x0b0800000000b0eb0e0a000000");
    EXPECT_EQ(encoded([](auto &b) { enc::put_interval(b, 1, 2, 3000000); }),
              "\\x0d100000000100000002000000c0c62d0000000000");
}

TEST(RowEncoding, OtherScalars)
{
    const uint8_t uuid[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                              0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};
    EXPECT_EQ(encoded([&](auto &b) { enc::put_uuid(b, uuid); }), "\\x0710000000a0eebc999c0b4ef8bb6d6bb9bd380a11");
    EXPECT_EQ(encoded([](auto &b) { enc::put_bool(b, true); }), "\\x040100000001");
    EXPECT_EQ(encoded([](auto &b) { enc::put_float(b, 1.5); }), "\\x0308000000000000000000f83f");
    EXPECT_EQ(encoded([](auto &b) { enc::put_float(b, -0.0); }), encoded([](auto &b) { enc::put_float(b, 0.0); }));
    const uint8_t addr[4] = {10, 1, 2, 3};
    EXPECT_EQ(encoded([&](auto &b) { enc::put_inet(b, 4, 8, false, addr, 4); }), "\\x0f070000000408000a010203");
}

TEST(RowEncoding, JsonbTokenStream)
{
    // {"a": 1.0, "b": [1, "x", null]} in jsonb key order.
    const uint16_t one[] = {1};
    std::string got = encoded([&](auto &b) {
        size_t at = enc::begin_field(b, enc::kJson);
        enc::put_json_container(b, enc::kJsonObject, 2);
        enc::put_json_string(b, "a");
        enc::put_json_number(b, enc::kPositive, 0, one);
        enc::put_json_string(b, "b");
        enc::put_json_container(b, enc::kJsonArray, 3);
        enc::put_json_number(b, enc::kPositive, 0, one);
        enc::put_json_string(b, "x");
        enc::put_json_scalar(b, enc::kJsonNull);
        enc::end_field(b, at);
    });
    EXPECT_EQ(got, "\\x0e390000007b0200000073010000006123010800000001000000000000007301000000625b0300000023010800000001"
                   "000000000000007301000000786e");
}

TEST(RowEncoding, Arrays)
{
    const int lengths[] = {3};
    const int lower[] = {1};
    std::string got = encoded([&](auto &b) {
        size_t at = enc::begin_field(b, enc::kArray);
        enc::put_array_dims(b, lengths, lower);
        enc::put_text(b, "a");
        enc::put_null(b);
        enc::put_text(b, "b");
        enc::end_field(b, at);
    });
    EXPECT_EQ(got, "\\x101900000001000000030000000100000005010000006100050100000062");
}

TEST(RowEncoding, LengthPrefixesKeepFieldBoundaries)
{
    // ("ab", "c") and ("a", "bc") must not hash alike.
    enc::RowBuffer x, y;
    enc::put_text(x, "ab");
    enc::put_text(x, "c");
    enc::put_text(y, "a");
    enc::put_text(y, "bc");
    EXPECT_NE(x.bytes(), y.bytes());
    EXPECT_NE(enc::hash_bytes(x.data(), x.size()), enc::hash_bytes(y.data(), y.size()));
}

TEST(RowEncoding, BucketsCoverTheRangeEvenly)
{
    for (uint32_t buckets : {1u, 7u, 64u, 1u << 20}) {
        EXPECT_EQ(enc::bucket_of(0, buckets), 0u);
        EXPECT_EQ(enc::bucket_of(UINT64_MAX, buckets), buckets - 1);
    }
    std::vector<int> counts(16);
    for (int i = 0; i < 160000; ++i) {
        int64_t v = i;
        counts[enc::bucket_of(enc::hash_bytes(&v, sizeof(v)), 16)]++;
    }
    for (int c : counts)
        EXPECT_NEAR(c, 10000, 500);
}

TEST(RowEncoding, DigestIsIndependentOfRowOrder)
{
    std::vector<uint64_t> hashes;
    for (int i = 0; i < 1000; ++i)
        hashes.push_back(enc::hash_bytes(&i, sizeof(i)));
    enc::BucketDigest a, b;
    for (auto h : hashes)
        a.add(h);
    std::shuffle(hashes.begin(), hashes.end(), std::mt19937(7));
    enc::BucketDigest half1, half2;
    for (size_t i = 0; i < hashes.size(); ++i)
        (i % 2 ? half1 : half2).add(hashes[i]);
    b.merge(half1);
    b.merge(half2);
    EXPECT_EQ(a, b);
    b.add(hashes[0]);
    EXPECT_FALSE(a == b);
}

// Matching rows by key hash (bucket mode and sorted merge) and classifying
// the candidates by exact key.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "validate/classify.hpp"

using namespace pymigrate::validate;

namespace {

RowRef
row(uint64_t key, uint64_t hash, uint32_t block = 0)
{
    return RowRef{key, hash, 1, block, 1};
}

std::set<uint64_t>
keys_of(const std::vector<RowRef> &rows)
{
    std::set<uint64_t> out;
    for (const auto &r : rows)
        out.insert(r.key_hash);
    return out;
}

FetchedRow
fetched(const std::string &key, uint64_t hash)
{
    return FetchedRow{key, "[\"" + key + "\"]", hash, std::nullopt};
}

// Feeds both sides to a SortedMerge in random batch sizes.
Candidates
merge_in_batches(std::vector<RowRef> local, std::vector<RowRef> remote, std::mt19937 &rng)
{
    auto by_signed = [](const RowRef &a, const RowRef &b) {
        return static_cast<int64_t>(a.key_hash) < static_cast<int64_t>(b.key_hash);
    };
    std::sort(local.begin(), local.end(), by_signed);
    std::sort(remote.begin(), remote.end(), by_signed);
    SortedMerge m;
    size_t li = 0, ri = 0;
    std::uniform_int_distribution<size_t> batch(1, 50);
    for (;;) {
        auto need = m.need();
        if (need == SortedMerge::Need::Nothing)
            break;
        auto &src = need == SortedMerge::Need::Local ? local : remote;
        size_t &at = need == SortedMerge::Need::Local ? li : ri;
        size_t n = std::min(batch(rng), src.size() - at);
        std::vector<RowRef> b(src.begin() + at, src.begin() + at + n);
        at += n;
        // A batch shorter than asked ends the stream, as with FETCH.
        bool last = at == src.size();
        if (need == SortedMerge::Need::Local)
            m.push_local(std::move(b), last);
        else
            m.push_remote(std::move(b), last);
    }
    return m.finish();
}

} // namespace

TEST(MatchRows, EqualRowsMatchAndEveryOtherRowIsACandidate)
{
    std::vector<RowRef> local = {row(1, 10), row(2, 20), row(3, 30), row(5, 50)};
    std::vector<RowRef> remote = {row(2, 20), row(3, 31), row(4, 40), row(5, 50)};
    Candidates c = match_rows(local, remote);
    EXPECT_EQ(c.matched, 2u);
    EXPECT_EQ(keys_of(c.local), (std::set<uint64_t>{1, 3}));
    EXPECT_EQ(keys_of(c.remote), (std::set<uint64_t>{3, 4}));
}

TEST(MatchRows, AKeyHashSeenTwiceOnASideIsNeverTakenAsEqual)
{
    // Two keys colliding on their 64-bit hash: both go to the exact check.
    Candidates c = match_rows({row(7, 1), row(7, 2)}, {row(7, 1)});
    EXPECT_EQ(c.matched, 0u);
    EXPECT_EQ(c.local.size(), 2u);
    EXPECT_EQ(c.remote.size(), 1u);
}

TEST(SortedMerge, AgreesWithMatchRowsWhateverTheBatchBoundaries)
{
    std::mt19937 rng(42);
    for (int round = 0; round < 200; ++round) {
        std::vector<RowRef> local, remote;
        std::uniform_int_distribution<uint64_t> any;
        int n = std::uniform_int_distribution<int>(0, 300)(rng);
        for (int i = 0; i < n; ++i) {
            uint64_t key = round % 3 == 0 ? any(rng) % 50 : any(rng); // some rounds with many duplicates
            uint64_t hash = any(rng) % 4;
            int where = std::uniform_int_distribution<int>(0, 9)(rng);
            if (where < 8) {
                local.push_back(row(key, hash));
                remote.push_back(row(key, where == 0 ? hash + 1 : hash));
            } else if (where == 8) {
                local.push_back(row(key, hash));
            } else {
                remote.push_back(row(key, hash));
            }
        }
        Candidates expected = match_rows(local, remote);
        Candidates got = merge_in_batches(local, remote, rng);
        EXPECT_EQ(got.matched, expected.matched) << "round " << round;
        EXPECT_EQ(keys_of(got.local), keys_of(expected.local)) << "round " << round;
        EXPECT_EQ(keys_of(got.remote), keys_of(expected.remote)) << "round " << round;
        EXPECT_EQ(got.local.size(), expected.local.size());
        EXPECT_EQ(got.remote.size(), expected.remote.size());
    }
}

TEST(SortedMerge, EmptySides)
{
    std::mt19937 rng(1);
    EXPECT_EQ(merge_in_batches({}, {}, rng).matched, 0u);
    Candidates c = merge_in_batches({row(1, 1)}, {}, rng);
    EXPECT_EQ(c.local.size(), 1u);
    // Signed order: a key hash with the top bit set sorts first.
    c = merge_in_batches({row(UINT64_MAX, 1), row(1, 1)}, {row(UINT64_MAX, 1), row(1, 1)}, rng);
    EXPECT_EQ(c.matched, 2u);
}

TEST(Classify, KindsByExactKey)
{
    auto d = classify({fetched("a", 1), fetched("b", 2), fetched("c", 3)},
                      {fetched("b", 2), fetched("c", 4), fetched("d", 5)});
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].kind, DiffKind::Missing);
    EXPECT_EQ(d[0].key_enc, "a");
    EXPECT_EQ(d[0].local_hash, 1u);
    EXPECT_FALSE(d[0].remote_hash);
    EXPECT_EQ(d[1].kind, DiffKind::Changed);
    EXPECT_EQ(d[1].key_enc, "c");
    EXPECT_EQ(d[1].remote_hash, 4u);
    EXPECT_EQ(d[2].kind, DiffKind::Extra);
    EXPECT_EQ(d[2].key_json, "[\"d\"]");
    EXPECT_STREQ(kind_name(DiffKind::Changed), "changed");
}

TEST(Classify, ANonUniqueKeyIsAnError)
{
    try {
        classify({fetched("a", 1)}, {fetched("a", 1), fetched("a", 2)});
        FAIL() << "no error";
    } catch (const DuplicateKey &e) {
        EXPECT_FALSE(e.local());
        EXPECT_EQ(e.key_json(), "[\"a\"]");
    }
}

TEST(PackedRowRefs, RoundTrip)
{
    std::vector<RowRef> refs = {RowRef{1, 2, 3, 4, 5}, RowRef{UINT64_MAX, 0, UINT32_MAX, 7, UINT16_MAX}};
    std::string bytes;
    pack_row_refs(refs, bytes);
    ASSERT_EQ(bytes.size(), 2 * kPackedRowRef);
    std::vector<RowRef> back;
    ASSERT_TRUE(unpack_row_refs(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), back));
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[1].key_hash, UINT64_MAX);
    EXPECT_EQ(back[1].rel, UINT32_MAX);
    EXPECT_EQ(back[1].offset, UINT16_MAX);
    EXPECT_EQ(back[0].block, 4u);
    EXPECT_FALSE(unpack_row_refs(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size() - 1, back));
}

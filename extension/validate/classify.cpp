#include "validate/classify.hpp"

#include <algorithm>
#include <limits>

#include "common/row_encoding.hpp"

namespace pymigrate::validate {

namespace enc = pymigrate::rowenc;

void
pack_row_refs(const std::vector<RowRef> &refs, std::string &out)
{
    size_t at = out.size();
    out.resize(at + refs.size() * kPackedRowRef);
    auto *p = reinterpret_cast<uint8_t *>(out.data()) + at;
    for (const auto &r : refs) {
        enc::store_u64(p, r.key_hash);
        enc::store_u64(p + 8, r.row_hash);
        enc::store_u32(p + 16, r.rel);
        enc::store_u32(p + 20, r.block);
        p[24] = static_cast<uint8_t>(r.offset);
        p[25] = static_cast<uint8_t>(r.offset >> 8);
        p += kPackedRowRef;
    }
}

bool
unpack_row_refs(const uint8_t *data, size_t len, std::vector<RowRef> &out)
{
    if (len % kPackedRowRef != 0)
        return false;
    out.reserve(out.size() + len / kPackedRowRef);
    for (const uint8_t *p = data; p < data + len; p += kPackedRowRef)
        out.push_back(RowRef{enc::load_u64(p), enc::load_u64(p + 8), enc::load_u32(p + 16), enc::load_u32(p + 20),
                             static_cast<uint16_t>(p[24] | (p[25] << 8))});
    return true;
}

namespace {

// Matches two runs sorted by key hash (in the order `less` defines) into `out`.
template <typename Less>
void
match_sorted(const std::vector<RowRef> &l, size_t l_end, const std::vector<RowRef> &r, size_t r_end, Candidates &out,
             Less less)
{
    size_t i = 0, j = 0;
    while (i < l_end || j < r_end) {
        uint64_t k;
        if (j >= r_end || (i < l_end && less(l[i].key_hash, r[j].key_hash)))
            k = l[i].key_hash;
        else
            k = r[j].key_hash;
        size_t i2 = i, j2 = j;
        while (i2 < l_end && l[i2].key_hash == k)
            ++i2;
        while (j2 < r_end && r[j2].key_hash == k)
            ++j2;
        if (i2 - i == 1 && j2 - j == 1 && l[i].row_hash == r[j].row_hash) {
            ++out.matched;
        } else {
            out.local.insert(out.local.end(), l.begin() + i, l.begin() + i2);
            out.remote.insert(out.remote.end(), r.begin() + j, r.begin() + j2);
        }
        i = i2;
        j = j2;
    }
}

bool
signed_less(uint64_t a, uint64_t b)
{
    return static_cast<int64_t>(a) < static_cast<int64_t>(b);
}

} // namespace

Candidates
match_rows(std::vector<RowRef> local, std::vector<RowRef> remote)
{
    auto by_key = [](const RowRef &a, const RowRef &b) { return a.key_hash < b.key_hash; };
    std::sort(local.begin(), local.end(), by_key);
    std::sort(remote.begin(), remote.end(), by_key);
    Candidates out;
    match_sorted(local, local.size(), remote, remote.size(), out, std::less<uint64_t>());
    return out;
}

void
SortedMerge::push(std::vector<RowRef> &side, std::vector<RowRef> batch, bool last, bool &done)
{
    side.insert(side.end(), batch.begin(), batch.end());
    done = last;
    match_available();
}

SortedMerge::Need
SortedMerge::need() const
{
    if (local_done_ && remote_done_)
        return Need::Nothing;
    if (local_done_)
        return Need::Remote;
    if (remote_done_ || local_.empty())
        return Need::Local;
    if (remote_.empty())
        return Need::Remote;
    return signed_less(remote_.back().key_hash, local_.back().key_hash) ? Need::Remote : Need::Local;
}

void
SortedMerge::match_available()
{
    // Rows below the smaller of the two sides' last key hashes are complete:
    // a later batch cannot add to their run. A side that has ended bounds nothing.
    int64_t bound = std::numeric_limits<int64_t>::max();
    bool everything = local_done_ && remote_done_;
    if (!local_done_)
        bound = local_.empty() ? std::numeric_limits<int64_t>::min()
                               : std::min(bound, static_cast<int64_t>(local_.back().key_hash));
    if (!remote_done_)
        bound = remote_.empty() ? std::numeric_limits<int64_t>::min()
                                : std::min(bound, static_cast<int64_t>(remote_.back().key_hash));
    auto below = [&](const std::vector<RowRef> &v) {
        if (everything)
            return v.size();
        return static_cast<size_t>(std::partition_point(v.begin(), v.end(),
                                                        [bound](const RowRef &r) {
                                                            return static_cast<int64_t>(r.key_hash) < bound;
                                                        }) -
                                   v.begin());
    };
    size_t nl = below(local_), nr = below(remote_);
    if (nl == 0 && nr == 0)
        return;
    match_sorted(local_, nl, remote_, nr, out_, signed_less);
    local_.erase(local_.begin(), local_.begin() + nl);
    remote_.erase(remote_.begin(), remote_.begin() + nr);
}

Candidates
SortedMerge::finish()
{
    local_done_ = remote_done_ = true;
    match_available();
    return std::move(out_);
}

const char *
kind_name(DiffKind k)
{
    switch (k) {
    case DiffKind::Missing: return "missing";
    case DiffKind::Extra: return "extra";
    case DiffKind::Changed: return "changed";
    }
    return "?";
}

std::vector<Difference>
classify(std::vector<FetchedRow> local, std::vector<FetchedRow> remote)
{
    auto by_key = [](const FetchedRow &a, const FetchedRow &b) { return a.key_enc < b.key_enc; };
    std::sort(local.begin(), local.end(), by_key);
    std::sort(remote.begin(), remote.end(), by_key);
    for (const auto *side : {&local, &remote})
        for (size_t i = 1; i < side->size(); ++i)
            if ((*side)[i].key_enc == (*side)[i - 1].key_enc)
                throw DuplicateKey((*side)[i].key_json, side == &local);
    std::vector<Difference> out;
    size_t i = 0, j = 0;
    while (i < local.size() || j < remote.size()) {
        if (j >= remote.size() || (i < local.size() && local[i].key_enc < remote[j].key_enc)) {
            auto &l = local[i++];
            out.push_back(Difference{DiffKind::Missing, std::move(l.key_enc), std::move(l.key_json), l.row_hash,
                                     std::nullopt, std::move(l.image), std::nullopt, l.xmin, std::nullopt});
        } else if (i >= local.size() || remote[j].key_enc < local[i].key_enc) {
            auto &r = remote[j++];
            out.push_back(Difference{DiffKind::Extra, std::move(r.key_enc), std::move(r.key_json), std::nullopt,
                                     r.row_hash, std::nullopt, std::move(r.image), std::nullopt, r.xmin});
        } else {
            auto &l = local[i++];
            auto &r = remote[j++];
            if (l.row_hash != r.row_hash)
                out.push_back(Difference{DiffKind::Changed, std::move(l.key_enc), std::move(l.key_json), l.row_hash,
                                         r.row_hash, std::move(l.image), std::move(r.image), l.xmin, r.xmin});
        }
    }
    return out;
}

} // namespace pymigrate::validate

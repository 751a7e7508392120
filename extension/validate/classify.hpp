// Matching the rows of two sides: the pure part of validation, without
// PostgreSQL (unit-tested on its own).
//
// Step 1 works on (key hash, row hash, location) triples of the rows in the
// differing buckets, or of whole tables in the sorted-merge mode: rows whose
// key hash appears once on each side with the same row hash agree; every
// other row is a candidate. Step 2 fetches the candidates' exact canonical
// keys and classifies them, so a 64-bit key hash collision can never hide or
// invent a difference.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pymigrate::validate {

// A row as a scan saw it: hashes, and where to find it again in the same
// snapshot (relation, block, offset).
struct RowRef {
    uint64_t key_hash = 0;
    uint64_t row_hash = 0;
    uint32_t rel = 0;
    uint32_t block = 0;
    uint16_t offset = 0;
};

// On the wire (pymigrate._bucket_rows_packed): 26 bytes per row, little-endian.
inline constexpr size_t kPackedRowRef = 26;
void pack_row_refs(const std::vector<RowRef> &refs, std::string &out);
[[nodiscard]] bool unpack_row_refs(const uint8_t *data, size_t len, std::vector<RowRef> &out);

struct Candidates {
    std::vector<RowRef> local;
    std::vector<RowRef> remote;
    uint64_t matched = 0; // rows found equal on both sides
};

// Step 1 for the rows of one set of buckets (any order).
Candidates match_rows(std::vector<RowRef> local, std::vector<RowRef> remote);

// Step 1 for two streams sorted by key hash in signed order (SQL's ORDER BY
// on bigint). The caller reads a batch from the side need() names and
// push()es it; memory stays bounded by one batch per side plus candidates.
class SortedMerge {
  public:
    enum class Need { Local, Remote, Nothing };
    void push_local(std::vector<RowRef> batch, bool last) { push(local_, std::move(batch), last, local_done_); }
    void push_remote(std::vector<RowRef> batch, bool last) { push(remote_, std::move(batch), last, remote_done_); }
    Need need() const;
    Candidates finish();

  private:
    void push(std::vector<RowRef> &side, std::vector<RowRef> batch, bool last, bool &done);
    void match_available();
    std::vector<RowRef> local_, remote_;
    bool local_done_ = false, remote_done_ = false;
    Candidates out_;
};

// A candidate row fetched again: its exact canonical key, the key as JSON,
// its row hash, optionally its image (JSON), and its version (the tuple's
// xmin: any committed change of the row, even one back to the same values,
// makes a new one).
struct FetchedRow {
    std::string key_enc;
    std::string key_json;
    uint64_t row_hash = 0;
    std::optional<std::string> image;
    uint32_t xmin = 0;
};

enum class DiffKind { Missing, Extra, Changed };
const char *kind_name(DiffKind k);

struct Difference {
    DiffKind kind;
    std::string key_enc;
    std::string key_json;
    std::optional<uint64_t> local_hash, remote_hash;
    std::optional<std::string> local_image, remote_image;
    std::optional<uint32_t> local_xmin, remote_xmin; // row versions, when read from the tables
};

// Two rows with the same key on one side: the key given is not unique.
class DuplicateKey : public std::runtime_error {
  public:
    DuplicateKey(const std::string &key_json, bool local)
        : std::runtime_error("duplicate key " + key_json), key_json_(key_json), local_(local)
    {
    }
    const std::string &key_json() const noexcept { return key_json_; }
    bool local() const noexcept { return local_; }

  private:
    std::string key_json_;
    bool local_;
};

// Step 2: missing (only local), extra (only remote), changed (both, different
// hashes), ordered by key. Throws DuplicateKey.
std::vector<Difference> classify(std::vector<FetchedRow> local, std::vector<FetchedRow> remote);

} // namespace pymigrate::validate

// Datum to canonical bytes (common/row_encoding.hpp) and to JSON text, for
// the columns of a TablePlan. Everything here calls into PostgreSQL
// (detoasting, jsonb iteration, output functions) and may raise a
// PostgreSQL error: call it only inside pg::pg_call, on plain data.
#pragma once

#include <cstddef>
#include <cstdint>

#include "validate/column_plan.hpp"

extern "C" {
struct StringInfoData;
typedef struct StringInfoData *StringInfo;
}

namespace pymigrate::validate {

// A growable byte buffer in a memory context; growth that fails raises a
// PostgreSQL error (out of memory), never a C++ exception. Trivially
// destructible, so it may live inside pg_call.
class EncodeBuffer {
  public:
    void init(MemoryContext context, size_t capacity = 1024);
    uint8_t *grow(size_t n)
    {
        if (len_ + n > cap_)
            reserve(len_ + n);
        uint8_t *p = buf_ + len_;
        len_ += n;
        return p;
    }
    size_t size() const { return len_; }
    uint8_t *data() { return buf_; }
    const uint8_t *data() const { return buf_; }
    void clear() { len_ = 0; }

  private:
    void reserve(size_t n);
    uint8_t *buf_ = nullptr;
    size_t len_ = 0;
    size_t cap_ = 0;
};

// Appends the field of one value.
void encode_value(EncodeBuffer &b, const Codec &codec, Datum value, bool isnull);

struct RowHash {
    uint64_t key_hash;
    uint64_t row_hash;
    size_t key_len; // bytes of the key fields at the start of the buffer
};

// Encodes one row (key fields, then value fields) from deformed values
// indexed by attnums[i] - 1 and hashes it. `attnums` lists the key columns
// then the value columns, as attnums_in() returns them.
RowHash encode_row(EncodeBuffer &b, const TablePlan &plan, const short *attnums, const Datum *values,
                   const bool *isnull);

// Appends the value as JSON: numbers and booleans bare, jsonb as itself,
// everything else as a JSON string of the type's text output.
void append_json_value(StringInfo out, const Codec &codec, Datum value, bool isnull);

// The key as a JSON array, one element per key column.
void append_key_json(StringInfo out, const TablePlan &plan, const short *attnums, const Datum *values,
                     const bool *isnull);

} // namespace pymigrate::validate

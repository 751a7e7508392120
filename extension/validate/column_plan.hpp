// Which columns of a table a validation hashes, in which order, and how each
// one's values are turned into the canonical encoding (common/row_encoding.hpp).
// Built once per table before any row is read: every type question (domain,
// enum labels, array element, output function) is answered here, so the
// per-row path only switches on a Kind.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pg/pg_fwd.hpp"

extern "C" {
struct SnapshotData;
typedef struct SnapshotData *Snapshot;
struct RelationData;
typedef struct RelationData *Relation;
}

namespace pymigrate::validate {

enum class Kind : unsigned char {
    Int2,
    Int4,
    Int8,
    Oid,
    Numeric,
    Float4,
    Float8,
    Bool,
    Text, // text, varchar, name-like varlena text
    Bpchar,
    Name,
    Char, // "char"
    Bytea,
    Uuid,
    Date,
    Timestamp,
    TimestampTz,
    Time,
    TimeTz,
    Interval,
    Jsonb,
    Inet,
    Enum,
    Array,
};

// How one type is encoded.
struct Codec {
    Kind kind = Kind::Int8;
    Oid type = 0; // base type, domains resolved
    // Enum: label by pg_enum oid, sorted by oid for binary search.
    std::vector<std::pair<Oid, std::string>> enum_labels;
    // Array: the element's codec and storage.
    std::unique_ptr<Codec> element;
    short elem_len = 0;
    bool elem_byval = false;
    char elem_align = 'i';
    // For rendering values as JSON (keys, row images): the output function.
    Oid output_fn = 0;
};

// The codec for `type`; throws pg::Error (0A000) naming `what` (e.g.
// `column "x" of table "t"`) for a type without a canonical encoding.
Codec make_codec(Oid type, const std::string &what);

// Type names pymigrate can hash, for the hint of that error.
const char *supported_types_hint();

struct PlannedColumn {
    std::string name;
    short attnum = 0; // in the relation the plan was made for
    Oid type = 0;     // declared type of the column
    Codec codec;
};

// A table's hashed columns: the key first (in key order), then the other
// chosen columns (in the order given, or table order by default).
struct TablePlan {
    Oid relid = 0;
    std::string name; // schema-qualified, quoted as needed, for messages
    char relkind = 'r';
    std::vector<PlannedColumn> key;
    std::vector<PlannedColumn> values;
    double estimated_rows = 0;
    long pages = 0;

    std::vector<std::string> key_names() const;
    std::vector<std::string> value_names() const;
};

// Resolves `columns` (nullopt: every column) and `key` (nullopt: the primary
// key) of `relid`, checking the caller's SELECT privilege and that no row
// level security would be bypassed. Errors name the table and column.
TablePlan plan_table(Oid relid, const std::optional<std::vector<std::string>> &columns,
                     const std::optional<std::vector<std::string>> &key);

// Attribute numbers of the plan's columns (key then values) in another
// relation with the same columns by name (a partition).
std::vector<short> attnums_in(const TablePlan &plan, Relation rel);

// Leaf relations to scan: the table itself, or a partitioned table's leaves.
std::vector<Oid> scan_targets(const TablePlan &plan);

} // namespace pymigrate::validate

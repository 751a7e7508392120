// The analyzer's model of a monolith: its tables (with what the API generator
// needs to know about each column) and its workload (queries and
// transactions). Every source (live database, DDL file, SQLite file,
// statement log) fills these; everything downstream reads only these.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pymigrate::analyzer
{

// What a column's type is for the API: JSON type, format, and Python type.
enum class TypeKind {
    SmallInt,
    Integer,
    BigInt,
    Numeric,
    Float,
    Text,
    Boolean,
    Uuid,
    Date,
    Timestamp,
    TimestampTz,
    Time,
    Interval,
    Json,
    Bytea,
    Inet,
    Enum,
    Other, // anything else: passed through as text
};

struct ColumnType {
    std::string sql; // as PostgreSQL prints it (format_type): "character varying(255)", "public.mood[]"
    TypeKind kind = TypeKind::Other;
    int array_dims = 0;
    std::optional<int> max_length; // varchar(n), char(n)
    bool fixed_length = false;     // char(n)
    std::optional<int> precision;  // numeric(p, s)
    std::optional<int> scale;
    std::vector<std::string> enum_values; // for Enum, and for CHECK (col IN (...))
};

// Bounds a CHECK constraint puts on one column (col >= 0, col BETWEEN 1 AND 5).
struct Bounds {
    std::optional<double> minimum, maximum;
    bool exclusive_minimum = false, exclusive_maximum = false;
};

struct Column {
    std::string name;
    ColumnType type;
    bool not_null = false;
    std::optional<std::string> default_expr;
    bool identity = false;  // GENERATED ... AS IDENTITY, serial, nextval() default
    bool generated = false; // GENERATED ALWAYS AS (expr) STORED
    Bounds bounds;
};

struct Key {
    std::string name;
    std::vector<std::string> columns;
};

struct Table {
    std::string schema = "public";
    std::string name;
    std::vector<Column> columns;
    std::optional<Key> primary_key;
    std::vector<Key> unique_keys;
    std::vector<std::string> checks; // CHECK expressions as written, for the service DDL
    // Statistics; -1 where the source has none (DDL files).
    int64_t rows = -1;
    int64_t bytes = -1;
    int64_t writes = -1; // inserts + updates + deletes since the statistics were reset

    // How the table is named everywhere in the analysis: "orders" for
    // public.orders, "billing.invoices" otherwise, quoted where a part needs it.
    std::string key() const;
    const Column *column(const std::string &name) const;
};

struct ForeignKey {
    std::string name;
    std::string table; // Table::key()
    std::vector<std::string> columns;
    std::string ref_table;
    std::vector<std::string> ref_columns;
};

struct Schema {
    std::vector<Table> tables; // sorted by key, so everything downstream is deterministic
    std::vector<ForeignKey> foreign_keys;

    const Table *find(const std::string &key) const;
    // Resolves a name as written in a query ("orders", "public.orders",
    // "Orders" quoted or not has already been folded by the parser).
    const Table *resolve(const std::string &schema, const std::string &name) const;
    void sort();
};

// One query shape (all statements with the same libpg_query fingerprint).
struct Query {
    std::string fingerprint;
    std::string text; // one example (normalized by pg_stat_statements, or the first seen)
    double calls = 0;
    std::vector<std::string> tables;  // every table it reads or writes (Table::key()), sorted
    std::vector<std::string> written; // the ones it writes (or locks FOR UPDATE)
};

// Transactions grouped by the set of tables they touch.
struct TransactionPattern {
    std::vector<std::string> written; // sorted
    std::vector<std::string> read;    // read but not written, sorted
    int64_t count = 0;
    std::string example; // the first statements of one such transaction
};

struct Workload {
    std::string query_source; // "pg_stat_statements", "statement log", or "none"
    std::vector<Query> queries;
    std::vector<TransactionPattern> transactions;
    int64_t statements_unparsed = 0; // statements libpg_query could not parse
};

// A source's result: the model plus what the user should know about it.
struct Model {
    std::string source; // "postgres: host=... dbname=shop", "ddl: schema.sql", "sqlite: app.db"
    Schema schema;
    Workload workload;
    std::vector<std::string> warnings;
};

// How a table name is quoted where PostgreSQL would need quotes.
std::string quote_ident_if_needed(const std::string &ident);
std::string table_key(const std::string &schema, const std::string &name);

} // namespace pymigrate::analyzer

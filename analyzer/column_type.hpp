// Column types from the name PostgreSQL uses internally (int4, varchar,
// timestamptz, a user enum), as the catalog, a DDL file and SQLite give them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "analyzer/model.hpp"

namespace pymigrate::analyzer
{

// Enum types by name ("mood" and "public.mood" both), with their labels.
using EnumTypes = std::map<std::string, std::vector<std::string>>;

// `name` is the type's internal name, optionally schema-qualified
// ("pg_catalog.varchar", "int4", "public.mood"); `typmods` as written
// (varchar(255) -> {255}, numeric(12, 2) -> {12, 2}).
ColumnType column_type(const std::string &name, const std::vector<int> &typmods, int array_dims,
                       const EnumTypes &enums);

// True for serial, bigserial, smallserial (and serial4/8/2).
bool is_serial(const std::string &name);

// The internal name for a SQLite declared type ("VARCHAR(20)" -> varchar {20},
// "INTEGER" -> int8, "DATETIME" -> timestamp), by SQLite's affinity rules
// where the name says nothing more precise.
ColumnType sqlite_column_type(const std::string &declared);

} // namespace pymigrate::analyzer

// Checks of a subscription's options and per-table options against the
// catalogs (create_ and alter_subscription, sql_api.cpp): node names, the
// custom resolver, columns named by column_priority, and the mapping of
// each table against the provider's table (unknown columns, incompatible
// types, a key that is not mapped). Everything is checked before anything
// is stored; errors name the table, the column and what to change.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pg/remote.hpp"
#include "pg/spi.hpp"
#include "sync/catalog.hpp"
#include "sync/options.hpp"

namespace pymigrate::sync {

using TableKey = std::pair<std::string, std::string>; // local schema, table

// `table_options` (a JSON object keyed by local table name): each entry's
// JSON, keyed by the resolved local table; every table named must be in
// `tables`.
std::map<TableKey, std::string> split_table_options(pg::Spi &spi, const std::string &json,
                                                    const std::vector<SubscribedTable> &tables);

// The same, parsed.
std::map<TableKey, TableOptions> parse_table_options_arg(pg::Spi &spi, const std::string &json,
                                                         const std::vector<SubscribedTable> &tables);

// Sets t.remote_schema / t.remote_table from o.remote_table (unqualified:
// the local table's schema), else the local names.
void set_remote_name(pg::Spi &spi, SubscribedTable &t, const TableOptions &o);

// Node name defaults (local: this database's name; remote: the provider's
// database name), then the checks against this database: resolver (stored
// as its regprocedure), column_priority columns, node names of priority
// lists. `tables` carry their parsed options. Returns the normalized
// options and fills each table's stored JSON (t.options).
SubscriptionOptions check_options(pg::Spi &spi, SubscriptionOptions o, const std::string &provider_dsn,
                                  std::vector<SubscribedTable> &tables, std::map<TableKey, TableOptions> &table_options);

// The mapping of `t` against the provider's table (over `conn`) and the
// local one.
void check_mapping_remote(pg::RemoteConnection &conn, pg::Spi &spi, const SubscribedTable &t, const TableOptions &o);

} // namespace pymigrate::sync

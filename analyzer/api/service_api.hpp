// One service's API, decided once from the model and used by every writer
// (OpenAPI document, FastAPI project, service DDL, tests): which tables get
// endpoints under which names, their key, and what each column accepts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "analyzer/model.hpp"

namespace pymigrate::analyzer::api
{

struct ApiColumn {
    const Column *column;
    std::string field;      // Python identifier for the pydantic field (alias = column name when different)
    std::string path_param; // name in a URL template when the column is part of the key
    bool read_only = false; // identity, serial, generated, or a key with a generated default
    bool required = false;  // NOT NULL, no default, not read-only: a create must give it
    bool in_key = false;
};

// A foreign key inside the service (the service database keeps it).
struct ApiReference {
    std::vector<std::string> columns;
    std::string ref_table; // Table::key()
    std::vector<std::string> ref_columns;
};

struct ApiTable {
    const Table *table;
    std::string module;           // Python module name (orders, order_items, user_)
    std::string path;             // URL segment (orders, order_items)
    std::string schema_name;      // OpenAPI component name (Orders, OrderItems)
    std::string constant;         // Python constant of its spec (ORDERS)
    std::vector<std::string> key; // primary key, or a NOT NULL unique key when there is none
    std::string key_kind;         // "primary key" or "unique key <name>"
    std::vector<ApiColumn> columns;
    std::vector<ApiReference> references; // to tables of the same service
    const ApiColumn *api_column(const std::string &name) const;
};

struct SkippedTable {
    std::string table;
    std::string reason;
};

struct ServiceApi {
    std::string service; // the service's name
    std::string title;   // human title ("order_service API")
    const Model *model = nullptr;
    std::vector<ApiTable> tables;
    std::vector<SkippedTable> skipped;
    std::vector<std::string> cross_service_references; // foreign keys leaving the service, as text
    const ApiTable *find(const std::string &table_key) const;
};

// Throws std::invalid_argument for a table not in the model or an empty list.
ServiceApi build_service_api(const Model &model, const std::vector<std::string> &tables, const std::string &service);

// A Python identifier for any name: lowercase snake case, never a keyword,
// never starting with a digit ("Order Items" -> order_items, class -> class_).
std::string python_identifier(const std::string &name);
// PascalCase for schema and class names ("order_items" -> OrderItems).
std::string pascal_case(const std::string &identifier);

} // namespace pymigrate::analyzer::api

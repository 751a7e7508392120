#include "analyzer/api/service_api.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

namespace pymigrate::analyzer::api
{
namespace
{

bool
generated_default(const Column &c)
{
    if (!c.default_expr)
        return false;
    const std::string &d = *c.default_expr;
    return d.rfind("nextval(", 0) == 0 || d.find("gen_random_uuid()") != std::string::npos ||
           d.find("uuid_generate_v4()") != std::string::npos;
}

std::string
unique_name(std::string base, std::set<std::string> &used)
{
    std::string n = base;
    for (int i = 2; used.count(n); ++i)
        n = base + "_" + std::to_string(i);
    used.insert(n);
    return n;
}

std::string
upper(std::string s)
{
    for (auto &c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

} // namespace

std::string
python_identifier(const std::string &name)
{
    static const std::set<std::string> reserved = {
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
        "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
        // Names the generated modules use themselves, and pydantic's BaseModel attributes.
        "json", "dict", "copy", "fields", "schema", "construct", "validate", "sql", "self", "cls", "request", "client",
        "body", "row", "table", "key"};
    std::string id;
    for (size_t i = 0; i < name.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(name[i]);
        if (std::isalnum(c)) {
            // CamelCase -> camel_case
            if (std::isupper(c) && !id.empty() && id.back() != '_' && i > 0 &&
                std::islower(static_cast<unsigned char>(name[i - 1])))
                id += '_';
            id += static_cast<char>(std::tolower(c));
        } else if (!id.empty() && id.back() != '_') {
            id += '_';
        }
    }
    while (!id.empty() && id.back() == '_')
        id.pop_back();
    if (id.empty())
        id = "col";
    if (std::isdigit(static_cast<unsigned char>(id[0])))
        id = "n_" + id;
    if (reserved.count(id) || id.rfind("__", 0) == 0)
        id += "_";
    return id;
}

std::string
pascal_case(const std::string &identifier)
{
    std::string out;
    bool up = true;
    for (char c : identifier) {
        if (c == '_') {
            up = true;
            continue;
        }
        out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
        up = false;
    }
    return out.empty() ? "Table" : out;
}

const ApiColumn *
ApiTable::api_column(const std::string &name) const
{
    for (const auto &c : columns)
        if (c.column->name == name)
            return &c;
    return nullptr;
}

const ApiTable *
ServiceApi::find(const std::string &table_key) const
{
    for (const auto &t : tables)
        if (t.table->key() == table_key)
            return &t;
    return nullptr;
}

ServiceApi
build_service_api(const Model &model, const std::vector<std::string> &tables, const std::string &service)
{
    if (tables.empty())
        throw std::invalid_argument("the service has no tables");
    ServiceApi api;
    api.service = service;
    api.title = service + " API";
    api.model = &model;
    std::set<std::string> in_service(tables.begin(), tables.end());
    std::set<std::string> modules, paths;
    std::vector<std::string> sorted(tables.begin(), tables.end());
    std::sort(sorted.begin(), sorted.end());
    for (const auto &key : sorted) {
        const Table *t = model.schema.find(key);
        if (!t)
            throw std::invalid_argument("table \"" + key + "\" is not in the model");
        ApiTable at;
        at.table = t;
        if (t->primary_key) {
            at.key = t->primary_key->columns;
            at.key_kind = "primary key";
        } else {
            // Without a primary key, a unique key of NOT NULL columns identifies rows as well.
            for (const auto &u : t->unique_keys) {
                bool all_not_null = std::all_of(u.columns.begin(), u.columns.end(), [&](const std::string &c) {
                    const Column *col = t->column(c);
                    return col && col->not_null;
                });
                if (all_not_null) {
                    at.key = u.columns;
                    at.key_kind = "unique key " + u.name;
                    break;
                }
            }
        }
        if (at.key.empty()) {
            api.skipped.push_back({key, "no primary key and no unique key of NOT NULL columns: rows cannot be "
                                        "addressed (add a primary key to generate its endpoints)"});
            continue;
        }
        std::string base = python_identifier(t->schema == "public" ? t->name : t->schema + "_" + t->name);
        at.module = unique_name(base, modules);
        at.path = unique_name(base, paths);
        at.schema_name = pascal_case(at.module);
        at.constant = upper(at.module);
        if (at.constant.back() == '_')
            at.constant += "TABLE";
        std::set<std::string> fields;
        for (const auto &c : t->columns) {
            ApiColumn ac;
            ac.column = &c;
            ac.field = unique_name(python_identifier(c.name), fields);
            ac.in_key = std::find(at.key.begin(), at.key.end(), c.name) != at.key.end();
            ac.path_param = ac.field;
            ac.read_only = c.identity || c.generated || (ac.in_key && generated_default(c));
            ac.required = c.not_null && !c.default_expr && !ac.read_only;
            at.columns.push_back(ac);
        }
        api.tables.push_back(std::move(at));
    }
    for (const auto &fk : model.schema.foreign_keys) {
        bool from = in_service.count(fk.table), to = in_service.count(fk.ref_table);
        if (from && to) {
            for (auto &at : api.tables)
                if (at.table->key() == fk.table)
                    at.references.push_back({fk.columns, fk.ref_table, fk.ref_columns});
        } else if (from || to) {
            std::string cols, refs;
            for (const auto &c : fk.columns)
                cols += (cols.empty() ? "" : ", ") + c;
            for (const auto &c : fk.ref_columns)
                refs += (refs.empty() ? "" : ", ") + c;
            api.cross_service_references.push_back(fk.table + " (" + cols + ") -> " + fk.ref_table + " (" + refs + ")");
        }
    }
    return api;
}

} // namespace pymigrate::analyzer::api

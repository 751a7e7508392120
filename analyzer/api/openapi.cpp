#include "analyzer/api/openapi.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>

namespace pymigrate::analyzer::api
{
namespace
{

using oj = nlohmann::ordered_json;

oj
ref(const std::string &where, const std::string &name)
{
    return {{"$ref", "#/components/" + where + "/" + name}};
}

oj
scalar_schema(const Column &c)
{
    const ColumnType &t = c.type;
    oj s;
    switch (t.kind) {
    case TypeKind::SmallInt:
        s = {{"type", "integer"}, {"format", "int32"}, {"minimum", -32768}, {"maximum", 32767}};
        break;
    case TypeKind::Integer:
        s = {{"type", "integer"}, {"format", "int32"}};
        break;
    case TypeKind::BigInt:
        s = {{"type", "integer"}, {"format", "int64"}};
        break;
    case TypeKind::Numeric:
        s = {{"type", "number"}};
        if (t.precision) {
            int scale = t.scale.value_or(0);
            // numeric(p, s): |value| < 10^(p-s), in steps of 10^-s.
            double limit = std::pow(10.0, *t.precision - scale);
            s["minimum"] = -limit;
            s["exclusiveMinimum"] = true;
            s["maximum"] = limit;
            s["exclusiveMaximum"] = true;
            if (scale > 0)
                s["multipleOf"] = std::pow(10.0, -scale);
            else
                s["multipleOf"] = 1;
        }
        break;
    case TypeKind::Float:
        s = {{"type", "number"}, {"format", "double"}};
        break;
    case TypeKind::Boolean:
        s = {{"type", "boolean"}};
        break;
    case TypeKind::Uuid:
        s = {{"type", "string"}, {"format", "uuid"}};
        break;
    case TypeKind::Date:
        s = {{"type", "string"}, {"format", "date"}};
        break;
    case TypeKind::Timestamp:
    case TypeKind::TimestampTz:
        s = {{"type", "string"}, {"format", "date-time"}};
        break;
    case TypeKind::Time:
        s = {{"type", "string"}, {"format", "time"}};
        break;
    case TypeKind::Bytea:
        s = {{"type", "string"}, {"format", "byte"}};
        break;
    case TypeKind::Json:
        s = oj::object(); // any JSON value
        break;
    default:
        s = {{"type", "string"}};
        break;
    }
    if (t.max_length && t.kind == TypeKind::Text)
        s["maxLength"] = *t.max_length;
    if (!t.enum_values.empty())
        s["enum"] = t.enum_values;
    const Bounds &b = c.bounds;
    if (b.minimum) {
        s["minimum"] = *b.minimum;
        if (b.exclusive_minimum)
            s["exclusiveMinimum"] = true;
        else
            s.erase("exclusiveMinimum");
    }
    if (b.maximum) {
        s["maximum"] = *b.maximum;
        if (b.exclusive_maximum)
            s["exclusiveMaximum"] = true;
        else
            s.erase("exclusiveMaximum");
    }
    return s;
}

oj
error_response(const char *description)
{
    return {{"description", description}, {"content", {{"application/json", {{"schema", ref("schemas", "Error")}}}}}};
}

oj
json_body(const oj &schema)
{
    return {{"application/json", {{"schema", schema}}}};
}

std::string
column_list(const ApiTable &t)
{
    std::string s;
    for (const auto &c : t.columns)
        s += (s.empty() ? "" : ", ") + c.column->name;
    return s;
}

bool
is_control(const std::string &name)
{
    for (const char *c : kControlParameters)
        if (name == c)
            return true;
    return false;
}

} // namespace

oj
column_schema(const ApiColumn &c)
{
    oj s;
    if (c.column->type.array_dims) {
        s = {{"type", "array"}, {"items", scalar_schema(*c.column)}};
    } else {
        s = scalar_schema(*c.column);
    }
    std::string desc = "PostgreSQL type " + c.column->type.sql;
    if (c.in_key)
        desc += "; part of the key";
    if (c.column->default_expr && !c.read_only)
        desc += "; default " + *c.column->default_expr;
    s["description"] = desc;
    if (!c.column->not_null && c.column->type.kind == TypeKind::Json && !c.column->type.array_dims) {
        s["description"] = desc + "; any JSON value, or null"; // OpenAPI 3.0 allows nullable only beside a type
    } else if (!c.column->not_null) {
        s["nullable"] = true;
        if (s.contains("enum"))
            s["enum"].push_back(nullptr); // OpenAPI 3.0.3: null must be listed for a nullable enum
    }
    if (c.read_only)
        s["readOnly"] = true;
    return s;
}

oj
openapi_document(const ServiceApi &api)
{
    oj paths = oj::object(), schemas = oj::object(), tags = oj::array();

    schemas["Error"] = {
        {"type", "object"},
        {"description",
         "Every error: a stable code, a message saying what was wrong, and where it helps details and a hint"},
        {"required", {"code", "message"}},
        {"properties",
         {{"code", {{"type", "string"}, {"example", "invalid_filter"}}},
          {"message", {{"type", "string"}}},
          {"details", {{"description", "what was wrong, per field where there are several (any JSON value, or null)"}}},
          {"hint", {{"type", "string"}, {"nullable", true}}}}}};

    for (const auto &t : api.tables) {
        oj row_props = oj::object(), create_props = oj::object(), patch_props = oj::object();
        oj row_required = oj::array(), create_required = oj::array();
        for (const auto &c : t.columns) {
            oj s = column_schema(c);
            row_props[c.column->name] = s;
            row_required.push_back(c.column->name);
            if (c.read_only)
                continue;
            s.erase("readOnly");
            create_props[c.column->name] = s;
            if (c.required)
                create_required.push_back(c.column->name);
            if (!c.in_key)
                patch_props[c.column->name] = s;
        }
        const std::string &n = t.schema_name;
        schemas[n] = {{"type", "object"},
                      {"description", "A row of " + t.table->key() + " (" + t.key_kind + ": " + t.key[0] +
                                          (t.key.size() > 1 ? ", ..." : "") + ")"},
                      {"required", row_required},
                      {"properties", row_props}};
        schemas[n + "Create"] = {
            {"type", "object"},
            {"description", "A new row of " + t.table->key() + ": columns left out take their default"},
            {"additionalProperties", false},
            {"properties", create_props}};
        if (!create_required.empty())
            schemas[n + "Create"]["required"] = create_required;
        schemas[n + "Patch"] = {{"type", "object"},
                                {"description", "Columns of " + t.table->key() + " to change (the key cannot change)"},
                                {"additionalProperties", false},
                                {"minProperties", 1},
                                {"properties", patch_props}};
        schemas[n + "Page"] = {
            {"type", "object"},
            {"required", {"items", "limit", "next_cursor"}},
            {"properties",
             {{"items", {{"type", "array"}, {"items", ref("schemas", n)}}},
              {"limit", {{"type", "integer"}}},
              {"offset", {{"type", "integer"}}},
              {"next_cursor",
               {{"type", "string"},
                {"nullable", true},
                {"description", "Pass as `cursor` for the next page (keyset pagination); null on the last page"}}}}}};

        tags.push_back({{"name", t.module}, {"description", "Table " + t.table->key()}});

        oj list_params = oj::array();
        list_params.push_back(ref("parameters", "limit"));
        list_params.push_back(ref("parameters", "offset"));
        list_params.push_back(ref("parameters", "cursor"));
        list_params.push_back({{"name", "order"},
                               {"in", "query"},
                               {"required", false},
                               {"description", "Sort order, PostgREST style: `column.asc|desc[.nullsfirst|nullslast]`, "
                                               "comma-separated. Columns: " +
                                                   column_list(t) + ". Default: the key ascending"},
                               {"schema", {{"type", "string"}, {"example", t.key[0] + ".asc"}}}});
        for (const auto &c : t.columns) {
            if (is_control(c.column->name) || c.column->type.kind == TypeKind::Json)
                continue;
            list_params.push_back(
                {{"name", c.column->name},
                 {"in", "query"},
                 {"required", false},
                 {"description", "Filter on " + c.column->name + " (" + c.column->type.sql +
                                     "): `operator.value` with eq, neq, gt, gte, lt, lte, like, ilike (`*` is the "
                                     "wildcard), in (`in.(a,b)`), is (`is.null`, `is.true`, `is.false`); `not.` before "
                                     "the operator negates"},
                 {"schema",
                  {{"type", "string"}, {"pattern", "^(not\\.)?(eq|neq|gt|gte|lt|lte|like|ilike|in|is)\\..*$"}}}});
        }
        std::string item_path = "/" + t.path;
        oj key_params = oj::array();
        for (const auto &k : t.key) {
            const ApiColumn *c = t.api_column(k);
            item_path += "/{" + c->path_param + "}";
            oj s = column_schema(*c);
            s.erase("readOnly");
            s.erase("nullable");
            key_params.push_back({{"name", c->path_param},
                                  {"in", "path"},
                                  {"required", true},
                                  {"description", "Column " + k + " of the key"},
                                  {"schema", s}});
        }
        const std::string tag = t.module;
        oj common_errors = {{"400", ref("responses", "BadRequest")}, {"503", ref("responses", "Unavailable")}};
        oj list_responses = {
            {"200", {{"description", "A page of rows"}, {"content", json_body(ref("schemas", n + "Page"))}}}};
        list_responses.update(common_errors);
        paths["/" + t.path] = {
            {"get",
             {{"tags", {tag}},
              {"operationId", "list_" + t.module},
              {"summary", "List rows of " + t.table->key()},
              {"description", "Filters, order, limit / offset or a keyset cursor, as in PostgREST"},
              {"parameters", list_params},
              {"responses", list_responses}}},
            {"post",
             {{"tags", {tag}},
              {"operationId", "create_" + t.module},
              {"summary", "Create a row of " + t.table->key()},
              {"requestBody", {{"required", true}, {"content", json_body(ref("schemas", n + "Create"))}}},
              {"responses",
               {{"201", {{"description", "The row as stored"}, {"content", json_body(ref("schemas", n))}}},
                {"400", ref("responses", "BadRequest")},
                {"409", ref("responses", "Conflict")},
                {"422", ref("responses", "Invalid")},
                {"503", ref("responses", "Unavailable")}}}}}};
        oj not_found = {{"400", ref("responses", "BadRequest")},
                        {"404", ref("responses", "NotFound")},
                        {"503", ref("responses", "Unavailable")}};
        oj get_responses = {{"200", {{"description", "The row"}, {"content", json_body(ref("schemas", n))}}}};
        get_responses.update(not_found);
        oj patch_responses = {
            {"200", {{"description", "The row as stored"}, {"content", json_body(ref("schemas", n))}}}};
        patch_responses.update(not_found);
        patch_responses["409"] = ref("responses", "Conflict");
        patch_responses["422"] = ref("responses", "Invalid");
        oj delete_responses = {{"204", {{"description", "Deleted"}}}};
        delete_responses.update(not_found);
        delete_responses["409"] = ref("responses", "Conflict");
        paths[item_path] = {
            {"parameters", key_params},
            {"get",
             {{"tags", {tag}},
              {"operationId", "get_" + t.module},
              {"summary", "Get one row of " + t.table->key() + " by its " + t.key_kind},
              {"responses", get_responses}}},
            {"patch",
             {{"tags", {tag}},
              {"operationId", "update_" + t.module},
              {"summary", "Change columns of one row of " + t.table->key()},
              {"requestBody", {{"required", true}, {"content", json_body(ref("schemas", n + "Patch"))}}},
              {"responses", patch_responses}}},
            {"delete",
             {{"tags", {tag}},
              {"operationId", "delete_" + t.module},
              {"summary", "Delete one row of " + t.table->key()},
              {"responses", delete_responses}}}};
    }

    std::string description = "Generated by pymigrate from the tables of service " + api.service + ".";
    if (!api.skipped.empty()) {
        description += "\n\nTables without endpoints:";
        for (const auto &s : api.skipped)
            description += "\n- " + s.table + ": " + s.reason;
    }
    if (!api.cross_service_references.empty()) {
        description += "\n\nForeign keys to or from other services (not enforced by this service's database):";
        for (const auto &r : api.cross_service_references)
            description += "\n- " + r;
    }
    oj doc = {
        {"openapi", "3.0.3"},
        {"info", {{"title", api.title}, {"version", "1.0.0"}, {"description", description}}},
        {"servers", {{{"url", "/"}, {"description", "the generated FastAPI service (uvicorn app.main:app)"}}}},
        {"security", oj::array()},
        {"tags", tags},
        {"paths", paths},
        {"components",
         {{"schemas", schemas},
          {"parameters",
           {{"limit",
             {{"name", "limit"},
              {"in", "query"},
              {"required", false},
              {"description", "Rows per page (the service's DEFAULT_LIMIT when left out)"},
              {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}}}}},
            {"offset",
             {{"name", "offset"},
              {"in", "query"},
              {"required", false},
              {"description", "Rows to skip (not with cursor)"},
              {"schema", {{"type", "integer"}, {"minimum", 0}}}}},
            {"cursor",
             {{"name", "cursor"},
              {"in", "query"},
              {"required", false},
              {"description", "The next_cursor of the previous page: keyset pagination, stable under inserts"},
              {"schema", {{"type", "string"}}}}}}},
          {"responses",
           {{"BadRequest", error_response("Bad filter, order, pagination or key value (unknown column, wrong type, "
                                          "unknown operator)")},
            {"NotFound", error_response("No row with this key")},
            {"Conflict", error_response("A unique or foreign key constraint rejected the change")},
            {"Invalid", error_response("The body does not match the schema (wrong type, too long, missing or unknown "
                                       "field) or a CHECK / NOT NULL constraint rejected it")},
            {"Unavailable", error_response("The database cannot be reached or timed out")}}}}}};
    return doc;
}

namespace
{

void
emit(YAML::Emitter &out, const oj &v)
{
    if (v.is_object()) {
        out << YAML::BeginMap;
        for (auto it = v.begin(); it != v.end(); ++it) {
            out << YAML::Key << YAML::DoubleQuoted << it.key();
            out << YAML::Value;
            emit(out, it.value());
        }
        out << YAML::EndMap;
    } else if (v.is_array()) {
        out << YAML::BeginSeq;
        for (const auto &e : v)
            emit(out, e);
        out << YAML::EndSeq;
    } else if (v.is_string()) {
        out << YAML::DoubleQuoted << v.get<std::string>();
    } else if (v.is_boolean()) {
        out << YAML::TrueFalseBool << v.get<bool>();
    } else if (v.is_null()) {
        out << YAML::Null;
    } else if (v.is_number_integer()) {
        out << v.get<int64_t>();
    } else if (v.is_number_unsigned()) {
        out << v.get<uint64_t>();
    } else {
        // The shortest text that reads back as the same double.
        out << v.dump();
    }
}

} // namespace

std::string
to_yaml(const oj &doc)
{
    YAML::Emitter out;
    out.SetIndent(2);
    emit(out, doc);
    return std::string(out.c_str()) + "\n";
}

} // namespace pymigrate::analyzer::api

#include "analyzer/column_type.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

namespace pymigrate::analyzer
{
namespace
{

struct Builtin {
    const char *internal;
    const char *sql; // format_type's spelling
    TypeKind kind;
};

constexpr Builtin kBuiltins[] = {
    {"int2", "smallint", TypeKind::SmallInt},
    {"int4", "integer", TypeKind::Integer},
    {"int8", "bigint", TypeKind::BigInt},
    {"numeric", "numeric", TypeKind::Numeric},
    {"money", "money", TypeKind::Other},
    {"float4", "real", TypeKind::Float},
    {"float8", "double precision", TypeKind::Float},
    {"text", "text", TypeKind::Text},
    {"varchar", "character varying", TypeKind::Text},
    {"bpchar", "character", TypeKind::Text},
    {"name", "name", TypeKind::Text},
    {"citext", "citext", TypeKind::Text},
    {"bool", "boolean", TypeKind::Boolean},
    {"uuid", "uuid", TypeKind::Uuid},
    {"date", "date", TypeKind::Date},
    {"timestamp", "timestamp without time zone", TypeKind::Timestamp},
    {"timestamptz", "timestamp with time zone", TypeKind::TimestampTz},
    {"time", "time without time zone", TypeKind::Time},
    {"timetz", "time with time zone", TypeKind::Time},
    {"interval", "interval", TypeKind::Interval},
    {"json", "json", TypeKind::Json},
    {"jsonb", "jsonb", TypeKind::Json},
    {"bytea", "bytea", TypeKind::Bytea},
    {"inet", "inet", TypeKind::Inet},
    {"cidr", "cidr", TypeKind::Inet},
};

std::string
lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

} // namespace

bool
is_serial(const std::string &name)
{
    static const char *serials[] = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"};
    std::string n = lower(name);
    return std::any_of(std::begin(serials), std::end(serials), [&](const char *s) { return n == s; });
}

ColumnType
column_type(const std::string &name, const std::vector<int> &typmods, int array_dims, const EnumTypes &enums)
{
    ColumnType t;
    t.array_dims = array_dims;
    std::string base = name;
    if (base.rfind("pg_catalog.", 0) == 0)
        base = base.substr(11);
    if (base == "serial" || base == "serial4")
        base = "int4";
    else if (base == "bigserial" || base == "serial8")
        base = "int8";
    else if (base == "smallserial" || base == "serial2")
        base = "int2";

    const Builtin *builtin = nullptr;
    for (const auto &b : kBuiltins)
        if (base == b.internal)
            builtin = &b;
    if (builtin) {
        t.kind = builtin->kind;
        t.sql = builtin->sql;
        if ((base == "varchar" || base == "bpchar") && !typmods.empty()) {
            t.max_length = typmods[0];
            t.fixed_length = base == "bpchar";
            t.sql += "(" + std::to_string(typmods[0]) + ")";
        } else if (base == "bpchar") {
            t.max_length = 1; // char without a length is char(1)
            t.fixed_length = true;
            t.sql += "(1)";
        } else if (base == "numeric" && !typmods.empty()) {
            t.precision = typmods[0];
            t.scale = typmods.size() > 1 ? typmods[1] : 0;
            t.sql += "(" + std::to_string(*t.precision) + "," + std::to_string(*t.scale) + ")";
        } else if ((t.kind == TypeKind::Timestamp || t.kind == TypeKind::TimestampTz || t.kind == TypeKind::Time) &&
                   !typmods.empty()) {
            // timestamp(3) with time zone: the precision goes after the word.
            auto pos = t.sql.find(' ');
            t.sql = t.sql.substr(0, pos) + "(" + std::to_string(typmods[0]) + ")" + t.sql.substr(pos);
        }
    } else {
        auto it = enums.find(base);
        if (it == enums.end() && base.find('.') == std::string::npos)
            it = enums.find("public." + base);
        if (it != enums.end()) {
            t.kind = TypeKind::Enum;
            t.enum_values = it->second;
        }
        // User types keep their (already quoted where needed) qualified name.
        t.sql = base;
    }
    for (int i = 0; i < array_dims; ++i)
        t.sql += "[]";
    return t;
}

ColumnType
sqlite_column_type(const std::string &declared)
{
    std::string d = lower(declared);
    std::smatch m;
    std::vector<int> mods;
    static const std::regex mods_re(R"(\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))");
    if (std::regex_search(d, m, mods_re)) {
        mods.push_back(std::stoi(m[1]));
        if (m[2].matched)
            mods.push_back(std::stoi(m[2]));
    }
    auto has = [&](const char *w) { return d.find(w) != std::string::npos; };
    std::string base;
    if (has("bigint") || d == "integer" || d == "int" || has("int8"))
        base = "int8"; // SQLite integers are 64-bit whatever their declared name
    else if (has("smallint") || has("tinyint"))
        base = "int2";
    else if (has("int"))
        base = "int8";
    else if (has("bool"))
        base = "bool";
    else if (has("uuid"))
        base = "uuid";
    else if (has("varchar") || has("varying") || has("nvarchar"))
        base = "varchar";
    else if (has("char") && !mods.empty())
        base = "bpchar";
    else if (has("char") || has("clob") || has("text"))
        base = "text";
    else if (has("blob") || d.empty())
        base = d.empty() ? "text" : "bytea";
    else if (has("real") || has("floa") || has("doub"))
        base = "float8";
    else if (has("datetime") || has("timestamp"))
        base = "timestamp";
    else if (has("date"))
        base = "date";
    else if (has("time"))
        base = "time";
    else if (has("json"))
        base = "jsonb";
    else if (has("dec") || has("num"))
        base = "numeric";
    else
        base = "text";
    if (base != "varchar" && base != "bpchar" && base != "numeric")
        mods.clear();
    return column_type(base, mods, 0, {});
}

} // namespace pymigrate::analyzer

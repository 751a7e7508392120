#include "analyzer/api/python_code.hpp"

#include <cmath>
#include <cstdio>
#include <regex>

namespace pymigrate::analyzer::api
{
namespace
{

std::string
number(double v)
{
    char buf[64];
    if (v == std::floor(v) && std::fabs(v) < 1e15)
        snprintf(buf, sizeof buf, "%.0f", v);
    else
        snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

struct Range {
    double lo, hi;
    bool lo_exclusive = false, hi_exclusive = false;
};

// The integer range of a column's type, narrowed by its CHECK bounds.
Range
int_range(const Column &c)
{
    Range r{-2147483648.0, 2147483647.0};
    if (c.type.kind == TypeKind::SmallInt)
        r = {-32768, 32767};
    else if (c.type.kind == TypeKind::BigInt)
        r = {-9223372036854775807.0, 9223372036854775807.0};
    if (c.bounds.minimum) {
        r.lo = c.bounds.exclusive_minimum ? std::floor(*c.bounds.minimum) + 1 : std::ceil(*c.bounds.minimum);
    }
    if (c.bounds.maximum) {
        r.hi = c.bounds.exclusive_maximum ? std::ceil(*c.bounds.maximum) - 1 : std::floor(*c.bounds.maximum);
    }
    return r;
}

} // namespace

std::string
py_str(const std::string &s)
{
    std::string o = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '\\':
            o += "\\\\";
            break;
        case '"':
            o += "\\\"";
            break;
        case '\n':
            o += "\\n";
            break;
        case '\r':
            o += "\\r";
            break;
        case '\t':
            o += "\\t";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char buf[8];
                snprintf(buf, sizeof buf, "\\x%02x", c);
                o += buf;
            } else {
                o += static_cast<char>(c);
            }
        }
    }
    return o + "\"";
}

std::string
py_tuple(const std::vector<std::string> &items)
{
    std::string o = "(";
    for (const auto &i : items)
        o += py_str(i) + ", ";
    if (items.size() > 1)
        o.resize(o.size() - 2);
    else if (items.size() == 1)
        o.resize(o.size() - 1);
    return o + ")";
}

std::string
py_kind(const Column &c)
{
    switch (c.type.kind) {
    case TypeKind::SmallInt:
    case TypeKind::Integer:
    case TypeKind::BigInt:
        return "int";
    case TypeKind::Numeric:
        return "number";
    case TypeKind::Float:
        return "float";
    case TypeKind::Text:
        return "string";
    case TypeKind::Boolean:
        return "bool";
    case TypeKind::Uuid:
        return "uuid";
    case TypeKind::Date:
        return "date";
    case TypeKind::Timestamp:
    case TypeKind::TimestampTz:
        return "datetime";
    case TypeKind::Time:
        return "time";
    case TypeKind::Json:
        return "json";
    case TypeKind::Bytea:
        return "bytes";
    case TypeKind::Enum:
        return "enum";
    default:
        return "other";
    }
}

std::string
cast_type(const ColumnType &t)
{
    std::string s = t.sql;
    std::string suffix;
    while (s.size() > 2 && s.compare(s.size() - 2, 2, "[]") == 0) {
        suffix += "[]";
        s.resize(s.size() - 2);
    }
    static const std::regex typmod(R"(\(\d+(,\s*-?\d+)?\))");
    s = std::regex_replace(s, typmod, "");
    if (s == "character")
        s = "bpchar"; // bare "character" would mean char(1)
    return s + suffix;
}

bool
text_output(const Column &c)
{
    switch (c.type.kind) {
    case TypeKind::Inet:
    case TypeKind::Interval:
    case TypeKind::Other:
        return true;
    case TypeKind::Enum:
        return c.type.array_dims > 0;
    default:
        return false;
    }
}

std::string
pydantic_type(const Column &c)
{
    std::string t;
    std::string bounds;
    auto bound = [&](const char *incl, const char *excl, double v, bool exclusive) {
        bounds += std::string(", ") + (exclusive ? excl : incl) + "=" + number(v);
    };
    switch (c.type.kind) {
    case TypeKind::SmallInt:
    case TypeKind::Integer:
    case TypeKind::BigInt: {
        Range r = int_range(c);
        // bigint's limits are not doubles: spell them out.
        std::string lo = c.type.kind == TypeKind::BigInt && !c.bounds.minimum ? "-9223372036854775808" : number(r.lo);
        std::string hi = c.type.kind == TypeKind::BigInt && !c.bounds.maximum ? "9223372036854775807" : number(r.hi);
        t = "conint(strict=True, ge=" + lo + ", le=" + hi + ")";
        break;
    }
    case TypeKind::Numeric:
        if (c.bounds.minimum)
            bound("ge", "gt", *c.bounds.minimum, c.bounds.exclusive_minimum);
        if (c.bounds.maximum)
            bound("le", "lt", *c.bounds.maximum, c.bounds.exclusive_maximum);
        if (c.type.precision)
            t = "condecimal(max_digits=" + std::to_string(*c.type.precision) +
                ", decimal_places=" + std::to_string(c.type.scale.value_or(0)) + bounds + ")";
        else
            t = bounds.empty() ? "decimal.Decimal" : "condecimal(" + bounds.substr(2) + ")";
        break;
    case TypeKind::Float:
        if (c.bounds.minimum)
            bound("ge", "gt", *c.bounds.minimum, c.bounds.exclusive_minimum);
        if (c.bounds.maximum)
            bound("le", "lt", *c.bounds.maximum, c.bounds.exclusive_maximum);
        t = "confloat(strict=False" + bounds + ")";
        break;
    case TypeKind::Text:
        if (!c.type.enum_values.empty())
            t = "Literal[" + py_tuple(c.type.enum_values).substr(1, std::string::npos);
        else if (c.type.max_length)
            t = "constr(strict=True, max_length=" + std::to_string(*c.type.max_length) + ")";
        else
            t = "StrictStr";
        if (t.rfind("Literal[", 0) == 0) {
            t.back() = ']';
        }
        break;
    case TypeKind::Enum:
        t = "Literal[" + py_tuple(c.type.enum_values).substr(1);
        t.back() = ']';
        break;
    case TypeKind::Boolean:
        t = "StrictBool";
        break;
    case TypeKind::Uuid:
        t = "uuid.UUID";
        break;
    case TypeKind::Date:
        t = "datetime.date";
        break;
    case TypeKind::Timestamp:
    case TypeKind::TimestampTz:
        t = "datetime.datetime";
        break;
    case TypeKind::Time:
        t = "datetime.time";
        break;
    case TypeKind::Json:
        t = "Any";
        break;
    case TypeKind::Bytea:
        t = "Base64Str";
        break;
    default:
        t = "StrictStr";
        break;
    }
    for (int i = 0; i < c.type.array_dims; ++i)
        t = "List[Optional[" + t + "]]";
    return t;
}

std::optional<std::string>
sample_expression(const Column &c)
{
    if (c.type.array_dims)
        return "[]";
    switch (c.type.kind) {
    case TypeKind::SmallInt:
    case TypeKind::Integer:
    case TypeKind::BigInt: {
        Range r = int_range(c);
        double lo = c.bounds.minimum ? r.lo : std::max(r.lo, 1.0);
        double hi = c.bounds.maximum ? r.hi : std::min(r.hi, c.type.kind == TypeKind::SmallInt ? 30000.0 : 1e9);
        if (lo > hi)
            return std::nullopt;
        return "random.randint(" + number(lo) + ", " + number(hi) + ")";
    }
    case TypeKind::Numeric:
    case TypeKind::Float: {
        int scale = c.type.scale.value_or(2);
        double step = std::pow(10.0, -scale);
        double lo = c.bounds.minimum ? *c.bounds.minimum + (c.bounds.exclusive_minimum ? step : 0) : 1;
        double cap = c.type.precision ? std::pow(10.0, *c.type.precision - scale) - 1 : 1000;
        double hi =
            std::min(c.bounds.maximum ? *c.bounds.maximum - (c.bounds.exclusive_maximum ? step : 0) : 1000, cap);
        if (lo > hi)
            return std::nullopt;
        return "round(random.uniform(" + number(lo) + ", " + number(hi) + "), " + std::to_string(scale) + ")";
    }
    case TypeKind::Text:
        if (!c.type.enum_values.empty())
            return "random.choice(" + py_tuple(c.type.enum_values) + ")";
        return "random_text(" + std::to_string(c.type.max_length ? std::min(*c.type.max_length, 12) : 12) + ")";
    case TypeKind::Enum:
        return "random.choice(" + py_tuple(c.type.enum_values) + ")";
    case TypeKind::Boolean:
        return "True";
    case TypeKind::Uuid:
        return "str(uuid.uuid4())";
    case TypeKind::Date:
        return "\"2024-01-15\"";
    case TypeKind::Timestamp:
    case TypeKind::TimestampTz:
        return "\"2024-01-15T10:00:00+00:00\"";
    case TypeKind::Time:
        return "\"10:00:00\"";
    case TypeKind::Json:
        return "{\"sample\": random.randint(1, 1000)}";
    case TypeKind::Bytea:
        return "\"aGVsbG8=\"";
    case TypeKind::Inet:
        return "\"10.0.0.1\"";
    case TypeKind::Interval:
        return "\"1 day\"";
    default:
        return std::nullopt;
    }
}

std::optional<std::string>
wrong_type_expression(const Column &c)
{
    if (c.type.array_dims)
        return "\"not-an-array\"";
    switch (c.type.kind) {
    case TypeKind::SmallInt:
    case TypeKind::Integer:
    case TypeKind::BigInt:
    case TypeKind::Numeric:
    case TypeKind::Float:
        return "\"not-a-number\"";
    case TypeKind::Boolean:
        return "\"not-a-boolean\"";
    case TypeKind::Uuid:
        return "\"not-a-uuid\"";
    case TypeKind::Date:
        return "\"not-a-date\"";
    case TypeKind::Timestamp:
    case TypeKind::TimestampTz:
        return "\"not-a-timestamp\"";
    case TypeKind::Text:
    case TypeKind::Enum:
        return "12345";
    default:
        return std::nullopt;
    }
}

} // namespace pymigrate::analyzer::api

#include "analyzer/check_constraint.hpp"

#include "analyzer/sql_parser.hpp"

namespace pymigrate::analyzer
{
namespace
{

using nlohmann::json;

Column *
column_of(Table &table, const json &node)
{
    const json *n = &node;
    if (n->contains("TypeCast"))
        n = &(*n)["TypeCast"]["arg"];
    if (!n->contains("ColumnRef"))
        return nullptr;
    const auto &fields = (*n)["ColumnRef"]["fields"];
    if (fields.empty())
        return nullptr;
    std::string name = node_string(fields.back());
    for (auto &c : table.columns)
        if (c.name == name)
            return &c;
    return nullptr;
}

std::optional<std::string>
string_const(const json &node)
{
    const json *n = &node;
    if (n->contains("TypeCast"))
        n = &(*n)["TypeCast"]["arg"];
    if (n->contains("A_Const") && (*n)["A_Const"].contains("sval"))
        return (*n)["A_Const"]["sval"].value("sval", "");
    return std::nullopt;
}

bool
numeric_column(const Column &c)
{
    switch (c.type.kind) {
    case TypeKind::SmallInt:
    case TypeKind::Integer:
    case TypeKind::BigInt:
    case TypeKind::Numeric:
    case TypeKind::Float:
        return c.type.array_dims == 0;
    default:
        return false;
    }
}

void
set_min(Column &c, double v, bool exclusive)
{
    if (!c.bounds.minimum || v > *c.bounds.minimum || (v == *c.bounds.minimum && exclusive)) {
        c.bounds.minimum = v;
        c.bounds.exclusive_minimum = exclusive;
    }
}

void
set_max(Column &c, double v, bool exclusive)
{
    if (!c.bounds.maximum || v < *c.bounds.maximum || (v == *c.bounds.maximum && exclusive)) {
        c.bounds.maximum = v;
        c.bounds.exclusive_maximum = exclusive;
    }
}

void
apply_comparison(Table &table, const std::string &op, const json &left, const json &right)
{
    Column *c = column_of(table, left);
    const json *value = &right;
    std::string o = op;
    if (!c) {
        // 0 < col: flip to col > 0.
        c = column_of(table, right);
        value = &left;
        static const std::map<std::string, std::string> flip = {{"<", ">"}, {">", "<"}, {"<=", ">="}, {">=", "<="}};
        auto it = flip.find(op);
        if (it != flip.end())
            o = it->second;
    }
    if (!c || !numeric_column(*c))
        return;
    auto v = node_number(*value);
    if (!v)
        return;
    if (o == ">")
        set_min(*c, *v, true);
    else if (o == ">=")
        set_min(*c, *v, false);
    else if (o == "<")
        set_max(*c, *v, true);
    else if (o == "<=")
        set_max(*c, *v, false);
}

void
apply_values(Table &table, const json &col, const json &list)
{
    Column *c = column_of(table, col);
    if (!c || c->type.kind != TypeKind::Text || c->type.array_dims || !c->type.enum_values.empty())
        return;
    std::vector<std::string> values;
    for (const auto &e : list) {
        auto s = string_const(e);
        if (!s)
            return;
        values.push_back(*s);
    }
    c->type.enum_values = values;
}

} // namespace

void
apply_check(Table &table, const json &expr)
{
    if (expr.contains("BoolExpr")) {
        if (expr["BoolExpr"].value("boolop", "") == "AND_EXPR")
            for (const auto &a : expr["BoolExpr"]["args"])
                apply_check(table, a);
        return;
    }
    if (!expr.contains("A_Expr"))
        return;
    const auto &e = expr["A_Expr"];
    std::string kind = e.value("kind", "");
    std::string op = e.contains("name") && !e["name"].empty() ? node_string(e["name"].back()) : "";
    if (!e.contains("lexpr") || !e.contains("rexpr"))
        return;
    if (kind == "AEXPR_OP") {
        apply_comparison(table, op, e["lexpr"], e["rexpr"]);
    } else if (kind == "AEXPR_BETWEEN" && e["rexpr"].contains("List")) {
        const auto &items = e["rexpr"]["List"]["items"];
        if (items.size() == 2) {
            apply_comparison(table, ">=", e["lexpr"], items[0]);
            apply_comparison(table, "<=", e["lexpr"], items[1]);
        }
    } else if (kind == "AEXPR_IN" && op == "=" && e["rexpr"].contains("List")) {
        apply_values(table, e["lexpr"], e["rexpr"]["List"]["items"]);
    } else if (kind == "AEXPR_OP_ANY" && op == "=") {
        // pg_get_constraintdef prints IN lists as = ANY (ARRAY[...]).
        const json *arr = &e["rexpr"];
        if (arr->contains("TypeCast"))
            arr = &(*arr)["TypeCast"]["arg"];
        if (arr->contains("A_ArrayExpr"))
            apply_values(table, e["lexpr"], (*arr)["A_ArrayExpr"].value("elements", json::array()));
    }
}

void
apply_check_text(Table &table, const std::string &text)
{
    std::string expr = text;
    if (expr.rfind("CHECK ", 0) == 0)
        expr = expr.substr(6);
    auto nv = expr.rfind(" NOT VALID");
    if (nv != std::string::npos && nv + 10 == expr.size())
        expr = expr.substr(0, nv);
    try {
        auto tree = parse_sql("SELECT 1 WHERE " + expr);
        const auto &sel = tree["stmts"][0]["stmt"]["SelectStmt"];
        if (sel.contains("whereClause"))
            apply_check(table, sel["whereClause"]);
    } catch (const std::exception &) {
        // Not a plain expression (e.g. NO INHERIT): the database still enforces it.
    }
}

} // namespace pymigrate::analyzer

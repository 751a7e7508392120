#include "analyzer/sql_parser.hpp"

#include <pg_query.h>

#include <memory>

namespace pymigrate::analyzer
{

nlohmann::json
parse_sql(const std::string &sql)
{
    PgQueryParseResult r = pg_query_parse(sql.c_str());
    std::unique_ptr<PgQueryParseResult, void (*)(PgQueryParseResult *)> guard(
        &r, [](PgQueryParseResult *p) { pg_query_free_parse_result(*p); });
    if (r.error)
        throw SqlSyntaxError(r.error->message ? r.error->message : "syntax error", r.error->cursorpos);
    return nlohmann::json::parse(r.parse_tree);
}

std::string
fingerprint_sql(const std::string &sql)
{
    PgQueryFingerprintResult r = pg_query_fingerprint(sql.c_str());
    std::string out = (!r.error && r.fingerprint_str) ? r.fingerprint_str : "";
    pg_query_free_fingerprint_result(r);
    return out;
}

TextPosition
text_position(const std::string &text, int position)
{
    TextPosition p;
    // cursorpos counts characters; for UTF-8 text count lead bytes only.
    int seen = 0;
    for (size_t i = 0; i < text.size() && seen < position - 1; ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if ((c & 0xC0) == 0x80)
            continue;
        ++seen;
        if (c == '\n') {
            ++p.line;
            p.column = 1;
        } else {
            ++p.column;
        }
    }
    return p;
}

std::string
element_text(const std::string &text, size_t start, size_t limit)
{
    limit = std::min(limit, text.size());
    int depth = 0;
    size_t i = start;
    for (; i < limit; ++i) {
        char c = text[i];
        if (c == '\'' || c == '"') {
            // A quoted string or identifier; doubled quotes stay inside.
            for (++i; i < limit; ++i)
                if (text[i] == c) {
                    if (i + 1 < limit && text[i + 1] == c)
                        ++i;
                    else
                        break;
                }
        } else if (c == '(') {
            ++depth;
        } else if (c == ')') {
            if (depth == 0)
                break;
            --depth;
        } else if (c == ',' && depth == 0) {
            break;
        } else if (c == '-' && i + 1 < limit && text[i + 1] == '-') {
            while (i < limit && text[i] != '\n')
                ++i;
        }
    }
    std::string s = text.substr(start, i - start);
    auto b = s.find_first_not_of(" \t\r\n");
    auto e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string
node_string(const nlohmann::json &node)
{
    if (node.contains("String"))
        return node["String"].value("sval", "");
    return "";
}

std::optional<double>
node_number(const nlohmann::json &node)
{
    const nlohmann::json *c = &node;
    if (c->contains("TypeCast"))
        c = &(*c)["TypeCast"]["arg"];
    if (!c->contains("A_Const"))
        return std::nullopt;
    const auto &k = (*c)["A_Const"];
    if (k.contains("ival"))
        return k["ival"].value("ival", 0);
    if (k.contains("fval"))
        return std::stod(k["fval"].value("fval", "0"));
    return std::nullopt;
}

} // namespace pymigrate::analyzer

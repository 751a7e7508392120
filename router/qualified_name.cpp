#include "router/qualified_name.hpp"

#include <vector>

namespace pymigrate::router
{

namespace
{

// One identifier from the front of `text`: quoted ("" is a quote) or folded to
// lower case (ASCII only, as PostgreSQL's downcase_identifier does for
// single-byte letters).
bool
take_identifier(std::string_view &text, std::string &out, std::string *error)
{
    out.clear();
    if (!text.empty() && text[0] == '"') {
        size_t i = 1;
        for (;;) {
            if (i >= text.size()) {
                if (error)
                    *error = "unterminated quoted identifier";
                return false;
            }
            if (text[i] == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    out += '"';
                    i += 2;
                    continue;
                }
                ++i;
                break;
            }
            out += text[i++];
        }
        text.remove_prefix(i);
    } else {
        size_t i = 0;
        while (i < text.size() && text[i] != '.') {
            char c = text[i];
            if (c == '"' || c == ' ' || c == '\t' || c == '\n') {
                if (error)
                    *error = std::string("unexpected character '") + c + "' in an unquoted name";
                return false;
            }
            out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
            ++i;
        }
        text.remove_prefix(i);
    }
    if (out.empty()) {
        if (error)
            *error = "empty name";
        return false;
    }
    if (out.find('.') != std::string::npos) {
        if (error)
            *error = "names containing a dot are not supported";
        return false;
    }
    return true;
}

std::string_view
trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

} // namespace

std::optional<std::string>
parse_qualified_name(std::string_view text, std::string *error, std::string_view default_schema)
{
    text = trim(text);
    std::vector<std::string> parts;
    for (;;) {
        std::string part;
        if (!take_identifier(text, part, error))
            return std::nullopt;
        parts.push_back(std::move(part));
        if (text.empty())
            break;
        if (text[0] != '.') {
            if (error)
                *error = "unexpected text after a quoted name";
            return std::nullopt;
        }
        text.remove_prefix(1);
        if (parts.size() == 2) {
            if (error)
                *error = "too many dotted parts (expected schema.table)";
            return std::nullopt;
        }
    }
    if (parts.size() == 1)
        return table_key(default_schema, parts[0], default_schema);
    return table_key(parts[0], parts[1], default_schema);
}

std::string
table_key(std::string_view schema, std::string_view relname, std::string_view default_schema)
{
    std::string key(schema.empty() ? default_schema : schema);
    key += '.';
    key += relname;
    return key;
}

} // namespace pymigrate::router

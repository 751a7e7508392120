#include "router/sqlcommenter.hpp"

namespace pymigrate::router
{

namespace
{

int
hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// URL-decodes `in` into `out`; false on a malformed %XX.
bool
url_decode(std::string_view in, std::string &out)
{
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size())
            return false;
        int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0)
            return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return true;
}

std::string_view
trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

} // namespace

bool
parse_sqlcommenter(std::string_view body, std::vector<std::pair<std::string, std::string>> &out)
{
    size_t i = 0, n = body.size();
    std::string key, value, raw;
    for (;;) {
        while (i < n && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
            ++i;
        if (i >= n)
            return true;
        size_t eq = body.find('=', i);
        if (eq == std::string_view::npos)
            return false;
        std::string_view raw_key = trim(body.substr(i, eq - i));
        if (raw_key.empty() || !url_decode(raw_key, key))
            return false;
        i = eq + 1;
        while (i < n && body[i] == ' ')
            ++i;
        if (i >= n || body[i] != '\'')
            return false;
        raw.clear();
        for (++i;; ++i) {
            if (i >= n)
                return false; // unterminated value
            if (body[i] == '\\' && i + 1 < n && body[i + 1] == '\'') {
                raw += '\'';
                ++i;
                continue;
            }
            if (body[i] == '\'')
                break;
            raw += body[i];
            if (raw.size() > 3 * kMaxTagValue)
                return false;
        }
        ++i; // closing quote
        if (!url_decode(raw, value) || value.size() > kMaxTagValue)
            return false;
        out.emplace_back(key, value);
        while (i < n && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
            ++i;
        if (i >= n)
            return true;
        if (body[i] != ',')
            return false;
        ++i;
    }
}

bool
sqlcommenter_value(std::string_view body, std::string_view key, std::string &value)
{
    std::vector<std::pair<std::string, std::string>> pairs;
    if (!parse_sqlcommenter(body, pairs))
        return false;
    for (auto &[k, v] : pairs)
        if (k == key) {
            value = std::move(v);
            return true;
        }
    return false;
}

} // namespace pymigrate::router

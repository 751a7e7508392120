#include "router/sql_scan.hpp"

namespace pymigrate::router
{

namespace
{

inline bool
is_space(unsigned char c) noexcept
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

inline bool
ident_start(unsigned char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

inline bool
ident_char(unsigned char c) noexcept
{
    return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

inline bool
digit(unsigned char c) noexcept
{
    return c >= '0' && c <= '9';
}

// Index just past a quoted literal starting at s[i] == quote. Doubled quotes
// are escapes; with `backslash`, so is a backslash (E'...' strings).
size_t
skip_quoted(std::string_view s, size_t i, char quote, bool backslash) noexcept
{
    size_t n = s.size();
    for (++i; i < n; ++i) {
        if (backslash && s[i] == '\\') {
            ++i;
            continue;
        }
        if (s[i] == quote) {
            if (i + 1 < n && s[i + 1] == quote) {
                ++i;
                continue;
            }
            return i + 1;
        }
    }
    return n; // unterminated: the parser will say so
}

// If s[i] == '$' opens a dollar-quoted string ($$ or $tag$), the index just
// past its end; otherwise 0.
size_t
skip_dollar_quoted(std::string_view s, size_t i) noexcept
{
    size_t n = s.size();
    size_t j = i + 1;
    if (j < n && ident_start(static_cast<unsigned char>(s[j])))
        while (j < n && ident_char(static_cast<unsigned char>(s[j])) && s[j] != '$')
            ++j;
    if (j >= n || s[j] != '$')
        return 0;
    std::string_view tag = s.substr(i, j - i + 1); // "$tag$"
    size_t end = s.find(tag, j + 1);
    return end == std::string_view::npos ? n : end + tag.size();
}

} // namespace

ScanResult
scan_statement(std::string_view s, std::string &shape) noexcept
{
    ScanResult out;
    shape.clear();
    size_t n = s.size();
    size_t i = 0;
    bool pending_space = false;
    auto emit = [&](std::string_view text) {
        if (pending_space && !shape.empty())
            shape += ' ';
        pending_space = false;
        shape.append(text);
    };
    while (i < n) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (is_space(c)) {
            pending_space = true;
            ++i;
        } else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
            size_t eol = s.find('\n', i);
            i = eol == std::string_view::npos ? n : eol + 1;
            pending_space = true;
        } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            // Block comments nest in PostgreSQL.
            size_t start = i + 2;
            int depth = 1;
            i += 2;
            while (i < n && depth > 0) {
                if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
                    ++depth;
                    i += 2;
                } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
                    --depth;
                    i += 2;
                } else {
                    ++i;
                }
            }
            size_t end = depth == 0 ? i - 2 : n;
            std::string_view body = s.substr(start, end - start);
            if (body.find("route_key") != std::string_view::npos)
                out.route_comment = body;
            pending_space = true;
        } else if (c == '\'') {
            i = skip_quoted(s, i, '\'', false);
            emit("?");
        } else if (c == '"') {
            size_t end = skip_quoted(s, i, '"', false);
            emit(s.substr(i, end - i));
            i = end;
        } else if (c == '$') {
            if (size_t end = skip_dollar_quoted(s, i)) {
                i = end;
                emit("?");
            } else {
                // $1 parameter, or a lone '$'
                size_t j = i + 1;
                while (j < n && digit(static_cast<unsigned char>(s[j])))
                    ++j;
                emit(s.substr(i, j - i));
                i = j;
            }
        } else if (digit(c) || (c == '.' && i + 1 < n && digit(static_cast<unsigned char>(s[i + 1])))) {
            size_t j = i;
            while (j < n) {
                unsigned char d = static_cast<unsigned char>(s[j]);
                if (digit(d) || d == '.' || d == '_')
                    ++j;
                else if ((d == 'e' || d == 'E') && j + 1 < n &&
                         (digit(static_cast<unsigned char>(s[j + 1])) ||
                          ((s[j + 1] == '+' || s[j + 1] == '-') && j + 2 < n &&
                           digit(static_cast<unsigned char>(s[j + 2])))))
                    j += 2;
                else
                    break;
            }
            i = j;
            emit("?");
        } else if (ident_start(c)) {
            size_t j = i;
            while (j < n && ident_char(static_cast<unsigned char>(s[j])))
                ++j;
            std::string_view word = s.substr(i, j - i);
            if (j < n && s[j] == '\'') {
                // A prefixed string: E'..' (backslash escapes), B'..', X'..', N'..'.
                bool e = word.size() == 1 && (word[0] == 'e' || word[0] == 'E');
                emit(word);
                shape += '?';
                i = skip_quoted(s, j, '\'', e);
            } else if (j + 1 < n && s[j] == '&' && (s[j + 1] == '\'' || s[j + 1] == '"') && word.size() == 1 &&
                       (word[0] == 'u' || word[0] == 'U')) {
                // U&'...' and U&"..."
                size_t end = skip_quoted(s, j + 1, s[j + 1], false);
                emit(s[j + 1] == '"' ? s.substr(i, end - i) : std::string_view("U&?"));
                i = end;
            } else {
                emit(word);
                i = j;
            }
        } else {
            char ch = static_cast<char>(c);
            emit(std::string_view(&ch, 1));
            ++i;
        }
    }
    return out;
}

} // namespace pymigrate::router

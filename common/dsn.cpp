#include "common/dsn.hpp"

#include <libpq-fe.h>

#include <memory>
#include <stdexcept>

namespace pymigrate {
namespace {

struct ConninfoDeleter {
    void operator()(PQconninfoOption *o) const noexcept { PQconninfoFree(o); }
};
using ConninfoPtr = std::unique_ptr<PQconninfoOption, ConninfoDeleter>;

ConninfoPtr
parse(std::string_view dsn, std::string *error)
{
    char *err = nullptr;
    ConninfoPtr opts(PQconninfoParse(std::string(dsn).c_str(), &err));
    if (!opts && error) {
        *error = err ? err : "out of memory";
        // libpq's messages end with a newline
        while (!error->empty() && error->back() == '\n')
            error->pop_back();
    }
    if (err)
        PQfreemem(err);
    return opts;
}

bool
is_secret(std::string_view keyword)
{
    return keyword == "password" || keyword == "sslpassword";
}

} // namespace

std::string
quote_conninfo_value(std::string_view value)
{
    std::string out = "'";
    for (char c : value) {
        if (c == '\'' || c == '\\')
            out += '\\';
        out += c;
    }
    out += '\'';
    return out;
}

std::string
redact_dsn(std::string_view dsn)
{
    auto opts = parse(dsn, nullptr);
    if (!opts)
        return "<unparseable connection string>";
    std::string out;
    for (PQconninfoOption *o = opts.get(); o->keyword; ++o) {
        if (!o->val)
            continue;
        if (!out.empty())
            out += ' ';
        out += o->keyword;
        out += '=';
        out += is_secret(o->keyword) ? std::string("********") : quote_conninfo_value(o->val);
    }
    return out;
}

std::string
dsn_with(std::string_view dsn, std::string_view keyword, std::string_view value)
{
    std::string error;
    auto opts = parse(dsn, &error);
    if (!opts)
        throw std::invalid_argument("invalid connection string: " + error);
    std::string out;
    bool found = false;
    for (PQconninfoOption *o = opts.get(); o->keyword; ++o) {
        bool is_target = keyword == o->keyword;
        found = found || is_target;
        const char *v = is_target ? nullptr : o->val;
        if (!v)
            continue;
        if (!out.empty())
            out += ' ';
        out += o->keyword;
        out += '=';
        out += quote_conninfo_value(v);
    }
    if (!found)
        throw std::invalid_argument("invalid connection option \"" + std::string(keyword) + "\"");
    if (!out.empty())
        out += ' ';
    out += std::string(keyword) + "=" + quote_conninfo_value(value);
    return out;
}

} // namespace pymigrate

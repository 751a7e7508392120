#include "analyzer/model.hpp"

#include <algorithm>
#include <set>

#include "common/pq.hpp"

namespace pymigrate::analyzer
{

std::string
quote_ident_if_needed(const std::string &ident)
{
    // PostgreSQL's reserved keywords: as table names they need quotes.
    static const std::set<std::string> reserved = {"all",          "analyse",
                                                   "analyze",      "and",
                                                   "any",          "array",
                                                   "as",           "asc",
                                                   "asymmetric",   "both",
                                                   "case",         "cast",
                                                   "check",        "collate",
                                                   "column",       "constraint",
                                                   "create",       "current_catalog",
                                                   "current_date", "current_role",
                                                   "current_time", "current_timestamp",
                                                   "current_user", "default",
                                                   "deferrable",   "desc",
                                                   "distinct",     "do",
                                                   "else",         "end",
                                                   "except",       "false",
                                                   "fetch",        "for",
                                                   "foreign",      "from",
                                                   "grant",        "group",
                                                   "having",       "in",
                                                   "initially",    "intersect",
                                                   "into",         "lateral",
                                                   "leading",      "limit",
                                                   "localtime",    "localtimestamp",
                                                   "not",          "null",
                                                   "offset",       "on",
                                                   "only",         "or",
                                                   "order",        "placing",
                                                   "primary",      "references",
                                                   "returning",    "select",
                                                   "session_user", "some",
                                                   "symmetric",    "table",
                                                   "then",         "to",
                                                   "trailing",     "true",
                                                   "union",        "unique",
                                                   "user",         "using",
                                                   "variadic",     "when",
                                                   "where",        "window",
                                                   "with"};
    bool plain = !ident.empty() && !(ident[0] >= '0' && ident[0] <= '9') && !reserved.count(ident);
    for (char c : ident)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            plain = false;
    if (plain)
        return ident;
    return pq::quote_ident(ident);
}

std::string
table_key(const std::string &schema, const std::string &name)
{
    std::string n = quote_ident_if_needed(name);
    // Unquoted names that hold a dot would read as schema-qualified: quote them.
    if (n == name && name.find('.') != std::string::npos)
        n = "\"" + name + "\"";
    if (schema.empty() || schema == "public")
        return n;
    return quote_ident_if_needed(schema) + "." + n;
}

std::string
Table::key() const
{
    return table_key(schema, name);
}

const Column *
Table::column(const std::string &n) const
{
    for (const auto &c : columns)
        if (c.name == n)
            return &c;
    return nullptr;
}

const Table *
Schema::find(const std::string &key) const
{
    auto it = std::lower_bound(tables.begin(), tables.end(), key,
                               [](const Table &t, const std::string &k) { return t.key() < k; });
    if (it != tables.end() && it->key() == key)
        return &*it;
    // Not sorted yet, or a key that differs only by quoting: a linear look.
    for (const auto &t : tables)
        if (t.key() == key)
            return &t;
    return nullptr;
}

const Table *
Schema::resolve(const std::string &schema, const std::string &name) const
{
    if (!schema.empty())
        return find(table_key(schema, name));
    if (const Table *t = find(table_key("public", name)))
        return t;
    // Unqualified and not in public: the one table of that name in any schema.
    const Table *found = nullptr;
    for (const auto &t : tables)
        if (t.name == name) {
            if (found)
                return nullptr; // ambiguous without the search_path
            found = &t;
        }
    return found;
}

void
Schema::sort()
{
    std::sort(tables.begin(), tables.end(), [](const Table &a, const Table &b) { return a.key() < b.key(); });
    std::sort(foreign_keys.begin(), foreign_keys.end(), [](const ForeignKey &a, const ForeignKey &b) {
        return std::tie(a.table, a.name, a.columns) < std::tie(b.table, b.name, b.columns);
    });
}

} // namespace pymigrate::analyzer

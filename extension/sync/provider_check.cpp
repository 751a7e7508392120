#include "sync/provider_check.hpp"

#include "pg/guard.hpp"

#include "common/pq.hpp"

#include <algorithm>

namespace pymigrate::sync {
namespace {

// The elements of a list setting as SHOW prints it: comma-separated, an
// element with special characters in double quotes.
std::vector<std::string>
list_elements(const std::string &list)
{
    std::vector<std::string> out;
    size_t i = 0;
    while (i < list.size()) {
        while (i < list.size() && (list[i] == ' ' || list[i] == '\t'))
            ++i;
        std::string item;
        if (i < list.size() && list[i] == '"') {
            for (++i; i < list.size(); ++i) {
                if (list[i] == '"') {
                    if (i + 1 < list.size() && list[i + 1] == '"') {
                        item += '"';
                        ++i;
                        continue;
                    }
                    ++i;
                    break;
                }
                item += list[i];
            }
        } else {
            while (i < list.size() && list[i] != ',')
                item += list[i++];
            item.erase(item.find_last_not_of(" \t") + 1);
        }
        if (!item.empty())
            out.push_back(item);
        while (i < list.size() && list[i] != ',')
            ++i;
        ++i;
    }
    return out;
}

} // namespace

ProviderFacts
check_provider(pg::RemoteConnection &conn, const std::vector<SubscribedTable> &tables, bool logical)
{
    pq::Result r =
        conn.exec("SELECT pg_catalog.current_setting('wal_level'),"
                  " (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pymigrate'),"
                  " pg_catalog.pg_is_in_recovery(),"
                  " (SELECT rolsuper OR rolreplication FROM pg_catalog.pg_roles WHERE rolname = current_user),"
                  " (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),"
                  " pg_catalog.current_setting('output_plugin_libraries', true)");
    const std::string &where = conn.description();
    ProviderFacts facts;
    std::string wal_level(r.value(0, 0));
    if (logical && wal_level != "logical")
        throw pg::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "the provider's wal_level is \"" + wal_level + "\"; pymigrate needs \"logical\"",
                        "Provider: " + where + ".", "Set wal_level = logical on the provider and restart it, or capture its changes with "
                        "triggers instead (options => '{\"capture\": \"trigger\"}').");
    if (r.is_null(0, 1))
        throw pg::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "the provider database has no pymigrate extension",
                        "Provider: " + where + ".",
                        "Run CREATE EXTENSION pymigrate in the provider database (its library is the output "
                        "plugin that captures the changes).");
    if (logical && r.value(0, 2) == "t")
        throw pg::Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "the provider is a standby; PostgreSQL 15 decodes changes only on a primary",
                        "Provider: " + where + ".", "Subscribe to the primary server.");
    if (logical && r.value(0, 3) != "t")
        throw pg::Error(
            ERRCODE_INSUFFICIENT_PRIVILEGE, "the provider's user has neither the REPLICATION attribute nor superuser",
            "Provider: " + where + ".", "ALTER ROLE ... REPLICATION on the provider, or connect as another user.");
    facts.superuser = r.value(0, 4) == "t";
    if (logical && !r.is_null(0, 5)) {
        facts.plugin_libraries = std::string(r.value(0, 5));
        auto elements = list_elements(facts.plugin_libraries);
        facts.plugin_listed = std::find(elements.begin(), elements.end(), "pymigrate") != elements.end();
        if (!facts.plugin_listed && !facts.superuser)
            throw pg::Error(ERRCODE_INSUFFICIENT_PRIVILEGE, "the provider does not allow pymigrate as an output plugin",
                            "Its output_plugin_libraries is \"" + facts.plugin_libraries + "\". Provider: " + where +
                                ".",
                            "Add pymigrate to output_plugin_libraries on the provider and reload it (ALTER SYSTEM SET "
                            "output_plugin_libraries = ..., 'pymigrate'; SELECT pg_reload_conf()), or use capture "
                            "trigger.");
    }

    std::string names = "{";
    for (size_t i = 0; i < tables.size(); ++i) {
        std::string q = qualified_name(tables[i].remote_schema, tables[i].remote_table);
        names += (i ? "," : "") + std::string("\"");
        for (char c : q) {
            if (c == '"' || c == '\\')
                names += '\\';
            names += c;
        }
        names += "\"";
    }
    names += "}";
    pq::Result t = conn.exec("SELECT n, c.relkind FROM pg_catalog.unnest($1::text[]) n "
                             "LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(n)",
                             {names});
    for (int i = 0; i < t.rows(); ++i) {
        std::string name(t.value(i, 0));
        if (t.is_null(i, 1))
            throw pg::Error(ERRCODE_UNDEFINED_TABLE, "table " + name + " does not exist on the provider",
                            "Provider: " + where + ".",
                            "Create it there, or remove it from the subscription with "
                            "pymigrate.alter_subscription(..., drop_tables => ...).");
        std::string kind(t.value(i, 1));
        if (kind != "r")
            throw pg::Error(ERRCODE_WRONG_OBJECT_TYPE,
                            name + " on the provider is not an ordinary table (relkind " + kind + ")",
                            "Provider: " + where + ".", "Subscribe to ordinary tables (or to each partition).");
    }
    return facts;
}

void
allow_plugin_for_session(pg::RemoteConnection &conn, const ProviderFacts &facts)
{
    if (facts.plugin_listed || !facts.superuser)
        return;
    // One literal per element: a single literal would be one element.
    std::string value;
    for (const auto &e : list_elements(facts.plugin_libraries))
        value += pq::quote_literal(e) + ", ";
    (void)conn.exec("SET output_plugin_libraries = " + value + "'pymigrate'");
}

} // namespace pymigrate::sync

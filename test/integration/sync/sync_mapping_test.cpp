// Schema mapping on live clusters, both directions: a table renamed and in
// another schema, a column renamed, columns only one side has (defaults
// fill them), the initial copy through the mapping, a mapping changed
// later, and bad mappings refused with nothing half-applied.
#include "test/integration/sync/sync_helpers.hpp"

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

class SyncMapping : public MonolithService<SyncMapping>
{
  protected:
    static constexpr const char *kServiceMap =
        R"({"crm.clients": {"table": "public.customers", "columns": {"name": "full_name"}, "ignore": ["legacy_flag"]}})";
    static constexpr const char *kMonolithMap =
        R"({"customers": {"table": "crm.clients", "columns": {"full_name": "name"}, "ignore": ["tier"]}})";

    static void
    schemas(Connection &m, Connection &s)
    {
        m.exec("CREATE TABLE customers (id int PRIMARY KEY, full_name text, email text, legacy_flag boolean)");
        s.exec("CREATE SCHEMA crm; CREATE TABLE crm.clients (id int PRIMARY KEY, name text, email text, "
               "tier text NOT NULL DEFAULT 'basic')");
    }
};

TEST_F(SyncMapping, RenamedTableAndColumnsBothWaysCopyHonoursMappingChangeableLater)
{
    make_databases("map");
    auto m = provider().connect("map");
    auto s = subscriber().connect("map");
    schemas(m, s);
    m.exec("INSERT INTO customers SELECT g, 'Name ' || g, g || '@x', g % 2 = 0 FROM generate_series(1, 1000) g");
    s.exec("SELECT pymigrate.create_subscription('m2s', $1, '{crm.clients}', options => "
           "'{\"local_node\": \"service\", \"remote_node\": \"monolith\"}', table_options => $2::jsonb)",
           {provider().dsn("map"), std::string(kServiceMap)});
    ASSERT_TRUE(wait_state(s, "m2s", "streaming"));
    m.exec("SELECT pymigrate.create_subscription('s2m', $1, '{customers}', copy_data => false, options => "
           "'{\"local_node\": \"monolith\", \"remote_node\": \"service\"}', table_options => $2::jsonb)",
           {subscriber().dsn("map"), std::string(kMonolithMap)});
    ASSERT_TRUE(wait_state(m, "s2m", "streaming"));

    // The copy went through the mapping; the service's own column took its default.
    EXPECT_EQ(s.scalar("SELECT count(*) || ' ' || md5(string_agg(id || name || email, ',' ORDER BY id)) || ' ' || "
                       "min(tier) FROM crm.clients"),
              m.scalar("SELECT count(*) || ' ' || md5(string_agg(id || full_name || email, ',' ORDER BY id)) || "
                       "' basic' FROM customers"));

    // Both ways: inserts, updates, deletes.
    m.exec("UPDATE customers SET full_name = 'Renamed', legacy_flag = NULL WHERE id = 1; DELETE FROM customers "
           "WHERE id = 2; INSERT INTO customers VALUES (5000, 'From monolith', 'm@x', true)");
    ASSERT_TRUE(wait_caught_up(m, s, "m2s"));
    s.exec("UPDATE crm.clients SET name = 'Service name', tier = 'gold' WHERE id = 3; "
           "INSERT INTO crm.clients (id, name, email) VALUES (6000, 'From service', 's@x')");
    ASSERT_TRUE(wait_caught_up(s, m, "s2m"));
    EXPECT_EQ(s.scalar("SELECT name || ' ' || tier FROM crm.clients WHERE id = 1"), "Renamed basic");
    EXPECT_EQ(s.scalar("SELECT count(*) FROM crm.clients WHERE id = 2"), "0");
    EXPECT_EQ(s.scalar("SELECT name || ' ' || tier FROM crm.clients WHERE id = 5000"), "From monolith basic");
    EXPECT_EQ(m.scalar("SELECT full_name || ' ' || legacy_flag FROM customers WHERE id = 3"), "Service name false");
    EXPECT_EQ(m.scalar("SELECT full_name || ' ' || coalesce(legacy_flag::text, 'null') FROM customers WHERE "
                       "id = 6000"),
              "From service null");

    // Changed later: the service gains a column for the monolith's flag.
    s.exec("ALTER TABLE crm.clients ADD COLUMN flag boolean");
    std::string old_worker = status(s, "m2s", "worker_pid");
    s.exec(
        "SELECT pymigrate.alter_subscription('m2s', table_options => "
        "'{\"crm.clients\": {\"columns\": {\"name\": \"full_name\", \"flag\": \"legacy_flag\"}, \"ignore\": null}}')");
    // The worker restarts with the new mapping.
    ASSERT_TRUE(eventually([&] {
        std::string pid = status(s, "m2s", "worker_pid");
        return pid != old_worker && pid != "(null)";
    }));
    ASSERT_TRUE(wait_state(s, "m2s", "streaming"));
    m.exec("UPDATE customers SET legacy_flag = true WHERE id = 7");
    ASSERT_TRUE(wait_caught_up(m, s, "m2s"));
    EXPECT_EQ(s.scalar("SELECT flag FROM crm.clients WHERE id = 7"), "t");
}

TEST_F(SyncMapping, BadMappingsAreRefusedNamingTheColumnAndNothingIsStored)
{
    make_databases("badmap");
    auto m = provider().connect("badmap");
    auto s = subscriber().connect("badmap");
    schemas(m, s);
    const std::string create = "SELECT pymigrate.create_subscription('bad', $1, '{crm.clients}', table_options => "
                               "$2::jsonb)";
    auto with = [&](const std::string &table_options) {
        return std::vector<std::optional<std::string>>{provider().dsn("badmap"), table_options};
    };
    // Unknown provider column.
    expect_sql_error(s, create, with(R"({"crm.clients": {"table": "public.customers", "columns": {"name": "fullname"},
                          "ignore": ["legacy_flag"]}})"),
                     "42703", "fullname");
    // A provider column left without a place here.
    expect_sql_error(s, create,
                     with(R"({"crm.clients": {"table": "public.customers", "columns": {"name": "full_name"}}})"),
                     "42703", "legacy_flag");
    // Incompatible types: text here, boolean there.
    expect_sql_error(s, create, with(R"({"crm.clients": {"table": "public.customers", "columns": {"name": "full_name",
                          "email": "legacy_flag"}, "ignore": ["email"]}})"),
                     "42804", "email");
    // The key here is not mapped.
    expect_sql_error(s, create, with(R"({"crm.clients": {"table": "public.customers", "columns": {"name": "full_name"},
                          "ignore": ["legacy_flag", "id"]}})"),
                     "22023", "key column \"id\"");
    // A table the subscription does not have; an unknown key.
    expect_sql_error(s, create, with(R"({"crm.nosuch": {}})"), "22023", "crm.nosuch");
    expect_sql_error(s, create, with(R"({"crm.clients": {"rename": "x"}})"), "22023", "rename");
    EXPECT_EQ(s.scalar("SELECT count(*) FROM pymigrate.subscription"), "0");
    EXPECT_EQ(s.scalar("SELECT count(*) FROM pg_replication_origin WHERE roname = 'pymigrate_bad'"), "0");

    // A later change that is bad leaves the stored mapping as it was.
    s.exec(create, with(std::string(kServiceMap)));
    expect_sql_error(s, "SELECT pymigrate.alter_subscription('bad', table_options => $1::jsonb)",
                     {R"({"crm.clients": {"columns": {"name": "nosuch"}}})"}, "42703", "nosuch");
    EXPECT_EQ(s.scalar("SELECT options->'columns'->>'name' FROM pymigrate.subscription_table"), "full_name");
    s.exec("SELECT pymigrate.drop_subscription('bad')");
}

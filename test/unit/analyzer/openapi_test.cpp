// The OpenAPI document and the generated project's names, from the sample
// monolith's schema and from awkward ones.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "analyzer/api/fastapi_project.hpp"
#include "analyzer/api/openapi.hpp"
#include "analyzer/api/python_code.hpp"
#include "analyzer/sources.hpp"
#include "test/unit/analyzer/test_files.hpp"

using namespace pymigrate::analyzer;
using namespace pymigrate::analyzer::api;
using pymigrate::analyzer::testing::TempFile;

namespace
{

Model
model_of(const std::string &ddl)
{
    TempFile f(".sql", ddl);
    return build_model(load_ddl(f.path()), std::nullopt);
}

} // namespace

TEST(OpenApi, SchemasFromTypesAndConstraints)
{
    Model m = model_of(pymigrate::analyzer::testing::sample_ddl());
    ServiceApi api = build_service_api(m, {"orders", "order_items", "payments", "users", "user_addresses", "coupons"},
                                       "order_service");
    auto doc = openapi_document(api);
    EXPECT_EQ(doc["openapi"], "3.0.3");
    const auto &s = doc["components"]["schemas"];
    const auto &orders = s["Orders"]["properties"];
    EXPECT_EQ(orders["id"]["readOnly"], true);
    EXPECT_EQ(orders["id"]["format"], "int64");
    EXPECT_EQ(orders["user_id"]["format"], "uuid");
    EXPECT_EQ(orders["placed_at"]["format"], "date-time");
    EXPECT_EQ(orders["status"]["enum"][0], "pending");
    EXPECT_EQ(orders["coupon_code"]["maxLength"], 24);
    EXPECT_EQ(orders["coupon_code"]["nullable"], true);
    EXPECT_EQ(orders["total"]["multipleOf"], 0.01);
    EXPECT_EQ(orders["total"]["maximum"], 1e10);
    EXPECT_FALSE(s["OrdersCreate"]["properties"].contains("id")); // generated key: read-only
    auto required = s["OrdersCreate"]["required"];
    EXPECT_NE(std::find(required.begin(), required.end(), "user_id"), required.end());
    EXPECT_EQ(std::find(required.begin(), required.end(), "status"), required.end()); // has a default
    EXPECT_EQ(s["CouponsCreate"]["properties"]["valid_from"]["format"], "date");
    EXPECT_EQ(s["CouponsCreate"]["properties"]["percent_off"]["exclusiveMinimum"], true);
    EXPECT_EQ(s["UserAddressesCreate"]["properties"]["kind"]["enum"].size(), 2u);
    EXPECT_EQ(s["UsersCreate"]["properties"]["password_hash"]["format"], "byte");
    EXPECT_EQ(s["OrdersCreate"]["additionalProperties"], false);
    // Filters with PostgREST's operators, order, paging, cursor, error responses.
    const auto &list = doc["paths"]["/orders"]["get"];
    bool has_filter = false;
    for (const auto &p : list["parameters"])
        if (p.contains("name") && p["name"] == "total")
            has_filter = p["schema"]["pattern"].get<std::string>().find("ilike") != std::string::npos;
    EXPECT_TRUE(has_filter);
    EXPECT_TRUE(doc["paths"].contains("/orders/{id}"));
    EXPECT_TRUE(doc["paths"]["/orders"]["post"]["responses"].contains("422"));
    EXPECT_TRUE(doc["components"]["parameters"].contains("cursor"));
    EXPECT_TRUE(s["OrdersPage"]["properties"].contains("next_cursor"));

    // YAML keeps "200" a string and reads back as the same document.
    YAML::Node y = YAML::Load(to_yaml(doc));
    EXPECT_EQ(y["paths"]["/orders"]["get"]["responses"]["200"]["description"].as<std::string>(), "A page of rows");
    EXPECT_EQ(y["openapi"].as<std::string>(), "3.0.3");
}

TEST(OpenApi, TablesWithoutKeysAndOddIdentifiers)
{
    Model m = model_of(R"SQL(CREATE TABLE "Order Items" ("Id" int PRIMARY KEY, "class" text, "from" date, "order" int,
  "select" varchar(5) CHECK ("select" IN ('a', 'b')), "json" jsonb, "2fa" boolean);
CREATE TABLE audit_log (at timestamptz, what text);
CREATE TABLE tokens (token text NOT NULL UNIQUE, user_id int);
CREATE TABLE "user" (id int PRIMARY KEY);
)SQL");
    ServiceApi api = build_service_api(m, {"\"Order Items\"", "audit_log", "tokens", "\"user\""}, "odd_service");
    ASSERT_EQ(api.skipped.size(), 1u);
    EXPECT_EQ(api.skipped[0].table, "audit_log");
    EXPECT_NE(api.skipped[0].reason.find("no primary key"), std::string::npos);
    const ApiTable *tokens = api.find("tokens");
    ASSERT_TRUE(tokens);
    EXPECT_EQ(tokens->key, std::vector<std::string>{"token"}); // a NOT NULL unique key stands in
    const ApiTable *items = api.find("\"Order Items\"");
    EXPECT_EQ(items->module, "order_items");
    EXPECT_EQ(items->schema_name, "OrderItems");
    EXPECT_EQ(items->api_column("class")->field, "class_");
    EXPECT_EQ(items->api_column("Id")->field, "id");
    EXPECT_EQ(items->api_column("2fa")->field, "n_2fa");
    EXPECT_EQ(items->api_column("json")->field, "json_");
    EXPECT_EQ(api.find("\"user\"")->module, "user");
    auto doc = openapi_document(api);
    EXPECT_TRUE(doc["paths"].contains("/order_items/{id}"));
    EXPECT_EQ(doc["components"]["schemas"]["OrderItemsCreate"]["properties"]["select"]["enum"][1], "b");
    // A column named like a paging parameter is not offered as a filter.
    bool order_filter = false;
    for (const auto &p : doc["paths"]["/order_items"]["get"]["parameters"])
        if (p.contains("in") && p["name"] == "order" && p["description"].get<std::string>().rfind("Filter", 0) == 0)
            order_filter = true;
    EXPECT_FALSE(order_filter);
    EXPECT_NE(doc["info"]["description"].get<std::string>().find("audit_log"), std::string::npos);

    ProjectFiles files = fastapi_project(api, doc.dump());
    EXPECT_TRUE(files.count("app/routers/order_items.py"));
    EXPECT_FALSE(files.count("app/routers/audit_log.py"));
    const std::string &model = files["app/models/order_items.py"];
    EXPECT_NE(model.find("class_: Optional[StrictStr] = Field(None, alias=\"class\""), std::string::npos) << model;
    EXPECT_NE(files["app/tables.py"].find("name=\"Order Items\""), std::string::npos);
    EXPECT_EQ(py_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
}

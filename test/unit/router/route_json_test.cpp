// The route file format: strict parsing with errors that say where.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "router/route_json.hpp"

using namespace pymigrate::router;

namespace
{

const char *kGood = R"({"format": 1, "version": 7, "services": [
  {"name": "billing", "tables": ["public.invoices", "public.payments"], "dsn": "host=/tmp dbname=billing",
   "strategy": "canary", "percent": 12.5, "canary_keys": ["user:1"], "sticky": true, "transactions": "monolith"},
  {"name": "search", "tables": ["public.products"], "dsn": "dbname=search", "strategy": "feature_flag",
   "flag": {"name": "new-search", "enabled": false, "overrides": {"user:9": true}}}]})";

std::string
error_of(const std::string &doc)
{
    std::string error;
    auto t = parse_route_document(doc, error);
    EXPECT_FALSE(t) << doc;
    return error;
}

} // namespace

TEST(RouteJson, ParsesEveryField)
{
    std::string error;
    auto t = parse_route_document(kGood, error);
    ASSERT_TRUE(t) << error;
    EXPECT_EQ(t->version(), 7);
    ASSERT_EQ(t->rules().size(), 2u);
    const RouteRule &b = t->rules()[0];
    EXPECT_EQ(b.strategy, Strategy::Canary);
    EXPECT_EQ(b.basis_points, 1250);
    EXPECT_EQ(b.salt, "billing");
    EXPECT_EQ(b.transactions, TransactionPolicy::Monolith);
    EXPECT_EQ(t->owner("public.payments"), 0);
    EXPECT_EQ(t->owner("public.products"), 1);
    EXPECT_EQ(t->owner("public.users"), -1);
    EXPECT_TRUE(t->rules()[1].flag.overrides.at("user:9"));
    EXPECT_FALSE(t->routes_nothing());
}

TEST(RouteJson, RoundTrips)
{
    std::string error;
    auto t = parse_route_document(kGood, error);
    ASSERT_TRUE(t);
    std::string again = to_json(*t).dump();
    auto t2 = parse_route_document(again, error);
    ASSERT_TRUE(t2) << error;
    EXPECT_EQ(to_json(*t2), to_json(*t));
}

TEST(RouteJson, ErrorsSayWhere)
{
    EXPECT_NE(error_of("{").find("not valid JSON"), std::string::npos);
    EXPECT_NE(error_of("[]").find("expected an object"), std::string::npos);
    EXPECT_NE(error_of(R"({"version": 1})").find("format"), std::string::npos);
    EXPECT_NE(error_of(R"({"format": 2})").find("not supported"), std::string::npos);
    EXPECT_NE(error_of(R"({"format": 1, "extra": 1})").find("unknown key \"extra\""), std::string::npos);
    const std::string svc = R"({"format":1,"services":[{"name":"a","tables":["public.t"],"dsn":"x")";
    EXPECT_NE(error_of(svc + R"(,"percent":150}]})").find("services[0].percent"), std::string::npos);
    EXPECT_NE(error_of(svc + R"(,"percent":1.234}]})").find("finer than 0.01"), std::string::npos);
    EXPECT_NE(error_of(svc + R"(,"percent":"5"}]})").find("expected a number"), std::string::npos);
    EXPECT_NE(error_of(svc + R"(,"strategy":"random"}]})").find("unknown strategy"), std::string::npos);
    EXPECT_NE(error_of(svc + R"(,"colour":"red"}]})").find("services[0]: unknown key \"colour\""), std::string::npos);
    EXPECT_NE(error_of(svc + R"(,"strategy":"feature_flag"}]})").find("flag name"), std::string::npos);
    EXPECT_NE(
        error_of(R"({"format":1,"services":[{"name":"A","tables":["public.t"],"dsn":"x"}]})").find("services[0].name"),
        std::string::npos);
    EXPECT_NE(error_of(R"({"format":1,"services":[{"name":"a","tables":["t"],"dsn":"x"}]})").find("schema.table"),
              std::string::npos);
    EXPECT_NE(
        error_of(R"({"format":1,"services":[{"name":"a","tables":["public.t"],"dsn":"password=x"}]})").find("password"),
        std::string::npos);
}

TEST(RouteJson, DuplicateOwnershipIsRefused)
{
    std::string e = error_of(R"({"format":1,"services":[
        {"name":"a","tables":["public.t"],"dsn":"x"},{"name":"b","tables":["public.u","public.t"],"dsn":"y"}]})");
    EXPECT_NE(e.find("public.t"), std::string::npos) << e;
    EXPECT_NE(e.find("two services"), std::string::npos) << e;
    e = error_of(R"({"format":1,"services":[
        {"name":"a","tables":["public.t"],"dsn":"x"},{"name":"a","tables":["public.u"],"dsn":"y"}]})");
    EXPECT_NE(e.find("defined twice"), std::string::npos) << e;
}

TEST(RouteJson, PercentConversions)
{
    EXPECT_EQ(percent_to_basis_points(0.01), 1);
    EXPECT_EQ(percent_to_basis_points(100), 10000);
    EXPECT_EQ(percent_to_basis_points(33.33), 3333);
    EXPECT_FALSE(percent_to_basis_points(-1));
    EXPECT_FALSE(percent_to_basis_points(100.01));
    EXPECT_FALSE(percent_to_basis_points(0.001));
}

TEST(RouteJson, HugeDocumentsAreRefused)
{
    std::string big(kMaxRouteDocument + 1, ' ');
    EXPECT_NE(error_of(big).find("limit"), std::string::npos);
}

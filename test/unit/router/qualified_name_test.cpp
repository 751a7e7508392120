#include <gtest/gtest.h>

#include "router/qualified_name.hpp"
#include "router/rule.hpp"

using namespace pymigrate::router;

TEST(QualifiedName, FoldsAndQualifies)
{
    EXPECT_EQ(parse_qualified_name("Orders"), "public.orders");
    EXPECT_EQ(parse_qualified_name(" sales.Orders "), "sales.orders");
    EXPECT_EQ(parse_qualified_name("\"Sales\".\"Order Items\""), "Sales.Order Items");
    EXPECT_EQ(parse_qualified_name("\"a\"\"b\""), "public.a\"b");
}

TEST(QualifiedName, RejectsWithAReason)
{
    std::string error;
    EXPECT_FALSE(parse_qualified_name("a.b.c", &error));
    EXPECT_NE(error.find("too many"), std::string::npos);
    EXPECT_FALSE(parse_qualified_name("", &error));
    EXPECT_FALSE(parse_qualified_name("a.", &error));
    EXPECT_FALSE(parse_qualified_name("\"unterminated", &error));
    EXPECT_NE(error.find("unterminated"), std::string::npos);
    EXPECT_FALSE(parse_qualified_name("\"a.b\"", &error));
    EXPECT_FALSE(parse_qualified_name("has space", &error));
}

TEST(Rule, PasswordsInConnectionStringsAreFound)
{
    EXPECT_TRUE(dsn_has_password("host=x password=secret"));
    EXPECT_TRUE(dsn_has_password("password = secret host=x"));
    EXPECT_TRUE(dsn_has_password("postgresql://u:secret@host/db"));
    EXPECT_TRUE(dsn_has_password("postgres://host/db?password=secret"));
    EXPECT_FALSE(dsn_has_password("host=x user=password_reader dbname=passwords"));
    EXPECT_FALSE(dsn_has_password("postgresql://u@host/db"));
}

TEST(Rule, ValidationNamesTheProblem)
{
    RouteRule r;
    r.service = "Bad Name";
    r.dsn = "host=x password=y";
    r.basis_points = 12000;
    r.tables = {"orders", "public.a", "public.a"};
    auto p = validate(r);
    auto has = [&](const std::string &s) {
        for (const auto &x : p)
            if (x.find(s) != std::string::npos)
                return true;
        return false;
    };
    EXPECT_TRUE(has("service name"));
    EXPECT_TRUE(has("password"));
    EXPECT_TRUE(has("out of range"));
    EXPECT_TRUE(has("schema.table"));
    EXPECT_TRUE(has("listed twice"));
}

#include <gtest/gtest.h>

#include "router/sqlcommenter.hpp"

using namespace pymigrate::router;

TEST(Sqlcommenter, ReadsEncodedValues)
{
    std::string v;
    ASSERT_TRUE(sqlcommenter_value("route_key='user%3A42',traceparent='00-abc-01'", "route_key", v));
    EXPECT_EQ(v, "user:42");
    ASSERT_TRUE(sqlcommenter_value(" app='a' , route_key='it\\'s' ", "route_key", v));
    EXPECT_EQ(v, "it's");
    ASSERT_TRUE(sqlcommenter_value("route%5Fkey='x'", "route_key", v));
    EXPECT_EQ(v, "x");
    EXPECT_FALSE(sqlcommenter_value("app='a'", "route_key", v));
}

TEST(Sqlcommenter, MalformedIsRefused)
{
    std::vector<std::pair<std::string, std::string>> out;
    for (const char *bad :
         {"route_key=user", "route_key='open", "route_key='%zz'", "='x'", "a='1' b='2'", "route_key='%4'"})
        EXPECT_FALSE(parse_sqlcommenter(bad, out)) << bad;
    std::string huge = "route_key='" + std::string(kMaxTagValue + 1, 'x') + "'";
    EXPECT_FALSE(parse_sqlcommenter(huge, out));
    EXPECT_TRUE(parse_sqlcommenter("", out));
}

// The statement shape: literals and comments out, the rest kept.
#include <gtest/gtest.h>

#include "router/sql_scan.hpp"

using namespace pymigrate::router;

namespace
{

std::string
shape(std::string_view sql)
{
    std::string s;
    (void)scan_statement(sql, s);
    return s;
}

} // namespace

TEST(SqlScan, LiteralsBecomePlaceholders)
{
    EXPECT_EQ(shape("SELECT abalance FROM pgbench_accounts WHERE aid = 17;"),
              shape("SELECT abalance FROM pgbench_accounts WHERE aid = 123456;"));
    EXPECT_EQ(shape("select 'it''s', E'a\\'b', 1.5e-3, .5 from t1"), "select ?, E?, ?, ? from t1");
    EXPECT_EQ(shape("select $$a ' b$$, $tag$ $$ x $tag$"), "select ?, ?");
    EXPECT_EQ(shape("select $1, $2 from t"), "select $1, $2 from t");
    EXPECT_EQ(shape("select U&'d\\0061t', U&\"d\\0061t\""), "select U&?, U&\"d\\0061t\"");
}

TEST(SqlScan, IdentifiersAreKeptExactly)
{
    EXPECT_EQ(shape("SELECT * FROM t2 JOIN \"Weird \"\"Name\" USING (x1)"),
              "SELECT * FROM t2 JOIN \"Weird \"\"Name\" USING (x1)");
    EXPECT_NE(shape("select * from a"), shape("select * from b"));
    EXPECT_NE(shape("select * from \"a\""), shape("select * from a"));
}

TEST(SqlScan, CommentsAndWhitespaceGo)
{
    EXPECT_EQ(shape("  SELECT 1 -- comment\n  FROM   t /* block /* nested */ still */ WHERE x"),
              "SELECT ? FROM t WHERE x");
}

TEST(SqlScan, FindsTheRouteKeyComment)
{
    std::string s;
    auto r = scan_statement("SELECT 1 /*route_key='user%3A42',app='x'*/", s);
    EXPECT_EQ(r.route_comment, "route_key='user%3A42',app='x'");
    r = scan_statement("/* plain */ SELECT 1", s);
    EXPECT_TRUE(r.route_comment.empty());
}

TEST(SqlScan, UnterminatedTextDoesNotCrash)
{
    for (const char *bad : {"select 'abc", "select \"abc", "select $$abc", "select /* abc", "select E'\\", "$", "1e"})
        (void)shape(bad);
    SUCCEED();
}

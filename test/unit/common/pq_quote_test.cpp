#include <gtest/gtest.h>

#include "common/pq.hpp"

using pymigrate::pq::quote_ident;
using pymigrate::pq::quote_literal;

TEST(QuoteIdent, DoublesQuotes)
{
    EXPECT_EQ(quote_ident("order"), "\"order\"");
    EXPECT_EQ(quote_ident("we\"ird"), "\"we\"\"ird\"");
}

TEST(QuoteLiteral, DoublesQuotesAndUsesEStringForBackslashes)
{
    EXPECT_EQ(quote_literal("it's"), "'it''s'");
    EXPECT_EQ(quote_literal("a\\b"), "E'a\\\\b'");
}

TEST(ArrayLiteral, QuotesEveryElementAndWritesNullBare)
{
    using pymigrate::pq::array_literal;
    EXPECT_EQ(array_literal(std::vector<std::string>{}), "{}");
    EXPECT_EQ(array_literal(std::vector<std::string>{"a", "b c"}), "{\"a\",\"b c\"}");
    EXPECT_EQ(array_literal(std::vector<std::optional<std::string>>{"NULL", std::nullopt, "q\"\\"}),
              "{\"NULL\",NULL,\"q\\\"\\\\\"}");
}

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

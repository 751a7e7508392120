#include <gtest/gtest.h>

#include <stdexcept>

#include "common/dsn.hpp"

using pymigrate::dsn_with;
using pymigrate::redact_dsn;

TEST(RedactDsn, MasksPasswordInKeywordForm)
{
    std::string out = redact_dsn("host=db1 user=app password=s3cret dbname=shop");
    EXPECT_EQ(out.find("s3cret"), std::string::npos) << out;
    EXPECT_NE(out.find("password=********"), std::string::npos) << out;
    EXPECT_NE(out.find("host='db1'"), std::string::npos) << out;
}

TEST(RedactDsn, MasksPasswordInUriForm)
{
    std::string out = redact_dsn("postgresql://app:s3cret@db1:5433/shop?sslpassword=other");
    EXPECT_EQ(out.find("s3cret"), std::string::npos) << out;
    EXPECT_EQ(out.find("other"), std::string::npos) << out;
    EXPECT_NE(out.find("port='5433'"), std::string::npos) << out;
}

TEST(RedactDsn, NeverEchoesWhatItCannotParse)
{
    EXPECT_EQ(redact_dsn("host=db1 password='unterminated"), "<unparseable connection string>");
}

TEST(DsnWith, AddsAndReplacesAKeyword)
{
    EXPECT_EQ(dsn_with("host=a dbname=x", "dbname", "y"), "host='a' dbname='y'");
    EXPECT_EQ(dsn_with("host=a", "replication", "database"), "host='a' replication='database'");
}

TEST(DsnWith, QuotesValues)
{
    EXPECT_EQ(dsn_with("", "application_name", "it's a \\ test"), "application_name='it\\'s a \\\\ test'");
}

TEST(DsnWith, RejectsUnknownKeywordsAndBadStrings)
{
    EXPECT_THROW(dsn_with("host=a", "no_such_option", "1"), std::invalid_argument);
    EXPECT_THROW(dsn_with("host=a bogus=1", "dbname", "x"), std::invalid_argument);
}

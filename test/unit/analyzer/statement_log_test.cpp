// Statement logs: transactions recovered from csvlog, jsonlog and stderr
// (with %c and %x in log_line_prefix); an unknown format is a clear error.
#include <gtest/gtest.h>

#include "analyzer/statement_log.hpp"
#include "test/unit/analyzer/test_files.hpp"

using namespace pymigrate::analyzer;
using pymigrate::analyzer::testing::TempFile;

namespace
{

std::string
csv_line(const std::string &session, const std::string &vxid, const std::string &xid, const std::string &message)
{
    std::string quoted = "\"";
    for (char c : message) {
        if (c == '"')
            quoted += '"';
        quoted += c;
    }
    quoted += '"';
    return "2024-05-01 10:00:00.123 UTC,\"app\",\"shop\",4242,\"[local]\"," + session + ",1,\"INSERT\"," +
           "2024-05-01 09:59:00 UTC," + vxid + "," + xid + ",LOG,00000," + quoted +
           ",,,,,,,,,\"psql\",\"client backend\",,0\n";
}

} // namespace

TEST(StatementLog, CsvlogGroupsByVirtualTransaction)
{
    std::string log = csv_line("6632.1", "3/7", "0", "statement: BEGIN") +
                      csv_line("6632.1", "3/7", "0", "statement: INSERT INTO orders VALUES (1)") +
                      csv_line("6633.2", "4/1", "0", "statement: SELECT 1") +
                      csv_line("6632.1", "3/7", "901",
                               "duration: 0.1 ms  statement: INSERT INTO \"order_items\"\nVALUES (1, 'a,b')") +
                      csv_line("6632.1", "3/7", "901", "statement: COMMIT") +
                      csv_line("6632.1", "3/8", "0", "execute <unnamed>: UPDATE payments SET x = $1");
    TempFile f(".csv", log);
    StatementLog l = read_statement_log(f.path(), {});
    EXPECT_EQ(l.format, "csvlog");
    ASSERT_EQ(l.statements.size(), 6u);
    ASSERT_EQ(l.transactions.size(), 3u);
    EXPECT_EQ(l.transactions[0].size(), 4u); // BEGIN, both INSERTs (one spanning two lines), COMMIT
    EXPECT_EQ(l.transactions[0][2], "INSERT INTO \"order_items\"\nVALUES (1, 'a,b')");
    EXPECT_EQ(l.transactions[2], std::vector<std::string>{"UPDATE payments SET x = $1"});
}

TEST(StatementLog, StderrWithSessionAndXidInThePrefix)
{
    const std::string prefix = "%m [%p] %c %x ";
    TempFile f(".log", "2024-05-01 10:00:00.001 UTC [77] 6632.1 0 LOG:  statement: BEGIN;\n"
                       "2024-05-01 10:00:00.002 UTC [77] 6632.1 0 LOG:  statement: INSERT INTO orders\n"
                       "\tVALUES (1);\n"
                       "2024-05-01 10:00:00.003 UTC [78] 6633.9 0 LOG:  statement: SELECT 1;\n"
                       "2024-05-01 10:00:00.004 UTC [77] 6632.1 901 LOG:  statement: INSERT INTO payments VALUES (1);\n"
                       "2024-05-01 10:00:00.005 UTC [77] 6632.1 901 LOG:  statement: COMMIT;\n"
                       "2024-05-01 10:00:00.006 UTC [77] 6632.1 902 LOG:  statement: UPDATE refunds SET a = 1;\n"
                       "2024-05-01 10:00:00.007 UTC [77] 6632.1 902 LOG:  statement: UPDATE shipments SET a = 1;\n"
                       "2024-05-01 10:00:00.008 UTC [77] 6632.1 0 ERROR:  relation \"x\" does not exist\n");
    StatementLog l = read_statement_log(f.path(), {"auto", prefix});
    EXPECT_EQ(l.format, "stderr");
    ASSERT_EQ(l.transactions.size(), 3u);
    EXPECT_EQ(l.transactions[0],
              (std::vector<std::string>{"INSERT INTO orders\nVALUES (1);", "INSERT INTO payments VALUES (1);"}));
    EXPECT_EQ(l.transactions[1], std::vector<std::string>{"SELECT 1;"});
    // log_statement = 'mod' logs no BEGIN: the transaction id ties the writes together.
    EXPECT_EQ(l.transactions[2].size(), 2u);
}

TEST(StatementLog, Jsonlog)
{
    TempFile f(
        ".json",
        R"J({"timestamp":"2024-05-01 10:00:00.001 UTC","session_id":"6632.1","vxid":"3/7","txid":0,"error_severity":"LOG","message":"statement: INSERT INTO a VALUES (1)"}
{"timestamp":"2024-05-01 10:00:00.002 UTC","session_id":"6632.1","vxid":"3/7","txid":900,"error_severity":"LOG","message":"statement: INSERT INTO b VALUES (1)"}
)J");
    StatementLog l = read_statement_log(f.path(), {});
    EXPECT_EQ(l.format, "jsonlog");
    ASSERT_EQ(l.transactions.size(), 1u);
    EXPECT_EQ(l.transactions[0].size(), 2u);
}

TEST(StatementLog, UnknownFormatIsAClearError)
{
    TempFile f(".log", "this is not a PostgreSQL log\nat all\n");
    try {
        read_statement_log(f.path(), {});
        FAIL() << "an unknown log format was accepted";
    } catch (const LogFormatError &e) {
        EXPECT_NE(std::string(e.what()).find("cannot tell the format"), std::string::npos) << e.what();
    }
    // A prefix that does not match the lines.
    EXPECT_THROW(read_statement_log(f.path(), {"stderr", "%m [%p] %c %x "}), LogFormatError);
    // A prefix without what transactions need.
    try {
        read_statement_log(f.path(), {"stderr", "%m [%p] "});
        FAIL();
    } catch (const LogFormatError &e) {
        EXPECT_NE(std::string(e.what()).find("lacks %c"), std::string::npos) << e.what();
    }
    EXPECT_THROW(read_statement_log(f.path(), {"syslog", ""}), LogFormatError);
    EXPECT_THROW(read_statement_log("/nonexistent/log.csv", {}), std::runtime_error);
}

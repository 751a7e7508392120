// Which tables a statement reads and writes, from PostgreSQL's parse tree.
#include <gtest/gtest.h>

#include "analyzer/sql_parser.hpp"
#include "analyzer/statement_tables.hpp"

using namespace pymigrate::analyzer;

namespace
{

StatementTables
tables_of(const std::string &sql)
{
    return statement_tables(parse_sql(sql)["stmts"][0]);
}

std::set<std::string>
names(const std::set<StatementTables::Name> &s)
{
    std::set<std::string> out;
    for (const auto &[schema, name] : s)
        out.insert(schema.empty() ? name : schema + "." + name);
    return out;
}

} // namespace

TEST(StatementTables, ReadsWritesCtesAndLocks)
{
    auto t = tables_of("SELECT * FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.user_id = $1");
    EXPECT_EQ(names(t.read), (std::set<std::string>{"orders", "order_items"}));
    EXPECT_TRUE(t.written.empty());

    t = tables_of("WITH recent AS (SELECT * FROM orders) UPDATE payments p SET status = 'x' FROM recent r "
                  "WHERE p.order_id = r.id AND EXISTS (SELECT 1 FROM billing.refunds)");
    EXPECT_EQ(names(t.written), std::set<std::string>{"payments"});
    EXPECT_EQ(names(t.read), (std::set<std::string>{"orders", "billing.refunds"})); // not the CTE "recent"

    t = tables_of("SELECT * FROM stock_levels WHERE variant_id = 1 FOR UPDATE");
    EXPECT_EQ(names(t.written), std::set<std::string>{"stock_levels"});

    t = tables_of("WITH moved AS (DELETE FROM carts RETURNING id) INSERT INTO orders SELECT * FROM moved");
    EXPECT_EQ(names(t.written), (std::set<std::string>{"carts", "orders"}));

    EXPECT_EQ(tables_of("BEGIN").control, TransactionControl::Begin);
    EXPECT_EQ(tables_of("COMMIT").control, TransactionControl::Commit);
    EXPECT_EQ(tables_of("ROLLBACK").control, TransactionControl::Rollback);
    EXPECT_EQ(fingerprint_sql("SELECT * FROM a WHERE x = 1"), fingerprint_sql("select *  from a where x = 42"));
    EXPECT_THROW(parse_sql("SELEC 1"), SqlSyntaxError);
}

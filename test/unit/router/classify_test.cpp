// Classification with the real PostgreSQL parser.
#include <gtest/gtest.h>

#include "router/classify.hpp"
#include "router/route_json.hpp"

using namespace pymigrate::router;

namespace
{

Classification
c(const char *sql)
{
    return classify_sql(sql);
}

std::vector<std::string>
v(std::initializer_list<const char *> l)
{
    return std::vector<std::string>(l.begin(), l.end());
}

} // namespace

TEST(Classify, ReadsAndWrites)
{
    auto s = c("SELECT abalance FROM pgbench_accounts WHERE aid = 1");
    EXPECT_EQ(s.kind, StatementKind::Data);
    EXPECT_FALSE(s.write);
    EXPECT_EQ(s.tables, v({"public.pgbench_accounts"}));
    auto u = c("UPDATE sales.orders o SET x = 1 FROM public.items i WHERE i.id = o.id");
    EXPECT_TRUE(u.write);
    EXPECT_EQ(u.tables, v({"public.items", "sales.orders"}));
    EXPECT_TRUE(c("SELECT * FROM t FOR UPDATE").write);
    EXPECT_TRUE(c("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d").write);
    EXPECT_TRUE(c("INSERT INTO t VALUES (1)").write);
    EXPECT_TRUE(c("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE").write);
    EXPECT_TRUE(c("TRUNCATE t").write);
}

TEST(Classify, CtesAreNotTables)
{
    auto s = c("WITH x AS (SELECT * FROM real_table) SELECT * FROM x JOIN other.x ON true");
    EXPECT_EQ(s.tables, v({"other.x", "public.real_table"}));
}

TEST(Classify, CopyFollowsItsTableButNotServerFiles)
{
    auto in = c("COPY t (a, b) FROM STDIN");
    EXPECT_EQ(in.kind, StatementKind::Data);
    EXPECT_TRUE(in.write);
    auto out = c("COPY (SELECT * FROM t JOIN u USING (id)) TO STDOUT");
    EXPECT_EQ(out.kind, StatementKind::Data);
    EXPECT_FALSE(out.write);
    EXPECT_EQ(out.tables, v({"public.t", "public.u"}));
    EXPECT_EQ(c("COPY t FROM '/etc/passwd'").kind, StatementKind::Other);
    EXPECT_EQ(c("COPY t TO PROGRAM 'cat'").kind, StatementKind::Other);
}

TEST(Classify, TransactionsAndSessionState)
{
    EXPECT_EQ(c("BEGIN").kind, StatementKind::Begin);
    EXPECT_EQ(c("START TRANSACTION ISOLATION LEVEL SERIALIZABLE").kind, StatementKind::Begin);
    auto commit = c("COMMIT");
    EXPECT_EQ(commit.kind, StatementKind::Other);
    EXPECT_TRUE(commit.has_transaction_control);
    auto whole = c("BEGIN; UPDATE t SET a = 1; COMMIT");
    EXPECT_EQ(whole.kind, StatementKind::Data);
    EXPECT_TRUE(whole.has_transaction_control);
    EXPECT_EQ(c("SET search_path = app, public").kind, StatementKind::SessionSet);
    EXPECT_EQ(c("SET LOCAL statement_timeout = 5").kind, StatementKind::Other);
    EXPECT_TRUE(c("RESET ALL").resets_session);
    auto discard = c("DISCARD ALL");
    EXPECT_EQ(discard.kind, StatementKind::SessionSet);
    EXPECT_TRUE(discard.discards_prepared);
    auto d = c("DEALLOCATE foo");
    EXPECT_EQ(d.kind, StatementKind::Deallocate);
    EXPECT_EQ(d.deallocate_name, "foo");
    EXPECT_EQ(c("DEALLOCATE ALL").deallocate_name, "");
}

TEST(Classify, UtilityAndGarbageStayOnTheMonolith)
{
    EXPECT_EQ(c("CREATE TABLE t (a int)").kind, StatementKind::Other);
    EXPECT_EQ(c("VACUUM pgbench_accounts").kind, StatementKind::Other);
    EXPECT_EQ(c("SELECT * INTO newt FROM t").kind, StatementKind::Other);
    EXPECT_EQ(c("SELECT 1; CREATE INDEX ON t (a)").kind, StatementKind::Other);
    auto bad = c("SELEC nonsense FROM");
    EXPECT_FALSE(bad.parsed);
    EXPECT_EQ(bad.kind, StatementKind::Other);
    EXPECT_EQ(c("").kind, StatementKind::Other);
    auto explain = c("EXPLAIN ANALYZE UPDATE t SET a = 1");
    EXPECT_EQ(explain.kind, StatementKind::Data);
    EXPECT_TRUE(explain.write);
}

TEST(Classify, ResolveNeedsOneOwnerForEveryTable)
{
    std::string error;
    auto t = parse_route_document(R"({"format":1,"services":[
        {"name":"a","tables":["public.t","public.u"],"dsn":"x","percent":50},
        {"name":"b","tables":["public.v"],"dsn":"y","percent":50}]})",
                                  error);
    ASSERT_TRUE(t) << error;
    EXPECT_EQ(resolve_service(c("SELECT * FROM t JOIN u USING (id)"), *t), 0);
    EXPECT_EQ(resolve_service(c("SELECT * FROM v"), *t), 1);
    EXPECT_EQ(resolve_service(c("SELECT * FROM t JOIN v USING (id)"), *t), -1);
    EXPECT_EQ(resolve_service(c("SELECT * FROM t JOIN monolith_only USING (id)"), *t), -1);
    EXPECT_EQ(resolve_service(c("SELECT 1"), *t), -1);
    EXPECT_EQ(resolve_service(c("CREATE INDEX ON t (a)"), *t), -1);
}

TEST(Classify, CacheParsesEachShapeOnce)
{
    ClassifierCache cache(8);
    ScanResult scan;
    std::string a = "SELECT * FROM t WHERE id = 1", b = "SELECT * FROM t WHERE id = 2 /*route_key='k'*/";
    auto first = cache.classify(a.c_str(), a.size(), scan);
    auto second = cache.classify(b.c_str(), b.size(), scan);
    EXPECT_EQ(first.get(), second.get());
    EXPECT_EQ(cache.misses(), 1u);
    EXPECT_EQ(scan.route_comment, "route_key='k'");
    for (int i = 0; i < 20; ++i) {
        std::string s = "SELECT * FROM t" + std::to_string(i);
        (void)cache.classify(s.c_str(), s.size(), scan);
    }
    EXPECT_LE(cache.size(), 8u);
}

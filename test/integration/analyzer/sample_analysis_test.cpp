// `pymigrate analyze` on the sample monolith with a workload: pg_stat_statements
// for the queries, the server's own statement log for the transactions.
#include <fstream>
#include <sstream>

#include "test/harness/cluster_fixture.hpp"
#include "test/harness/datasets.hpp"
#include "test/integration/analyzer/analyzer_helpers.hpp"

using namespace pymigrate::testing;
using namespace pymigrate::analyzer::testing;

namespace
{

constexpr const char *kPrefix = "%m [%p] %c %x ";

class SampleAnalysis : public ClusterSuite<SampleAnalysis, 1>
{
  public:
    static ClusterOptions
    options(int)
    {
        ClusterOptions o;
        o.name = "shop";
        o.settings = {{"shared_preload_libraries", "'pymigrate,pg_stat_statements'"},
                      {"log_line_prefix", std::string("'") + kPrefix + "'"}};
        return o;
    }

    static void
    SetUpTestSuite()
    {
        ClusterSuite::SetUpTestSuite();
        try {
            load_sample_monolith(cluster(0), "shop", 1);
            auto c = cluster(0).connect("shop");
            c.exec("CREATE EXTENSION pg_stat_statements");
            c.exec("ALTER DATABASE shop SET log_statement = 'all'");
            c.exec("SELECT pg_stat_statements_reset()");
            run_shop_workload(cluster(0).dsn("shop"));
        } catch (const std::exception &e) {
            workload_error() = e.what();
        }
    }

  protected:
    void
    SetUp() override
    {
        ClusterSuite::SetUp();
        ASSERT_EQ(workload_error(), "") << "loading the sample monolith or running its workload failed";
    }
    static std::string &
    workload_error()
    {
        static std::string e;
        return e;
    }
};

} // namespace

TEST_F(SampleAnalysis, RecommendedServicesKeepRelatedTablesTogether)
{
    TempDir dir;
    auto json = dir.path() / "shop.json", svg = dir.path() / "shop.svg", dot = dir.path() / "shop.dot";
    Output out =
        run_cli({"analyze", "--monolith", cluster(0).dsn("shop"), "--log", cluster(0).log_file().string(),
                 "--log-line-prefix", kPrefix, "-o", json.string(), "--svg", svg.string(), "--dot", dot.string()});
    ASSERT_EQ(out.status, 0) << out.text;
    std::ifstream in(json);
    auto a = nlohmann::json::parse(in);
    EXPECT_EQ(a["query_source"], "pg_stat_statements");
    EXPECT_GE(a["model"]["queries"].size(), 17u);
    EXPECT_GE(a["cut"]["transactions"]["total"].get<int>(), 65);
    SCOPED_TRACE(out.text);
    // An order, its lines and its payment are written in one transaction and
    // read together: splitting them would make every checkout distributed.
    EXPECT_TRUE(same_service(a, "orders", "order_items"));
    EXPECT_TRUE(same_service(a, "orders", "payments"));
    // Refunds are only ever read with their payment.
    EXPECT_TRUE(same_service(a, "payments", "refunds"));
    // A ticket is created with its first message and read with its agent.
    EXPECT_TRUE(same_service(a, "support_tickets", "ticket_messages"));
    EXPECT_TRUE(same_service(a, "support_tickets", "agents"));
    // A purchase order is its lines and its supplier.
    EXPECT_TRUE(same_service(a, "purchase_orders", "purchase_order_lines"));
    EXPECT_TRUE(same_service(a, "purchase_orders", "suppliers"));
    // Stock levels change with a stock movement, in one transaction.
    EXPECT_TRUE(same_service(a, "stock_levels", "stock_movements"));
    // A product is shown with its variants.
    EXPECT_TRUE(same_service(a, "products", "product_variants"));
    // Sessions and loyalty accounts belong to the user.
    EXPECT_TRUE(same_service(a, "users", "user_sessions"));
    // And the domains are not all one service.
    EXPECT_FALSE(same_service(a, "orders", "products"));
    EXPECT_FALSE(same_service(a, "support_tickets", "stock_levels"));
    EXPECT_GE(a["services"].size(), 4u);
    EXPECT_GT(a["cut"]["modularity"].get<double>(), 0.3);
    // The loyalty point written with an order is a distributed transaction now, and says so.
    bool loyalty_cut = false;
    for (const auto &t : a["cut"]["distributed_transactions"])
        for (const auto &w : t["written"])
            loyalty_cut |= w == "loyalty_accounts";
    EXPECT_TRUE(loyalty_cut || same_service(a, "orders", "loyalty_accounts"));
    // The summary a person reads, and the picture.
    EXPECT_NE(out.text.find("## Services"), std::string::npos);
    EXPECT_NE(out.text.find("## Cost of the cut"), std::string::npos);
    EXPECT_NE(out.text.find("order_service"), std::string::npos);
    std::stringstream svg_text;
    svg_text << std::ifstream(svg).rdbuf();
    EXPECT_NE(svg_text.str().find("<svg"), std::string::npos);
    EXPECT_NE(svg_text.str().find("#cc0000"), std::string::npos); // cut edges drawn red
    EXPECT_NE(svg_text.str().find("orders"), std::string::npos);

    // --json prints the same document; --from reads it back and scores it the same.
    Output again = run_cli({"analyze", "--from", json.string(), "--json"});
    ASSERT_EQ(again.status, 0) << again.text;
    auto b = nlohmann::json::parse(again.text);
    EXPECT_NEAR(b["cut"]["modularity"].get<double>(), a["cut"]["modularity"].get<double>(), 1e-9);
    // Moving a table and scoring again.
    Output moved = run_cli({"analyze", "--from", json.string(), "--pin", "refunds=support_ticket_service", "--json"});
    ASSERT_EQ(moved.status, 0) << moved.text;
    auto m = nlohmann::json::parse(moved.text);
    EXPECT_TRUE(same_service(m, "refunds", "support_tickets"));
    EXPECT_LT(m["cut"]["modularity"].get<double>(), a["cut"]["modularity"].get<double>());
    // The same seed gives the same services.
    Output second = run_cli({"analyze", "--monolith", cluster(0).dsn("shop"), "--json"});
    Output third = run_cli({"analyze", "--monolith", cluster(0).dsn("shop"), "--json"});
    ASSERT_EQ(second.status, 0) << second.text;
    EXPECT_EQ(nlohmann::json::parse(second.text)["services"], nlohmann::json::parse(third.text)["services"]);
}

TEST_F(SampleAnalysis, WithoutPermissionForPgStatStatementsTheAnalysisGoesOn)
{
    auto c = cluster(0).connect("shop");
    c.exec("DROP ROLE IF EXISTS analyst");
    c.exec("CREATE ROLE analyst LOGIN");
    c.exec("REVOKE ALL ON pg_stat_statements FROM PUBLIC");
    std::string dsn = cluster(0).dsn("shop") + " user=analyst";
    Output out = run_cli({"analyze", "--monolith", dsn, "--json"});
    ASSERT_EQ(out.status, 0) << out.text;
    auto a = nlohmann::json::parse(out.text);
    std::string warnings = a["warnings"].dump();
    EXPECT_NE(warnings.find("cannot read pg_stat_statements"), std::string::npos) << warnings;
    EXPECT_NE(warnings.find("permission denied"), std::string::npos) << warnings;
    EXPECT_EQ(a["model"]["tables"].size(), 27u);
    EXPECT_GE(a["services"].size(), 2u);

    // Allowed to read the view but not other roles' statements: those are left out, and it says so.
    c.exec("GRANT SELECT ON pg_stat_statements TO analyst");
    out = run_cli({"analyze", "--monolith", dsn, "--json"});
    ASSERT_EQ(out.status, 0) << out.text;
    a = nlohmann::json::parse(out.text);
    EXPECT_NE(a["warnings"].dump().find("hidden from this role"), std::string::npos) << a["warnings"].dump();

    // A human summary says it too, and a bad source is a clear error with exit status 1.
    out = run_cli({"analyze", "--monolith", dsn});
    EXPECT_NE(out.text.find("## Warnings"), std::string::npos) << out.text;
    c.exec("GRANT ALL ON pg_stat_statements TO PUBLIC");
    out = run_cli({"analyze", "--monolith", cluster(0).dsn("no_such_db")});
    EXPECT_EQ(out.status, 1) << out.text;
    EXPECT_NE(out.text.find("no_such_db"), std::string::npos) << out.text;
}

TEST_F(SampleAnalysis, BadInputsAreClearErrors)
{
    TempDir dir;
    auto bad_ddl = dir.path() / "bad.sql";
    std::ofstream(bad_ddl) << "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (id int,, x int);\n";
    Output out = run_cli({"analyze", "--ddl", bad_ddl.string()});
    EXPECT_EQ(out.status, 1);
    EXPECT_NE(out.text.find("bad.sql:2:24: syntax error at or near \",\""), std::string::npos) << out.text;

    auto log = dir.path() / "app.log";
    std::ofstream(log) << "Jan  1 00:00:00 host app[1]: something happened\n";
    out = run_cli({"analyze", "--monolith", cluster(0).dsn("shop"), "--log", log.string()});
    EXPECT_EQ(out.status, 1);
    EXPECT_NE(out.text.find("cannot tell the format of statement log"), std::string::npos) << out.text;

    out = run_cli({"analyze", "--ddl", bad_ddl.string(), "--monolith", cluster(0).dsn("shop")});
    EXPECT_EQ(out.status, 2) << out.text; // two sources: a usage error
    out = run_cli({"analyze", "--monolith", cluster(0).dsn("shop"), "--pin", "nope=x"});
    EXPECT_EQ(out.status, 1);
    EXPECT_NE(out.text.find("--pin names table \"nope\""), std::string::npos) << out.text;
}

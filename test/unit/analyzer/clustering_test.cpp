// Clustering: the same seed gives the same services; the user's options
// (number of services, pins, renames) hold; an edited analysis is scored
// again, and a broken one is refused with the reason.
#include <gtest/gtest.h>

#include "analyzer/analysis.hpp"
#include "analyzer/analysis_json.hpp"
#include "analyzer/sources.hpp"
#include "test/unit/analyzer/test_files.hpp"

using namespace pymigrate::analyzer;
using pymigrate::analyzer::testing::TempFile;

namespace
{

Model
sample_model()
{
    TempFile f(".sql", pymigrate::analyzer::testing::sample_ddl());
    return build_model(load_ddl(f.path()), std::nullopt);
}

bool
together(const Analysis &a, const std::string &x, const std::string &y)
{
    return a.service_of(x) && a.service_of(x) == a.service_of(y);
}

} // namespace

TEST(Clustering, SameSeedSameServices)
{
    Analysis a = analyze(sample_model(), {}, {});
    Analysis b = analyze(sample_model(), {}, {});
    ASSERT_EQ(a.services.size(), b.services.size());
    for (size_t i = 0; i < a.services.size(); ++i) {
        EXPECT_EQ(a.services[i].name, b.services[i].name);
        EXPECT_EQ(a.services[i].tables, b.services[i].tables);
    }
    EXPECT_GT(a.score.modularity, 0.3);
    EXPECT_GT(a.score.coupling, 0.0);
    EXPECT_LT(a.score.coupling, 0.6);
    // Foreign keys alone already keep a ticket with its messages, a purchase order with its lines.
    EXPECT_TRUE(together(a, "support_tickets", "ticket_messages"));
    EXPECT_TRUE(together(a, "purchase_orders", "purchase_order_lines"));
    EXPECT_TRUE(together(a, "users", "user_sessions"));
}

TEST(Clustering, NumberOfServicesPinsAndRenames)
{
    ClusterOptions o;
    o.services = 3;
    Analysis a = analyze(sample_model(), {}, o);
    EXPECT_EQ(a.services.size(), 3u);

    ClusterOptions p;
    p.pins = {{"coupons", "billing"}, {"payments", "billing"}, {"refunds", "billing"}, {"users", "identity"}};
    p.renames = {{"support_ticket_service", "helpdesk"}};
    Analysis b = analyze(sample_model(), {}, p);
    ASSERT_TRUE(b.service("billing"));
    ASSERT_TRUE(b.service("identity"));
    EXPECT_TRUE(together(b, "coupons", "refunds"));
    EXPECT_EQ(b.service_of("users")->name, "identity");
    EXPECT_TRUE(b.service("helpdesk"));
    EXPECT_FALSE(b.service("support_ticket_service"));

    ClusterOptions bad;
    bad.pins = {{"no_such_table", "x"}};
    EXPECT_THROW(analyze(sample_model(), {}, bad), AnalysisError);
    ClusterOptions too_many;
    too_many.services = 100;
    EXPECT_THROW(analyze(sample_model(), {}, too_many), AnalysisError);
}

TEST(Clustering, EditedAnalysisIsScoredAgain)
{
    Analysis a = analyze(sample_model(), {}, {});
    nlohmann::json j = to_json(a);
    // The document round-trips to the same services and scores.
    Analysis same = analysis_from_json(j);
    EXPECT_EQ(same.services.size(), a.services.size());
    EXPECT_NEAR(same.score.modularity, a.score.modularity, 1e-9);
    EXPECT_EQ(same.score.foreign_keys.size(), a.score.foreign_keys.size());

    // Move users out of its service into a new one: more foreign keys cross.
    for (auto &s : j["services"])
        for (auto it = s["tables"].begin(); it != s["tables"].end(); ++it)
            if (*it == "users") {
                s["tables"].erase(it);
                break;
            }
    j["services"].push_back({{"name", "lonely_users"}, {"tables", {"users"}}});
    Analysis moved = analysis_from_json(j);
    EXPECT_EQ(moved.service_of("users")->name, "lonely_users");
    EXPECT_GT(moved.score.foreign_keys.size(), a.score.foreign_keys.size());
    EXPECT_LT(moved.score.modularity, a.score.modularity);

    // A table in two services, a table in none, an unknown table: refused with the reason.
    nlohmann::json twice = j;
    twice["services"][0]["tables"].push_back("users");
    EXPECT_THROW(
        {
            try {
                analysis_from_json(twice);
            } catch (const AnalysisError &e) {
                EXPECT_NE(std::string(e.what()).find("\"users\" is in two services"), std::string::npos) << e.what();
                throw;
            }
        },
        AnalysisError);
    nlohmann::json none = j;
    none["services"].erase(none["services"].size() - 1);
    EXPECT_THROW(analysis_from_json(none), AnalysisError);
    nlohmann::json unknown = j;
    unknown["services"][0]["tables"].push_back("nope");
    EXPECT_THROW(analysis_from_json(unknown), AnalysisError);
    EXPECT_THROW(analysis_from_json(nlohmann::json{{"hello", 1}}), AnalysisError);
}

TEST(Clustering, CyclicForeignKeysAndTablesWithoutKeys)
{
    TempFile f(".sql", "CREATE TABLE a (id int PRIMARY KEY, b_id int NOT NULL);\n"
                       "CREATE TABLE b (id int PRIMARY KEY, c_id int NOT NULL REFERENCES a DEFERRABLE);\n"
                       "CREATE TABLE c (id int PRIMARY KEY, a_id int NOT NULL REFERENCES b);\n"
                       "ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES c;\n"
                       "CREATE TABLE audit_log (at timestamptz, what text);\n");
    Analysis a = analyze(build_model(load_ddl(f.path()), std::nullopt), {}, {});
    EXPECT_TRUE(together(a, "a", "b"));
    EXPECT_TRUE(together(a, "b", "c"));
    EXPECT_EQ(a.score.foreign_keys_total, 3);
    EXPECT_TRUE(a.service_of("audit_log")); // alone, but in a service
}

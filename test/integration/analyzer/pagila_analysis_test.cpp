// Pagila (a DVD rental schema from pg_dump): its DDL file analyzed, and one
// service generated; skipped, saying so, where Pagila is absent.
#include <fstream>

#include <gtest/gtest.h>

#include "test/harness/datasets.hpp"
#include "test/integration/analyzer/analyzer_helpers.hpp"

using namespace pymigrate::testing;
using namespace pymigrate::analyzer::testing;

TEST(PagilaAnalysis, FilmsRentalsAndPlacesLandTogether)
{
    PYMIGRATE_REQUIRE_PAGILA();
    Output out = run_cli({"analyze", "--ddl", (*pagila_dir() / "pagila-schema.sql").string(), "--json"});
    ASSERT_EQ(out.status, 0) << out.text;
    auto a = nlohmann::json::parse(out.text);
    SCOPED_TRACE(a["services"].dump());
    // The seven payment partitions are one table, payment.
    EXPECT_EQ(a["model"]["tables"].size(), 15u);
    // A film is described by its actors, categories and language: one catalogue.
    EXPECT_TRUE(same_service(a, "film", "film_actor"));
    EXPECT_TRUE(same_service(a, "film", "film_category"));
    EXPECT_TRUE(same_service(a, "film_actor", "actor"));
    EXPECT_TRUE(same_service(a, "film_category", "category"));
    // Addresses are a place: address, city, country.
    EXPECT_TRUE(same_service(a, "address", "city"));
    EXPECT_TRUE(same_service(a, "city", "country"));
    // And the catalogue is not the places.
    EXPECT_FALSE(same_service(a, "film", "country"));

    auto film = service_with(a, "film");
    TempDir dir;
    auto analysis = dir.path() / "pagila.json";
    std::ofstream(analysis) << a.dump();
    auto project = dir.path() / "catalogue";
    out = run_cli({"generate", "--from", analysis.string(), "--name", film["name"], "--out", project.string()});
    ASSERT_EQ(out.status, 0) << out.text;
    Output lint = openapi_lint(project / "openapi.json");
    EXPECT_EQ(lint.status, 0) << lint.text;
}

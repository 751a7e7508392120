// The extension skeleton in a server with shared_preload_libraries:
// it loads, creates its schema, and its error boundary holds.
#include "test/harness/cluster_fixture.hpp"

using namespace pymigrate::testing;

class ExtensionCore : public ClusterSuite<ExtensionCore, 1> {};

TEST_F(ExtensionCore, CreateExtensionMakesSchemaAndReportsVersion)
{
    auto c = cluster(0).connect();
    c.exec("CREATE EXTENSION IF NOT EXISTS pymigrate");
    EXPECT_EQ(c.scalar("SELECT extversion FROM pg_extension WHERE extname = 'pymigrate'"), PYMIGRATE_VERSION);
    EXPECT_EQ(c.scalar("SELECT pymigrate.version()"), PYMIGRATE_VERSION);
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'pymigrate'"), "1");
}

TEST_F(ExtensionCore, CppExceptionsBecomeSqlErrorsAndTheSessionGoesOn)
{
    auto c = cluster(0).connect();
    c.exec("CREATE EXTENSION IF NOT EXISTS pymigrate");
    const std::pair<const char *, const char *> cases[] = {
        {"error", "22023"}, {"std", "XX000"}, {"bad_alloc", "53200"}, {"pg", "22012"}};
    for (auto [kind, sqlstate] : cases) {
        try {
            c.exec("SELECT pymigrate._boundary_selftest($1)", {std::string(kind)});
            ADD_FAILURE() << kind << " did not raise";
        } catch (const pymigrate::pq::Error &e) {
            EXPECT_EQ(e.sqlstate(), sqlstate) << kind << ": " << e.what();
        }
        // Same connection, same backend: still usable.
        EXPECT_EQ(c.scalar("SELECT 41 + 1"), "42");
    }
    EXPECT_EQ(c.scalar("SELECT pymigrate._boundary_selftest('pg_caught')"),
              "caught 22012 (division by zero), destructors run: 1");
}

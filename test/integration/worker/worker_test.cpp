// The worker framework on a live server: the supervisor keeps one manager
// per database with the extension, starts it at CREATE EXTENSION, restarts
// it after a failure, and gets out of the way of DROP EXTENSION / DATABASE.
#include <chrono>

#include "test/harness/cluster_fixture.hpp"
#include "test/harness/wait.hpp"

using namespace pymigrate::testing;
using namespace std::chrono_literals;

class Workers : public ClusterSuite<Workers, 1> {
  public:
    static ClusterOptions options(int)
    {
        ClusterOptions o;
        o.name = "workers";
        // A long recheck, so that only CREATE EXTENSION's wake-up can start
        // a manager within the tests' time limits.
        o.settings = {{"pymigrate.extension_recheck", "600"}, {"pymigrate.naptime", "200"}};
        return o;
    }
};

namespace {

const std::string kManagers =
    "SELECT count(*) FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid "
    "WHERE backend_type = 'pymigrate manager' AND d.datname = $1";

std::string
managers(pymigrate::pq::Connection &c, const std::string &db)
{
    return c.scalar(kManagers, {db}).value_or("?");
}

} // namespace

TEST_F(Workers, SupervisorRunsWithoutAnyDatabase)
{
    auto c = cluster(0).connect();
    EXPECT_EQ(wait_for_value(c, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pymigrate supervisor'",
                             "1"),
              "1");
    EXPECT_EQ(managers(c, "postgres"), "0") << "a manager stays in a database without the extension";
}

TEST_F(Workers, CreateExtensionStartsTheManagerAndDropExtensionStopsIt)
{
    auto admin = cluster(0).connect();
    admin.exec("CREATE DATABASE wk_app");
    auto app = cluster(0).connect("wk_app");
    app.exec("CREATE EXTENSION pymigrate");
    EXPECT_TRUE(eventually([&] { return managers(admin, "wk_app") == "1"; }, 10s))
        << "no manager 10 s after CREATE EXTENSION";
    EXPECT_EQ(app.scalar("SELECT count(*) FROM pymigrate.worker_status WHERE kind = 'pymigrate manager' "
                         "AND database = current_database()"),
              "1");
    app.exec("DROP EXTENSION pymigrate");
    EXPECT_TRUE(eventually([&] { return managers(admin, "wk_app") == "0"; }, 10s))
        << "the manager outlived DROP EXTENSION";
}

TEST_F(Workers, ATerminatedManagerComesBack)
{
    auto admin = cluster(0).connect();
    admin.exec("CREATE DATABASE wk_restart");
    auto app = cluster(0).connect("wk_restart");
    app.exec("CREATE EXTENSION pymigrate");
    ASSERT_TRUE(eventually([&] { return managers(admin, "wk_restart") == "1"; }, 10s));
    auto pid = admin.scalar("SELECT pid FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid "
                            "WHERE backend_type = 'pymigrate manager' AND d.datname = 'wk_restart'");
    ASSERT_TRUE(pid);
    admin.exec("SELECT pg_terminate_backend($1)", {*pid});
    EXPECT_TRUE(eventually(
        [&] {
            auto now = admin.scalar("SELECT pid FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid "
                                    "WHERE backend_type = 'pymigrate manager' AND d.datname = 'wk_restart'");
            return now && *now != *pid;
        },
        15s))
        << "no new manager after the old one was terminated";
}

TEST_F(Workers, DropDatabaseIsNotBlockedByOurWorkers)
{
    auto admin = cluster(0).connect();
    admin.exec("CREATE DATABASE wk_drop");
    {
        auto app = cluster(0).connect("wk_drop");
        app.exec("CREATE EXTENSION pymigrate");
    }
    ASSERT_TRUE(eventually([&] { return managers(admin, "wk_drop") == "1"; }, 10s));
    auto t0 = std::chrono::steady_clock::now();
    admin.exec("DROP DATABASE wk_drop");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    EXPECT_EQ(admin.scalar("SELECT count(*) FROM pg_database WHERE datname = 'wk_drop'"), "0");
    // The supervisor does not try to start a manager there again.
    EXPECT_EQ(admin.scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pymigrate manager' "
                           "AND datid IS NOT NULL AND datid NOT IN (SELECT oid FROM pg_database)"),
              "0");
}

TEST_F(Workers, WithoutPreloadThereIsNoBackgroundWorkAndNoError)
{
    // The extension also works loaded on demand (CREATE EXTENSION in a
    // server without the preload line): its wake-up is then a no-op.
    ClusterOptions o;
    o.name = "nopreload";
    o.preload = false;
    Cluster plain(o);
    auto c = plain.connect();
    c.exec("CREATE EXTENSION pymigrate");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pymigrate.worker_status"), "0");
    EXPECT_EQ(c.scalar("SELECT pymigrate.version()"), PYMIGRATE_VERSION);
}

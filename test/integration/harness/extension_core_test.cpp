// The extension skeleton in a server with shared_preload_libraries:
// it loads, creates its schema, and its error boundary holds.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "test/harness/cluster_fixture.hpp"

using namespace pymigrate::testing;

class ExtensionCore : public ClusterSuite<ExtensionCore, 2> {};

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

TEST_F(ExtensionCore, PeerInfoReportsWhatTheOtherServerOffers)
{
    auto c = cluster(0).connect();
    c.exec("CREATE EXTENSION IF NOT EXISTS pymigrate");
    auto peer = cluster(1).connect();
    peer.exec("DROP EXTENSION IF EXISTS pymigrate");
    const std::string q = "SELECT pymigrate.peer_info($1) ->> $2";
    EXPECT_EQ(c.scalar(q, {cluster(1).dsn(), "extension_version"}), std::nullopt);
    EXPECT_EQ(c.scalar(q, {cluster(1).dsn(), "wal_level"}), "logical");
    EXPECT_EQ(c.scalar(q, {cluster(1).dsn(), "preloaded"}), "true");
    peer.exec("CREATE EXTENSION pymigrate");
    EXPECT_EQ(c.scalar(q, {cluster(1).dsn(), "extension_version"}), PYMIGRATE_VERSION);
}

TEST_F(ExtensionCore, PeerDownIsAClearErrorWithoutThePassword)
{
    auto c = cluster(0).connect();
    c.exec("CREATE EXTENSION IF NOT EXISTS pymigrate");
    std::string dsn = "host=127.0.0.1 port=1 user=postgres password=hunter2 connect_timeout=5";
    try {
        c.exec("SELECT pymigrate.peer_info($1)", {dsn});
        FAIL() << "no error for a server that is down";
    } catch (const pymigrate::pq::Error &e) {
        std::string msg = e.what();
        EXPECT_EQ(e.sqlstate(), "08001") << msg;
        EXPECT_NE(msg.find("could not connect to peer"), std::string::npos) << msg;
        EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
    }
    EXPECT_EQ(c.scalar("SELECT 1"), "1");
}

TEST_F(ExtensionCore, AWaitOnAPeerThatNeverAnswersIsInterruptible)
{
    // A socket that accepts connections (the kernel completes the handshake
    // from the backlog) but never speaks: the backend waits for the server's
    // reply, and only its latch can get it out.
    int s = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(s, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(bind(s, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(listen(s, 8), 0);
    ASSERT_EQ(getsockname(s, reinterpret_cast<sockaddr *>(&addr), &len), 0);
    std::string dsn = "host=127.0.0.1 port=" + std::to_string(ntohs(addr.sin_port)) + " connect_timeout=60";

    auto c = cluster(0).connect();
    c.exec("CREATE EXTENSION IF NOT EXISTS pymigrate");
    c.exec("SET statement_timeout = '300ms'");
    auto t0 = std::chrono::steady_clock::now();
    try {
        c.exec("SELECT pymigrate.peer_info($1)", {dsn});
        ADD_FAILURE() << "no error from a silent peer";
    } catch (const pymigrate::pq::Error &e) {
        EXPECT_EQ(e.sqlstate(), "57014") << e.what(); // query_canceled
    }
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(waited, std::chrono::seconds(10)) << "the wait ignored statement_timeout";
    c.exec("RESET statement_timeout");
    EXPECT_EQ(c.scalar("SELECT 1"), "1");
    close(s);
}

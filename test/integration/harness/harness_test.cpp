// The harness itself: servers start configured for pymigrate, stop, crash
// and restart, and never outlive the process that owns them.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test/harness/cluster_fixture.hpp"

namespace fs = std::filesystem;
using namespace pymigrate::testing;

namespace {

bool
wait_gone(pid_t pid, int seconds)
{
    for (int i = 0; i < seconds * 100; ++i) {
        if (kill(pid, 0) != 0)
            return true;
        std::string stat;
        std::ifstream("/proc/" + std::to_string(pid) + "/stat") >> stat >> stat >> stat;
        if (stat == "Z")
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

// Runs `body` in a forked child that reports (postmaster pid, cluster dir)
// through a pipe and then waits to be signalled.
std::pair<pid_t, std::pair<pid_t, std::string>>
child_with_cluster()
{
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        try {
            ClusterOptions o;
            o.name = "orphan";
            auto *c = new Cluster(o); // never destroyed: the signal must clean up
            std::string msg = std::to_string(c->postmaster_pid()) + " " + c->dir().string() + "\n";
            if (write(fds[1], msg.data(), msg.size()) < 0)
                _exit(2);
        } catch (...) {
            _exit(3);
        }
        for (;;)
            pause();
    }
    close(fds[1]);
    char buf[1024] = {};
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    std::string line(buf, n > 0 ? n : 0);
    auto sp = line.find(' ');
    if (sp == std::string::npos)
        return {child, {-1, ""}};
    return {child, {std::stoi(line.substr(0, sp)), line.substr(sp + 1, line.size() - sp - 2)}};
}

} // namespace

TEST_F(TwoClusters, ServersAreConfiguredForPymigrate)
{
    EXPECT_NE(cluster(0).port(), cluster(1).port());
    for (int i = 0; i < 2; ++i) {
        auto c = cluster(i).connect();
        EXPECT_EQ(c.scalar("SHOW wal_level"), "logical");
        EXPECT_EQ(c.scalar("SHOW track_commit_timestamp"), "on");
        EXPECT_EQ(c.scalar("SHOW shared_preload_libraries"), "pymigrate");
        EXPECT_EQ(c.scalar("SELECT current_user"), "postgres");
        EXPECT_GE(std::stoi(*c.scalar("SHOW max_replication_slots")), 16);
    }
}

TEST_F(TwoClusters, KillNineThenRestartKeepsCommittedData)
{
    Cluster &s = cluster(1);
    {
        auto c = s.connect();
        c.exec("CREATE TABLE crash_probe(id int primary key); INSERT INTO crash_probe SELECT generate_series(1, 1000)");
    }
    pid_t before = s.postmaster_pid();
    ASSERT_GT(before, 0);
    s.kill9();
    EXPECT_FALSE(s.running());
    EXPECT_TRUE(wait_gone(before, 5));
    s.start();
    EXPECT_TRUE(s.running());
    auto c = s.connect();
    EXPECT_EQ(c.scalar("SELECT count(*) FROM crash_probe"), "1000");
    c.exec("DROP TABLE crash_probe");
}

TEST_F(TwoClusters, StopAndStartAgain)
{
    Cluster &m = cluster(0);
    m.stop();
    EXPECT_FALSE(m.running());
    EXPECT_FALSE(pymigrate::pq::ping(m.dsn()));
    m.start();
    EXPECT_TRUE(pymigrate::pq::ping(m.dsn()));
}

TEST(ClusterStartFailure, SaysWhichClusterAndShowsItsLog)
{
    ClusterOptions o;
    o.name = "broken";
    o.settings = {{"shared_buffers", "'1kB'"}};
    try {
        Cluster c(o);
        FAIL() << "a cluster with shared_buffers=1kB started";
    } catch (const ClusterError &e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find("\"broken\""), std::string::npos) << msg;
        EXPECT_NE(msg.find("failed to start"), std::string::npos) << msg;
        EXPECT_NE(msg.find("shared_buffers"), std::string::npos) << msg; // from the log tail
    }
}

TEST(ClusterCleanup, SigintStopsTheServerAndRemovesTheDirectory)
{
    auto [child, info] = child_with_cluster();
    auto [postmaster, dir] = info;
    ASSERT_GT(postmaster, 0) << "child could not create its cluster";
    ASSERT_TRUE(fs::exists(dir));
    kill(child, SIGINT);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    EXPECT_TRUE(wait_gone(postmaster, 10));
    EXPECT_FALSE(fs::exists(dir)) << dir;
}

TEST(ClusterCleanup, SigkillOfTheOwnerTakesTheServerDownAndTheNextRunSweeps)
{
    auto [child, info] = child_with_cluster();
    auto [postmaster, dir] = info;
    ASSERT_GT(postmaster, 0) << "child could not create its cluster";
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    EXPECT_TRUE(wait_gone(postmaster, 10)) << "postmaster survived its owner";
    ASSERT_TRUE(fs::exists(dir)) << "nothing left to sweep: test is not testing";
    std::string cmd = std::string(PM_CLUSTER_PATH) + " run -c sweeper -- true >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    EXPECT_FALSE(fs::exists(fs::path(dir).parent_path())) << "stale run directory was not swept";
}

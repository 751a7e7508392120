// A live system: a writer keeps changing rows on the monolith and, like a
// sync with lag, applies each change to the service a little later. Rows in
// flight differ at any instant; after the re-check none may be reported.
#include <chrono>
#include <deque>
#include <thread>

#include "test/integration/validate/validate_fixture.hpp"
#include "test/integration/validate/writer_thread.hpp"

using namespace pymigrate::testing;
using namespace std::chrono;

namespace {

class ValidateLive : public ValidateSuite {};

// Changes row 1, 2, 3, ... once each on the monolith, and `lag` later on
// the service, until stopped.
class LaggingWriter : public WriterThread {
  public:
    LaggingWriter(Cluster &mono, Cluster &svc, milliseconds lag) : mono_(mono.connect()), svc_(svc.connect()), lag_(lag)
    {
        start([this] { run(); });
    }
    ~LaggingWriter() { stop(); } // before the connections the thread uses go

  private:
    void run()
    {
        std::deque<std::pair<steady_clock::time_point, int>> in_flight;
        int next = 1;
        while (!stopping() || !in_flight.empty()) {
            while (!in_flight.empty() && in_flight.front().first <= steady_clock::now()) {
                svc_.exec("UPDATE busy SET v = 'moved' WHERE id = $1", {std::to_string(in_flight.front().second)});
                in_flight.pop_front();
            }
            if (!stopping()) {
                mono_.exec("UPDATE busy SET v = 'moved' WHERE id = $1", {std::to_string(next)});
                in_flight.emplace_back(steady_clock::now() + lag_, next++);
                wrote();
            }
            std::this_thread::sleep_for(milliseconds(3));
        }
    }
    pymigrate::pq::Connection mono_, svc_;
    milliseconds lag_;
};

} // namespace

TEST_F(ValidateLive, AConcurrentWriterCausesNoFalseDiscrepancyAfterTheRecheck)
{
    for (int i = 0; i < 2; ++i) {
        auto c = cluster(i).connect();
        c.exec("SET client_min_messages = warning; DROP TABLE IF EXISTS busy");
        c.exec("CREATE TABLE busy (id int PRIMARY KEY, v text)");
        c.exec("INSERT INTO busy SELECT i, 'v' || i FROM generate_series(1, 200000) i");
        c.exec("VACUUM ANALYZE busy");
    }
    auto mono = monolith().connect();
    auto confirmed = [&mono](const std::string &run) {
        return std::stoi(*mono.scalar(
            "SELECT count(*) FROM pymigrate.discrepancy WHERE run_id = $1 AND status = 'confirmed'", {run}));
    };

    LaggingWriter writer(monolith(), service(), milliseconds(100));
    std::this_thread::sleep_for(milliseconds(500));

    // Without the re-check, rows in flight are reported: the writer does
    // produce the situation the re-check is for.
    auto naive = mono.scalar("SELECT pymigrate.validate(ARRAY['busy'], $1, recheck => false)", {service().dsn()});
    EXPECT_GT(confirmed(*naive), 0) << "no row was in flight: the test proves nothing";

    int before = writer.writes();
    auto run = mono.scalar("SELECT pymigrate.validate(ARRAY['busy'], $1, recheck_delay => '2 s')", {service().dsn()});
    int during = writer.writes() - before;
    writer.stop();
    ASSERT_EQ(writer.error(), "");
    EXPECT_GT(during, 0) << "the writer did not run during the validation";
    EXPECT_EQ(confirmed(*run), 0) << "a row in flight was reported as a discrepancy";
    EXPECT_GT(std::stoi(*mono.scalar("SELECT resolved FROM pymigrate.consistency_report($1)", {*run})), 0)
        << "no row was in flight during the re-checked run";

    // Once the writer has stopped and the lag has passed, everything agrees.
    auto last = mono.scalar("SELECT pymigrate.validate(ARRAY['busy'], $1, recheck => false)", {service().dsn()});
    EXPECT_EQ(mono.scalar("SELECT status FROM pymigrate.validation_run WHERE id = $1", {*last}), "consistent");
}

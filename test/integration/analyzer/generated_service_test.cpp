// `pymigrate generate` end to end: the spec passes a real OpenAPI validator,
// the FastAPI app runs under uvicorn against a live database holding the
// service's tables, real HTTP requests succeed, bad ones get a 4xx with a
// clear body, and the generated pytest suite passes.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "test/harness/cluster_fixture.hpp"
#include "test/harness/datasets.hpp"
#include "test/integration/analyzer/analyzer_helpers.hpp"

extern char **environ;

using namespace pymigrate::testing;
using namespace pymigrate::analyzer::testing;
namespace fs = std::filesystem;

namespace
{

class GeneratedService : public ClusterSuite<GeneratedService, 1>
{
  public:
    static ClusterOptions
    options(int)
    {
        ClusterOptions o;
        o.name = "api";
        return o;
    }
};

std::string
bin(const char *name)
{
    return (pg_bindir() / name).string();
}

// uvicorn serving the generated app, stopped when the test ends.
class Uvicorn
{
  public:
    Uvicorn(const fs::path &project, const std::string &database_url, int port)
    {
        std::string cmd = "cd " + shell_quote(project.string()) + " && DATABASE_URL=" + shell_quote(database_url) +
                          " exec /usr/bin/python3 -m uvicorn app.main:app --host 127.0.0.1 --port " +
                          std::to_string(port) + " --log-level warning > " +
                          shell_quote((project / "uvicorn.log").string()) + " 2>&1";
        char *argv[] = {const_cast<char *>("/bin/sh"), const_cast<char *>("-c"), cmd.data(), nullptr};
        if (posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, argv, environ) != 0)
            pid_ = -1;
    }
    ~Uvicorn()
    {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            int status;
            waitpid(pid_, &status, 0);
        }
    }
    Uvicorn(const Uvicorn &) = delete;
    Uvicorn &operator=(const Uvicorn &) = delete;
    bool
    started() const
    {
        return pid_ > 0;
    }

  private:
    pid_t pid_ = -1;
};

nlohmann::json
probe(const std::string &base, const nlohmann::json &requests, const fs::path &dir)
{
    auto file = dir / "requests.json";
    std::ofstream(file) << requests.dump();
    Output out =
        run("/usr/bin/python3 " + shell_quote((source_dir() / "test/integration/analyzer/http_probe.py").string()) +
            " " + shell_quote(base) + " " + shell_quote(file.string()));
    if (out.status != 0)
        throw std::runtime_error("http_probe.py failed: " + out.text);
    return nlohmann::json::parse(out.text);
}

// Loads the generated schema.sql into a new database and copies the service's
// rows from the monolith, as the sync would.
void
create_service_database(const Cluster &c, const std::string &db, const fs::path &project,
                        const std::vector<std::string> &tables, const std::string &monolith_db)
{
    c.connect().exec("CREATE DATABASE " + db);
    c.psql_file(project / "schema.sql", db);
    if (tables.empty())
        return;
    std::string cmd = shell_quote(bin("pg_dump")) + " --data-only";
    for (const auto &t : tables)
        cmd += " -t " + shell_quote("public." + t);
    cmd += " " + shell_quote(c.dsn(monolith_db)) + " | " + shell_quote(bin("psql")) + " -X -q -v ON_ERROR_STOP=1 " +
           shell_quote(c.dsn(db)) + " > /dev/null";
    Output out = run(cmd);
    if (out.status != 0)
        throw std::runtime_error("copying the service's rows failed: " + out.text);
}

} // namespace

TEST_F(GeneratedService, SampleServiceRunsUnderUvicornAndPassesItsTests)
{
    load_sample_monolith(cluster(0), "shop", 1);
    TempDir dir;
    auto analysis = dir.path() / "shop.json";
    Output out = run_cli({"analyze", "--monolith", cluster(0).dsn("shop"), "-o", analysis.string()});
    ASSERT_EQ(out.status, 0) << out.text;
    auto a = nlohmann::json::parse(std::ifstream(analysis));
    auto service = service_with(a, "orders");
    ASSERT_FALSE(service.is_null());
    std::string name = service["name"];
    auto project = dir.path() / name;
    out = run_cli({"generate", "--from", analysis.string(), "--name", name, "--out", project.string()});
    ASSERT_EQ(out.status, 0) << out.text;
    EXPECT_NE(out.text.find("/orders"), std::string::npos) << out.text;

    // The spec is valid OpenAPI 3.0.3, in both encodings.
    for (const char *spec : {"openapi.json", "openapi.yaml"}) {
        Output lint = openapi_lint(project / spec);
        EXPECT_EQ(lint.status, 0) << lint.text;
        EXPECT_NE(lint.text.find("is valid"), std::string::npos) << lint.text;
    }

    create_service_database(cluster(0), "svc", project, service["tables"].get<std::vector<std::string>>(), "shop");
    std::string database_url = cluster(0).dsn("svc");

    // The generated tests, through FastAPI's TestClient.
    Output tests = run("cd " + shell_quote(project.string()) + " && DATABASE_URL=" + shell_quote(database_url) +
                       " /usr/bin/python3 -m pytest");
    EXPECT_EQ(tests.status, 0) << tests.text;
    EXPECT_NE(tests.text.find(" passed"), std::string::npos) << tests.text;
    EXPECT_EQ(tests.text.find(" failed"), std::string::npos) << tests.text;

    // The app under uvicorn, over real HTTP.
    int port = free_port();
    Uvicorn server(project, database_url, port);
    ASSERT_TRUE(server.started());
    std::string base = "http://127.0.0.1:" + std::to_string(port);
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
        up = run("/usr/bin/python3 -c " +
                 shell_quote("import httpx,sys; sys.exit(httpx.get('" + base + "/health').status_code != 200)"))
                 .status == 0;
        if (!up)
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::stringstream log;
    log << std::ifstream(project / "uvicorn.log").rdbuf();
    ASSERT_TRUE(up) << "uvicorn did not answer on " << base << ":\n" << log.str();

    const std::string injection = "'); DROP TABLE orders; --";
    nlohmann::json requests = nlohmann::json::array({
        {{"method", "GET"}, {"path", "/openapi.json"}},
        {{"method", "GET"}, {"path", "/orders"}, {"params", {{"limit", "3"}, {"order", "total.desc"}}}},
        {{"method", "GET"}, {"path", "/orders"}, {"params", {{"status", "in.(paid,shipped)"}, {"total", "gte.10"}}}},
        {{"method", "GET"}, {"path", "/orders"}, {"params", {{"no_such_column", "eq.1"}}}},
        {{"method", "GET"}, {"path", "/orders"}, {"params", {{"total", "gte.abc"}}}},
        {{"method", "GET"}, {"path", "/orders"}, {"params", {{"total", "between.1"}}}},
        {{"method", "GET"}, {"path", "/orders"}, {"params", {{"id", "eq.1;DROP TABLE orders"}}}},
        {{"method", "GET"}, {"path", "/orders/not-a-number"}},
        {{"method", "GET"}, {"path", "/orders/987654321"}},
        {{"method", "POST"}, {"path", "/orders"}, {"json", {{"user_id", "not-a-uuid"}, {"subtotal", 1}, {"total", 1}}}},
        {{"method", "POST"},
         {"path", "/orders"},
         {"json",
          {{"user_id", "00000000-0000-0000-0000-000000000001"},
           {"subtotal", 1},
           {"total", 1},
           {"coupon_code", std::string(30, 'x')}}}},
        {{"method", "POST"},
         {"path", "/orders"},
         {"json",
          {{"user_id", "00000000-0000-0000-0000-000000000001"}, {"subtotal", 1}, {"total", 1}, {"colour", "red"}}}},
        {{"method", "POST"},
         {"path", "/orders"},
         {"json",
          {{"user_id", "00000000-0000-0000-0000-000000000001"},
           {"subtotal", 12.5},
           {"total", 12.5},
           {"notes", injection}}}},
        {{"method", "GET"}, {"path", "/orders"}, {"params", {{"notes", "eq." + injection}}}},
        {{"method", "GET"}, {"path", "/orders"}, {"params", {{"limit", "100000"}}}},
    });
    auto r = probe(base, requests, dir.path());
    ASSERT_EQ(r.size(), requests.size());
    for (size_t i = 0; i < r.size(); ++i)
        EXPECT_LT(r[i]["status"].get<int>(), 500) << requests[i].dump() << " -> " << r[i].dump();
    EXPECT_EQ(r[0]["status"], 200);
    EXPECT_EQ(r[0]["body"]["openapi"], "3.0.3");
    EXPECT_EQ(r[1]["status"], 200) << r[1].dump();
    ASSERT_EQ(r[1]["body"]["items"].size(), 3u);
    EXPECT_GE(r[1]["body"]["items"][0]["total"].get<double>(), r[1]["body"]["items"][1]["total"].get<double>());
    EXPECT_EQ(r[2]["status"], 200) << r[2].dump();
    for (const auto &row : r[2]["body"]["items"]) {
        EXPECT_TRUE(row["status"] == "paid" || row["status"] == "shipped") << row.dump();
        EXPECT_GE(row["total"].get<double>(), 10);
    }
    EXPECT_EQ(r[3]["status"], 400);
    EXPECT_EQ(r[3]["body"]["code"], "unknown_parameter");
    EXPECT_NE(r[3]["body"]["message"].get<std::string>().find("no_such_column"), std::string::npos);
    EXPECT_EQ(r[4]["status"], 400);
    EXPECT_EQ(r[4]["body"]["code"], "invalid_value");
    EXPECT_EQ(r[5]["status"], 400);
    EXPECT_EQ(r[5]["body"]["code"], "invalid_filter");
    EXPECT_EQ(r[6]["status"], 400);
    EXPECT_EQ(r[7]["status"], 400);
    EXPECT_EQ(r[8]["status"], 404);
    EXPECT_EQ(r[8]["body"]["code"], "not_found");
    EXPECT_EQ(r[9]["status"], 422);
    EXPECT_NE(r[9]["body"]["message"].get<std::string>().find("user_id"), std::string::npos) << r[9].dump();
    EXPECT_EQ(r[10]["status"], 422);
    EXPECT_NE(r[10]["body"]["message"].get<std::string>().find("coupon_code"), std::string::npos) << r[10].dump();
    EXPECT_EQ(r[11]["status"], 422);
    EXPECT_NE(r[11]["body"]["message"].get<std::string>().find("colour"), std::string::npos) << r[11].dump();
    // The text that looks like SQL is stored as text, and found again as text.
    EXPECT_EQ(r[12]["status"], 201) << r[12].dump();
    EXPECT_EQ(r[12]["body"]["notes"], injection);
    EXPECT_EQ(r[13]["status"], 200);
    ASSERT_EQ(r[13]["body"]["items"].size(), 1u) << r[13].dump();
    EXPECT_EQ(r[14]["status"], 400);
    EXPECT_EQ(cluster(0).connect("svc").scalar("SELECT count(*) > 1000 FROM orders"), "t");

    // The same generated tests, against the running service.
    tests =
        run("cd " + shell_quote(project.string()) + " && API_URL=" + shell_quote(base) + " /usr/bin/python3 -m pytest");
    EXPECT_EQ(tests.status, 0) << tests.text;
}

TEST_F(GeneratedService, OddIdentifiersReservedWordsAndTablesWithoutKeys)
{
    TempDir dir;
    auto ddl = dir.path() / "odd.sql";
    std::ofstream(ddl) << R"SQL(CREATE SCHEMA "Sales Dept";
CREATE TYPE "Sales Dept"."Deal Stage" AS ENUM ('lead', 'won', 'lost');
CREATE TABLE "Sales Dept"."Order Items" (
    "Id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "class" text NOT NULL,
    "from" date,
    "select" varchar(5) CHECK ("select" IN ('a', 'b')),
    "Unit Price" numeric(8, 2) NOT NULL CHECK ("Unit Price" > 0),
    "2fa" boolean,
    "json" jsonb,
    stage "Sales Dept"."Deal Stage" NOT NULL DEFAULT 'lead',
    "user" int REFERENCES "user"
);
CREATE TABLE "user" ("ID" int PRIMARY KEY, "Full Name" varchar(40) NOT NULL, tags text[]);
CREATE TABLE audit_log (at timestamptz, what text);
)SQL";
    auto project = dir.path() / "odd";
    Output out =
        run_cli({"generate", "--ddl", ddl.string(), "--tables", "\"Sales Dept\".\"Order Items\",\"user\",audit_log",
                 "--name", "odd_service", "--out", project.string()});
    ASSERT_EQ(out.status, 0) << out.text;
    EXPECT_NE(out.text.find("skipped audit_log: no primary key"), std::string::npos) << out.text;
    Output lint = openapi_lint(project / "openapi.yaml");
    EXPECT_EQ(lint.status, 0) << lint.text;

    create_service_database(cluster(0), "odd", project, {}, "");
    EXPECT_EQ(cluster(0).connect("odd").scalar("SELECT count(*) FROM pg_tables WHERE tablename IN "
                                               "('Order Items', 'user', 'audit_log')"),
              "3");
    Output tests = run("cd " + shell_quote(project.string()) +
                       " && DATABASE_URL=" + shell_quote(cluster(0).dsn("odd")) + " /usr/bin/python3 -m pytest");
    EXPECT_EQ(tests.status, 0) << tests.text;
    EXPECT_NE(tests.text.find(" passed"), std::string::npos) << tests.text;

    // A directory pymigrate did not write is not overwritten.
    auto mine = dir.path() / "mine";
    fs::create_directories(mine);
    std::ofstream(mine / "notes.txt") << "mine";
    out = run_cli({"generate", "--ddl", ddl.string(), "--tables", "\"user\"", "--out", mine.string()});
    EXPECT_EQ(out.status, 1);
    EXPECT_NE(out.text.find("was not written by pymigrate"), std::string::npos) << out.text;
}

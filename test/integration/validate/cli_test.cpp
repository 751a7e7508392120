// `pymigrate validate`: the report as a table and as JSON, exit codes,
// repair, and no password in anything it prints.
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>

#include "test/integration/validate/validate_fixture.hpp"

using namespace pymigrate::testing;

namespace {

struct Output {
    int status;
    std::string out; // stdout then stderr
};

std::string
shell_quote(const std::string &s)
{
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

Output
cli(const std::string &args, bool with_stderr = true)
{
    std::string cmd = std::string(PYMIGRATE_CLI_PATH) + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
    FILE *p = popen(cmd.c_str(), "r");
    Output o{-1, ""};
    if (!p)
        return o;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        o.out.append(buf.data(), n);
    int rc = pclose(p);
    o.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return o;
}

class ValidateCli : public ValidateSuite {
  protected:
    void SetUp() override
    {
        ValidateSuite::SetUp();
        if (HasFatalFailure())
            return;
        for (int i = 0; i < 2; ++i) {
            auto c = cluster(i).connect();
            c.exec("SET client_min_messages = warning; DROP TABLE IF EXISTS accounts");
            c.exec("CREATE TABLE accounts (id int PRIMARY KEY, email text, balance numeric(10, 2))");
            c.exec("INSERT INTO accounts SELECT i, 'u' || i || '@example.com', i FROM generate_series(1, 1000) i");
        }
    }
    // The harness trusts local connections: a password is accepted and ignored.
    std::string args(const std::string &rest)
    {
        return "validate --monolith " + shell_quote(monolith().dsn() + " password=monolith-secret") + " --service " +
               shell_quote(service().dsn() + " password=service-secret") + " " + rest;
    }
};

} // namespace

TEST_F(ValidateCli, ConsistentTablesExitZeroWithAReadableTable)
{
    Output o = cli(args("-t accounts"));
    EXPECT_EQ(o.status, 0) << o.out;
    EXPECT_NE(o.out.find("consistent"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("public.accounts"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("100.0000%"), std::string::npos) << o.out;
    EXPECT_EQ(o.out.find("secret"), std::string::npos) << o.out;
}

TEST_F(ValidateCli, DifferencesExitThreeAndJsonListsThem)
{
    service().connect().exec("UPDATE accounts SET balance = balance + 1 WHERE id IN (10, 20)");
    service().connect().exec("DELETE FROM accounts WHERE id = 30");
    Output o = cli(args("-t accounts --no-recheck --json -v"), false);
    EXPECT_EQ(o.status, 3) << o.out;
    auto j = nlohmann::json::parse(o.out);
    EXPECT_EQ(j["status"], "inconsistent");
    EXPECT_EQ(j["tables"][0]["changed"], 2);
    EXPECT_EQ(j["tables"][0]["missing"], 1);
    EXPECT_EQ(j["tables"][0]["rows_compared"], 1000);
    EXPECT_EQ(j["discrepancies_total"], 3);
    EXPECT_EQ(j["discrepancies"].size(), 3u);
    EXPECT_EQ(o.out.find("secret"), std::string::npos) << o.out;

    Output verbose = cli(args("-t accounts --no-recheck -v"));
    EXPECT_EQ(verbose.out.find("secret"), std::string::npos) << verbose.out;
    EXPECT_NE(verbose.out.find("password=********"), std::string::npos) << verbose.out;

    // The repair: statements first, then applied; then consistent.
    Output plan = cli(args("--reconcile monolith-to-service"));
    EXPECT_EQ(plan.status, 0) << plan.out;
    EXPECT_NE(plan.out.find("INSERT INTO public.accounts"), std::string::npos) << plan.out;
    EXPECT_NE(plan.out.find("UPDATE public.accounts SET"), std::string::npos) << plan.out;
    Output applied = cli(args("--reconcile monolith-to-service --apply"));
    EXPECT_EQ(applied.status, 0) << applied.out;
    EXPECT_EQ(cli(args("-t accounts --no-recheck")).status, 0);

    Output status = cli(args("--status --json"), false);
    EXPECT_EQ(status.status, 0) << status.out;
    EXPECT_EQ(nlohmann::json::parse(status.out)[0]["status"], "consistent");
}

TEST_F(ValidateCli, BadUsageAndUnreachableServers)
{
    EXPECT_EQ(cli("validate -t accounts").status, 2); // no --monolith
    Output bad = cli(args("--mapping '{not json'"));
    EXPECT_EQ(bad.status, 2) << bad.out;
    EXPECT_NE(bad.out.find("--mapping is not valid JSON"), std::string::npos) << bad.out;
    Output down = cli("validate --monolith " + shell_quote(monolith().dsn()) +
                      " --service 'host=127.0.0.1 port=1 password=hunter2 connect_timeout=5' -t accounts");
    EXPECT_EQ(down.status, 1) << down.out;
    EXPECT_NE(down.out.find("could not connect"), std::string::npos) << down.out;
    EXPECT_EQ(down.out.find("hunter2"), std::string::npos) << down.out;
}

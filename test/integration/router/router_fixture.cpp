#include "test/integration/router/router_fixture.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char **environ;

namespace fs = std::filesystem;

namespace pymigrate::testing
{

std::string
shim_library()
{
    return PYMIGRATE_SHIM_PATH;
}
std::string
cli_program()
{
    return PYMIGRATE_CLI_PATH;
}
std::string
probe_program()
{
    return PYMIGRATE_PROBE_PATH;
}

namespace
{

std::vector<std::string>
environment(const Env &env)
{
    std::map<std::string, std::string> all;
    for (char **e = environ; *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos)
            all[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto &[k, v] : env) {
        if (v)
            all[k] = *v;
        else
            all.erase(k);
    }
    std::vector<std::string> out;
    for (const auto &[k, v] : all)
        out.push_back(k + "=" + v);
    return out;
}

std::string
read_file(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string
make_temp_dir()
{
    char tmpl[] = "/tmp/pymigrate-router-test-XXXXXX";
    const char *d = mkdtemp(tmpl);
    if (!d)
        throw std::runtime_error("mkdtemp failed");
    return d;
}

pid_t
spawn(const std::vector<std::string> &argv, const Env &env, int stdin_fd, const std::string &out,
      const std::string &err)
{
    auto envs = environment(env);
    std::vector<char *> a, e;
    for (const auto &s : argv)
        a.push_back(const_cast<char *>(s.c_str()));
    a.push_back(nullptr);
    for (const auto &s : envs)
        e.push_back(const_cast<char *>(s.c_str()));
    e.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + strerror(errno));
    if (pid == 0) {
        // Its own process group, so a timeout kills what it started too
        // (psql under timeout(1)).
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int r = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(stdin_fd, 0);
        dup2(o, 1);
        dup2(r, 2);
        execve(a[0], a.data(), e.data());
        _exit(127);
    }
    return pid;
}

int
decode(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace

ProcessResult
run_process(const std::vector<std::string> &argv, const Env &env, const std::string &input,
            std::chrono::seconds timeout)
{
    Background b(argv, env);
    if (!input.empty())
        b.write_stdin(input);
    return b.wait(timeout);
}

Background::Background(const std::vector<std::string> &argv, const Env &env) : dir_(make_temp_dir())
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    pid_ = spawn(argv, env, fds[0], dir_ + "/out", dir_ + "/err");
    close(fds[0]);
    stdin_fd_ = fds[1];
}

Background::~Background()
{
    if (!done_ && pid_ > 0) {
        kill(-pid_, SIGKILL);
        int st;
        waitpid(pid_, &st, 0);
    }
    if (stdin_fd_ >= 0)
        close(stdin_fd_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

void
Background::write_stdin(const std::string &text)
{
    ssize_t n = ::write(stdin_fd_, text.data(), text.size());
    (void)n;
}

std::string
Background::out_so_far() const
{
    return read_file(dir_ + "/out");
}

bool
Background::wait_for_output(const std::string &needle, std::chrono::milliseconds timeout) const
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (out_so_far().find(needle) != std::string::npos)
            return true;
        int st;
        if (waitpid(pid_, &st, WNOHANG) == pid_)
            return out_so_far().find(needle) != std::string::npos;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

ProcessResult
Background::wait(std::chrono::seconds timeout)
{
    close(stdin_fd_);
    stdin_fd_ = -1;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_)
            break;
        if (std::chrono::steady_clock::now() > deadline) {
            kill(-pid_, SIGKILL);
            waitpid(pid_, &status, 0);
            done_ = true;
            throw std::runtime_error("process timed out: " + out_so_far() + read_file(dir_ + "/err"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    done_ = true;
    return ProcessResult{decode(status), read_file(dir_ + "/out"), read_file(dir_ + "/err")};
}

std::map<std::string, std::string>
key_values(const std::string &out)
{
    std::map<std::string, std::string> kv;
    std::stringstream ss(out);
    std::string line;
    while (std::getline(ss, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos)
            kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return kv;
}

ClusterOptions
RouterClusters::options(int i)
{
    ClusterOptions o;
    o.name = i == 0 ? "monolith" : "service";
    // The sync gates' tests run real subscriptions: quick retries and
    // manager passes (as the sync tests use) so a failing one says so in
    // seconds.
    o.settings = {{"shared_preload_libraries", "'pymigrate,pg_stat_statements'"},
                  {"pg_stat_statements.track_utility", "off"},
                  {"pymigrate.sync_retry_max", "2000"},
                  {"pymigrate.naptime", "500"}};
    return o;
}

void
RouterClusters::SetUpTestSuite()
{
    ClusterSuite<RouterClusters, 2>::SetUpTestSuite();
    try {
        for (int i = 0; i < 2; ++i) {
            Cluster &c = cluster(i);
            std::string which = i == 0 ? "monolith" : "service";
            auto r = run_process({pgbin("pgbench"), "-i", "-q", "-s", "1", c.dsn()});
            if (r.status != 0)
                throw std::runtime_error("pgbench -i: " + r.err);
            auto db = c.connect();
            db.exec("CREATE EXTENSION pg_stat_statements");
            db.exec("CREATE TABLE probe (which text)");
            db.exec("INSERT INTO probe VALUES ('" + which + "')");
            db.exec("CREATE TABLE other (which text)");
            db.exec("INSERT INTO other VALUES ('" + which + "')");
            db.exec("CREATE TABLE svc_counter (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)");
            db.exec("INSERT INTO svc_counter SELECT g FROM generate_series(1, 100) g");
            db.exec("CREATE TABLE svc_audit (xid bigint, id int)");
            db.exec("CREATE TABLE svc_audit2 (xid bigint, id int)");
            db.exec("CREATE FUNCTION note() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'notice from the " +
                    which + "'; RETURN '" + which + "'; END $$");
        }
        monolith().connect().exec("CREATE EXTENSION pymigrate");
    } catch (const std::exception &e) {
        ADD_FAILURE() << "setting up the clusters: " << e.what();
    }
}

void
RouterClusters::TearDownTestSuite()
{
    std::error_code ec;
    fs::remove(log_file(), ec);
    ClusterSuite<RouterClusters, 2>::TearDownTestSuite();
}

void
RouterClusters::SetUp()
{
    ClusterSuite<RouterClusters, 2>::SetUp();
    if (HasFatalFailure())
        return;
    if (!service().running())
        service().start();
    clear_routes();
    reset_counts();
    std::error_code ec;
    fs::remove(log_file(), ec);
}

int64_t
RouterClusters::set_route(const nlohmann::json &spec)
{
    auto c = monolith().connect();
    return std::stoll(*c.scalar("SELECT pymigrate.route_set($1::jsonb)", {spec.dump()}));
}

nlohmann::json
RouterClusters::bank_route(double percent, bool sticky)
{
    return {{"name", "bank"},
            {"tables",
             {"public.pgbench_accounts", "public.pgbench_branches", "public.pgbench_tellers", "public.pgbench_history",
              "public.probe", "public.svc_counter", "public.svc_audit", "public.svc_audit2"}},
            {"dsn", service().dsn()},
            {"percent", percent},
            {"sticky", sticky},
            {"enabled", true}};
}

void
RouterClusters::clear_routes()
{
    auto c = monolith().connect();
    c.exec("DELETE FROM pymigrate.route");
    c.exec("DELETE FROM pymigrate.route_history");
    c.exec("DELETE FROM pymigrate.route_stats");
}

long
RouterClusters::calls(Cluster &c, const std::string &regex)
{
    auto db = c.connect();
    return std::stol(*db.scalar("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query ~* $1", {regex}));
}

void
RouterClusters::reset_counts()
{
    for (int i = 0; i < 2; ++i)
        if (cluster(i).running())
            cluster(i).connect().exec("SELECT pg_stat_statements_reset()");
}

std::string
RouterClusters::log_file()
{
    return "/tmp/pymigrate-router-test-" + std::to_string(getpid()) + ".log";
}

std::string
RouterClusters::shim_log()
{
    return read_file(log_file());
}

Env
RouterClusters::shim_env(Env extra)
{
    Env env = {{"LD_PRELOAD", shim_library()},
               {"PYMIGRATE_CONTROL_DSN", monolith().dsn()},
               {"PYMIGRATE_LOG", log_file()},
               {"PROBE_DSN", monolith().dsn()},
               {"PGOPTIONS", std::nullopt}};
    for (auto &[k, v] : extra)
        env[k] = v;
    return env;
}

std::string
RouterClusters::pgbin(const std::string &program)
{
    return (pg_bindir() / program).string();
}

ProcessResult
RouterClusters::psql(const std::string &script, const Env &env)
{
    return run_process({pgbin("psql"), "-X", "-v", "ON_ERROR_STOP=0", "-At", "-d", monolith().dsn()}, env, script);
}

ProcessResult
RouterClusters::pgbench(const std::vector<std::string> &args, const Env &env)
{
    std::vector<std::string> argv{pgbin("pgbench"), "-n"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(monolith().dsn());
    return run_process(argv, env);
}

} // namespace pymigrate::testing

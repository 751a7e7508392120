#include "test/harness/cluster.hpp"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/dsn.hpp"

namespace fs = std::filesystem;

namespace pymigrate::testing {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- identity

struct RunAs {
    bool switch_user = false; // we are root: servers run as `postgres`
    uid_t uid = 0;
    gid_t gid = 0;
};

const RunAs &
run_as()
{
    static const RunAs who = [] {
        RunAs r;
        if (geteuid() != 0)
            return r;
        struct passwd *pw = getpwnam("postgres");
        if (!pw)
            throw ClusterError("running as root, but there is no `postgres` user to run PostgreSQL as "
                               "(PostgreSQL refuses to run as root); install postgresql-15");
        r.switch_user = true;
        r.uid = pw->pw_uid;
        r.gid = pw->pw_gid;
        return r;
    }();
    return who;
}

// In a forked child: become the postgres user if we are root. Async-signal-safe.
void
become_server_user_or_exit(const RunAs &who)
{
    if (!who.switch_user)
        return;
    if (setgid(who.gid) != 0 || setgroups(1, &who.gid) != 0 || setuid(who.uid) != 0)
        _exit(126);
}

// In a forked child before exec: output appended to `log` (the test prints its tail on failure), no stdin.
// Only async-signal-safe calls, as a child of a threaded test process must.
void
redirect_child_stdio(const fs::path &log)
{
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
}

void
chown_for_server(const fs::path &p)
{
    const RunAs &who = run_as();
    if (who.switch_user && chown(p.c_str(), who.uid, who.gid) != 0)
        throw ClusterError("cannot give " + p.string() + " to the postgres user: " + strerror(errno));
}

std::string
env_or(const char *name, const std::string &fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

// ---------------------------------------------------------------- processes

bool
process_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0)
        return errno == EPERM;
    // A zombie is dead for our purposes (its parent may never reap it).
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

// Runs argv, optionally as the server user, with output to `output`.
// Returns the exit status (or 128 + signal).
int
run_command(const std::vector<std::string> &argv, bool as_server_user, const fs::path &output)
{
    const RunAs &who = run_as();
    std::vector<char *> args;
    for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0)
        throw ClusterError(std::string("fork failed: ") + strerror(errno));
    if (pid == 0) {
        redirect_child_stdio(output);
        if (as_server_user)
            become_server_user_or_exit(who);
        execv(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string
file_tail(const fs::path &file, size_t lines)
{
    std::ifstream in(file);
    if (!in)
        return "(no log at " + file.string() + ")";
    std::deque<std::string> tail;
    std::string line;
    while (std::getline(in, line)) {
        tail.push_back(line);
        if (tail.size() > lines)
            tail.pop_front();
    }
    std::string out;
    for (const auto &l : tail)
        out += "    " + l + "\n";
    return out;
}

int
free_port()
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        throw ClusterError(std::string("cannot create a socket to find a free port: ") + strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
        close(fd);
        throw ClusterError(std::string("cannot find a free port: ") + strerror(errno));
    }
    close(fd);
    return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------- registry
//
// What the signal handler needs, in plain arrays: it may not allocate.

constexpr int kMaxClusters = 64;
struct Slot {
    bool used = false;
    char dir[512] = {};
    pid_t child = -1;
};
std::array<Slot, kMaxClusters> g_slots;
char g_run_dir[512] = {};
bool g_handlers_installed = false;
std::mutex g_mutex;
struct sigaction g_old_actions[3];
constexpr int kCleanupSignals[3] = {SIGINT, SIGTERM, SIGHUP};

pid_t
read_postmaster_pid(const char *data_dir)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/postmaster.pid", data_dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    long pid = strtol(buf, nullptr, 10);
    return pid > 0 ? static_cast<pid_t>(pid) : -1;
}

// Async-signal-safe: immediate shutdown of every registered cluster, then
// removal of the run directory.
void
cleanup_signal_safe()
{
    pid_t pids[kMaxClusters];
    for (int i = 0; i < kMaxClusters; ++i) {
        pids[i] = -1;
        if (!g_slots[i].used)
            continue;
        char data[600];
        snprintf(data, sizeof(data), "%s/data", g_slots[i].dir);
        pids[i] = read_postmaster_pid(data);
        if (pids[i] > 0)
            kill(pids[i], SIGQUIT);
        if (g_slots[i].child > 0)
            kill(g_slots[i].child, SIGQUIT);
    }
    for (int waited = 0; waited < 1000; ++waited) { // up to 10 s
        bool any = false;
        for (int i = 0; i < kMaxClusters; ++i) {
            if (!g_slots[i].used)
                continue;
            if (g_slots[i].child > 0 && waitpid(g_slots[i].child, nullptr, WNOHANG) == g_slots[i].child)
                g_slots[i].child = -1;
            if (g_slots[i].child > 0 || (pids[i] > 0 && kill(pids[i], 0) == 0 && process_alive(pids[i])))
                any = true;
        }
        if (!any)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, nullptr);
    }
    for (int i = 0; i < kMaxClusters; ++i) {
        if (pids[i] > 0 && process_alive(pids[i]))
            kill(pids[i], SIGKILL);
        g_slots[i].used = false;
    }
    if (g_run_dir[0]) {
        // A copy: the fork handler clears g_run_dir in the child.
        char run_dir[sizeof(g_run_dir)];
        memcpy(run_dir, g_run_dir, sizeof(run_dir));
        pid_t rm = fork();
        if (rm == 0) {
            execl("/bin/rm", "rm", "-rf", run_dir, static_cast<char *>(nullptr));
            _exit(127);
        }
        if (rm > 0)
            waitpid(rm, nullptr, 0);
        g_run_dir[0] = '\0';
    }
}

void
on_fatal_signal(int sig)
{
    cleanup_signal_safe();
    for (int i = 0; i < 3; ++i)
        if (kCleanupSignals[i] == sig)
            sigaction(sig, &g_old_actions[i], nullptr);
    raise(sig);
}

// A forked child (a test that forks, or our own fork before exec) must not
// think it owns its parent's clusters: its signal handler would kill them.
void
forget_parent_clusters()
{
    for (auto &s : g_slots)
        s.used = false;
    g_run_dir[0] = '\0';
}

void
install_handlers_once()
{
    if (g_handlers_installed)
        return;
    g_handlers_installed = true;
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (int s : kCleanupSignals)
        sigaddset(&sa.sa_mask, s);
    for (int i = 0; i < 3; ++i)
        sigaction(kCleanupSignals[i], &sa, &g_old_actions[i]);
    atexit([] { cleanup_all_clusters(); });
}

int
register_cluster(const fs::path &dir)
{
    for (int i = 0; i < kMaxClusters; ++i) {
        if (!g_slots[i].used) {
            snprintf(g_slots[i].dir, sizeof(g_slots[i].dir), "%s", dir.c_str());
            g_slots[i].child = -1;
            g_slots[i].used = true;
            return i;
        }
    }
    throw ClusterError("more than 64 clusters in one process");
}

Slot *
slot_for(const fs::path &dir)
{
    for (auto &s : g_slots)
        if (s.used && dir == s.dir)
            return &s;
    return nullptr;
}

// ---------------------------------------------------------------- directories

fs::path
base_dir()
{
    fs::path base = env_or("PYMIGRATE_CLUSTER_DIR", "/tmp/pymigrate-clusters");
    std::error_code ec;
    fs::create_directories(base, ec);
    if (ec)
        throw ClusterError("cannot create " + base.string() + ": " + ec.message());
    // Everyone (the postgres user, other checkouts' tests) must enter it.
    chmod(base.c_str(), 01777);
    return base;
}

// Removes run directories whose owner process is gone, stopping any server
// left in them: what a SIGKILLed test run leaves behind.
void
sweep_stale_runs(const fs::path &base)
{
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(base, ec)) {
        if (entry.path().filename().string().rfind("run-", 0) != 0)
            continue;
        std::ifstream owner_file(entry.path() / "owner");
        pid_t owner = -1;
        if (!(owner_file >> owner) || process_alive(owner))
            continue;
        for (const auto &cluster : fs::directory_iterator(entry.path(), ec)) {
            pid_t pm = read_postmaster_pid((cluster.path() / "data").c_str());
            if (pm > 0 && process_alive(pm))
                kill(pm, SIGQUIT);
        }
        fs::remove_all(entry.path(), ec);
    }
}

fs::path
run_dir()
{
    if (g_run_dir[0])
        return g_run_dir;
    static bool atfork_registered = false;
    if (!atfork_registered) {
        pthread_atfork(nullptr, nullptr, forget_parent_clusters);
        atfork_registered = true;
    }
    fs::path base = base_dir();
    sweep_stale_runs(base);
    for (int attempt = 0;; ++attempt) {
        fs::path candidate = base / ("run-" + std::to_string(getpid()) + "-" + std::to_string(attempt));
        if (mkdir(candidate.c_str(), 0755) == 0) {
            std::ofstream(candidate / "owner") << getpid() << "\n";
            snprintf(g_run_dir, sizeof(g_run_dir), "%s", candidate.c_str());
            return candidate;
        }
        if (errno != EEXIST || attempt > 100)
            throw ClusterError("cannot create a run directory in " + base.string() + ": " + strerror(errno));
    }
}

// initdb runs once per server build; clusters are copies of its output.
fs::path
template_dir()
{
    fs::path bindir = pg_bindir();
    struct stat st {};
    if (stat((bindir / "postgres").c_str(), &st) != 0)
        throw ClusterError("no PostgreSQL server at " + (bindir / "postgres").string() +
                           " (set PYMIGRATE_PGBIN, or run `make deps`)");
    fs::path base = base_dir();
    std::string key = std::to_string(std::hash<std::string>{}(bindir.string() + ":" + std::to_string(st.st_ino) +
                                                               ":" + std::to_string(st.st_mtime)));
    fs::path tmpl = base / ("template-" + key);
    if (fs::exists(tmpl / "PG_VERSION"))
        return tmpl;

    // Several test processes may race to build it: serialize on a lock.
    fs::path lock = base / ("template-" + key + ".lock");
    int fd = open(lock.c_str(), O_RDWR | O_CREAT, 0666);
    if (fd < 0 || flock(fd, LOCK_EX) != 0)
        throw ClusterError("cannot lock " + lock.string() + ": " + strerror(errno));
    struct Unlock {
        int fd;
        ~Unlock() { close(fd); }
    } unlock{fd};
    if (fs::exists(tmpl / "PG_VERSION"))
        return tmpl;
    fs::path work = base / ("template-" + key + ".tmp-" + std::to_string(getpid()));
    std::error_code ec;
    fs::remove_all(work, ec);
    fs::create_directories(work);
    chown_for_server(work);
    fs::path log = base / ("template-" + key + ".log");
    int rc = run_command({(bindir / "initdb").string(), "-D", (work / "data").string(), "-U", "postgres", "-A",
                          "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                         true, log);
    if (rc != 0)
        throw ClusterError("initdb failed (exit " + std::to_string(rc) + ") for the cluster template in " +
                           work.string() + ":\n" + file_tail(log, 20));
    fs::rename(work / "data", tmpl);
    fs::remove_all(work, ec);
    return tmpl;
}

} // namespace

// ==================================================================== public

fs::path
pg_bindir()
{
    return env_or("PYMIGRATE_PGBIN", "/usr/lib/postgresql/15/bin");
}

void
cleanup_all_clusters() noexcept
{
    std::lock_guard<std::mutex> guard(g_mutex);
    cleanup_signal_safe();
}

Cluster::Cluster(ClusterOptions options) : name_(options.name), detached_(options.detached)
{
    std::lock_guard<std::mutex> guard(g_mutex);
    fs::path tmpl = template_dir();
    fs::path run = run_dir();
    if (!detached_)
        install_handlers_once();
    dir_ = run / name_;
    if (fs::exists(dir_))
        throw ClusterError("cluster \"" + name_ + "\" already exists in " + run.string());
    fs::create_directories(dir_);
    chown_for_server(dir_);
    register_cluster(dir_);
    try {
        int rc = run_command({"/bin/cp", "-a", tmpl.string(), data_dir().string()}, true, dir_ / "setup.log");
        if (rc != 0)
            throw ClusterError("cluster \"" + name_ + "\": cannot copy the template into " + data_dir().string() +
                               " (disk full?):\n" + file_tail(dir_ / "setup.log", 10));
        configure(options);
        start();
    } catch (...) {
        // Keep the log for the message already built; remove the rest.
        if (Slot *s = slot_for(dir_))
            s->used = false;
        stop(StopMode::Immediate);
        std::error_code ec;
        fs::remove_all(dir_, ec);
        throw;
    }
}

Cluster
Cluster::adopt(const fs::path &cluster_dir)
{
    Cluster c;
    c.dir_ = fs::absolute(cluster_dir);
    c.name_ = c.dir_.filename().string();
    c.detached_ = true;
    c.owned_ = false;
    std::ifstream conf(c.data_dir() / "pymigrate-harness.conf");
    std::string line;
    while (std::getline(conf, line))
        if (line.rfind("port = ", 0) == 0)
            c.port_ = std::stoi(line.substr(7));
    if (c.port_ == 0)
        throw ClusterError(c.dir_.string() + " is not a pymigrate test cluster (no pymigrate-harness.conf)");
    return c;
}

Cluster::Cluster(Cluster &&o) noexcept
    : name_(std::move(o.name_)), dir_(std::move(o.dir_)), port_(o.port_), detached_(o.detached_), owned_(o.owned_),
      child_(o.child_)
{
    o.owned_ = false;
    o.child_ = -1;
}

Cluster::~Cluster()
{
    if (!owned_)
        return;
    try {
        stop(StopMode::Immediate);
    } catch (...) {
    }
    std::lock_guard<std::mutex> guard(g_mutex);
    if (Slot *s = slot_for(dir_))
        s->used = false;
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

void
Cluster::configure(const ClusterOptions &options)
{
    std::ofstream conf(data_dir() / "postgresql.conf", std::ios::app);
    conf << "\n# --- pymigrate test harness ---\n"
         << "include 'pymigrate-harness.conf'\n"
         << "wal_level = logical\n"
         << "track_commit_timestamp = on\n"
         << "max_replication_slots = 32\n"
         << "max_wal_senders = 32\n"
         << "max_worker_processes = 32\n"
         << "max_logical_replication_workers = 8\n"
         << "max_connections = 200\n"
         // Throwaway clusters: a crash of PostgreSQL (kill -9) loses nothing
         // without fsync; only an OS crash would, and that is not tested.
         << "fsync = off\n"
         << "lc_messages = 'C'\n"
         << "log_line_prefix = '%m [%p] %q%a '\n"
         << "unix_socket_permissions = 0777\n";
    if (options.preload)
        conf << "shared_preload_libraries = 'pymigrate'\n";
    for (const auto &[key, value] : options.settings)
        conf << key << " = " << value << "\n";
    if (!conf)
        throw ClusterError("cluster \"" + name_ + "\": cannot write postgresql.conf (disk full?)");
    conf.close();
    // The port (chosen at start) and listen addresses go to their own file.
    std::ofstream(data_dir() / "pymigrate-harness.conf")
        << "listen_addresses = '" << (options.tcp ? "127.0.0.1" : "") << "'\n";
    chown_for_server(data_dir() / "pymigrate-harness.conf");
}

std::string
Cluster::dsn(const std::string &dbname) const
{
    return "host=" + quote_conninfo_value(socket_dir().string()) + " port=" + std::to_string(port_) +
           " user=postgres dbname=" + quote_conninfo_value(dbname);
}

std::string
Cluster::log_tail(size_t lines) const
{
    return file_tail(log_file(), lines);
}

pid_t
Cluster::postmaster_pid() const
{
    pid_t pid = read_postmaster_pid(data_dir().c_str());
    return process_alive(pid) ? pid : -1;
}

bool
Cluster::running() const
{
    return postmaster_pid() > 0;
}

void
Cluster::start()
{
    // A port another process grabbed between our probe and the server's
    // bind is retried with a new one.
    for (int attempt = 0;; ++attempt) {
        try {
            start_once();
            return;
        } catch (const ClusterError &e) {
            std::string log = file_tail(log_file(), 5);
            bool port_taken = log.find("could not bind") != std::string::npos ||
                              log.find("already in use") != std::string::npos;
            if (!port_taken || attempt >= 5)
                throw;
            port_ = 0;
        }
    }
}

void
Cluster::start_once()
{
    if (running())
        return;
    if (port_ == 0) {
        port_ = free_port();
        // Keep listen_addresses, replace port and socket directory.
        fs::path conf = data_dir() / "pymigrate-harness.conf";
        std::ifstream in(conf);
        std::string line, kept;
        while (std::getline(in, line))
            if (line.rfind("listen_addresses", 0) == 0)
                kept += line + "\n";
        in.close();
        std::ofstream out(conf, std::ios::trunc);
        out << kept << "port = " << port_ << "\n"
            << "unix_socket_directories = '" << socket_dir().string() << "'\n";
        if (!out)
            throw ClusterError("cluster \"" + name_ + "\": cannot write " + conf.string() + " (disk full?)");
    }

    const RunAs &who = run_as();
    std::string postgres = (pg_bindir() / "postgres").string();
    std::string data = data_dir().string();
    std::string log = log_file().string();
    pid_t parent = getpid();
    int pidpipe[2];
    if (pipe(pidpipe) != 0)
        throw ClusterError(std::string("pipe failed: ") + strerror(errno));

    pid_t pid = fork();
    if (pid < 0)
        throw ClusterError(std::string("fork failed: ") + strerror(errno));
    if (pid == 0) {
        close(pidpipe[0]);
        if (detached_) {
            // Double fork: the server is reparented to init and outlives us.
            setsid();
            pid_t grandchild = fork();
            if (grandchild != 0) {
                ssize_t ignored = write(pidpipe[1], &grandchild, sizeof(grandchild));
                (void)ignored;
                _exit(grandchild > 0 ? 0 : 1);
            }
        } else {
            setsid(); // Ctrl-C reaches the harness, which stops the server.
        }
        close(pidpipe[1]);
        redirect_child_stdio(log);
        become_server_user_or_exit(who);
        if (!detached_) {
            // After setuid, which clears it: the server dies with its owner.
            prctl(PR_SET_PDEATHSIG, SIGQUIT);
            if (getppid() != parent)
                _exit(1);
        }
        execl(postgres.c_str(), postgres.c_str(), "-D", data.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    close(pidpipe[1]);
    pid_t server = pid;
    if (detached_) {
        if (read(pidpipe[0], &server, sizeof(server)) != sizeof(server))
            server = -1;
        waitpid(pid, nullptr, 0);
    } else {
        child_ = pid;
        if (Slot *s = slot_for(dir_))
            s->child = pid;
    }
    close(pidpipe[0]);

    auto deadline = Clock::now() + std::chrono::seconds(60);
    std::string conn = dsn();
    for (;;) {
        if (pq::ping(conn))
            return;
        bool dead = server <= 0;
        if (!dead && !detached_ && waitpid(server, nullptr, WNOHANG) == server) {
            dead = true;
            child_ = -1;
            if (Slot *s = slot_for(dir_))
                s->child = -1;
        } else if (!dead && detached_) {
            dead = !process_alive(server);
        }
        if (dead || Clock::now() > deadline)
            throw ClusterError("PostgreSQL cluster \"" + name_ + "\" (port " + std::to_string(port_) + ", data " +
                               data + ") " + (dead ? "failed to start" : "did not accept connections within 60 s") +
                               "; last lines of " + log + ":\n" + file_tail(log_file(), 20));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void
Cluster::wait_stopped(pid_t pid, int timeout_ms)
{
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
        if (child_ > 0 && waitpid(child_, nullptr, WNOHANG) == child_) {
            child_ = -1;
            if (Slot *s = slot_for(dir_))
                s->child = -1;
        }
        if (!process_alive(pid) && child_ <= 0)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void
Cluster::stop(StopMode mode)
{
    pid_t pid = postmaster_pid();
    if (pid <= 0 && child_ > 0)
        pid = child_;
    if (pid <= 0)
        return;
    kill(pid, mode == StopMode::Fast ? SIGINT : SIGQUIT);
    wait_stopped(pid, mode == StopMode::Fast ? 60000 : 10000);
    if (process_alive(pid)) {
        kill(pid, SIGKILL);
        wait_stopped(pid, 10000);
    }
}

void
Cluster::kill9()
{
    pid_t pid = postmaster_pid();
    if (pid <= 0)
        throw ClusterError("cluster \"" + name_ + "\" is not running");
    // Collect the children first: once the postmaster is gone they are
    // reparented and can no longer be found by their parent.
    std::vector<pid_t> children;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator("/proc", ec)) {
        std::string n = entry.path().filename().string();
        if (n.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream stat(entry.path() / "stat");
        std::string content;
        std::getline(stat, content);
        auto paren = content.rfind(')');
        if (paren == std::string::npos)
            continue;
        std::istringstream rest(content.substr(paren + 2));
        char state;
        pid_t ppid;
        if (rest >> state >> ppid && ppid == pid)
            children.push_back(std::stoi(n));
    }
    kill(pid, SIGKILL);
    for (pid_t c : children)
        kill(c, SIGKILL);
    wait_stopped(pid, 10000);
    for (pid_t c : children)
        for (int i = 0; i < 1000 && process_alive(c); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void
Cluster::restart(StopMode mode)
{
    stop(mode);
    start();
}

void
Cluster::psql_file(const fs::path &file, const std::string &dbname, const std::vector<std::string> &variables) const
{
    std::vector<std::string> argv = {(pg_bindir() / "psql").string(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                                     dsn(dbname), "-f", file.string()};
    for (const auto &v : variables) {
        argv.push_back("-v");
        argv.push_back(v);
    }
    fs::path out = dir_ / "psql.out";
    std::error_code ec;
    fs::remove(out, ec);
    int rc = run_command(argv, false, out);
    if (rc != 0)
        throw ClusterError("psql -f " + file.string() + " on cluster \"" + name_ + "\" failed (exit " +
                           std::to_string(rc) + "):\n" + file_tail(out, 20));
}

} // namespace pymigrate::testing

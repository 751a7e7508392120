// pm-cluster: the harness for shell scripts (pg_regress runs, the demo,
// benchmarks). `run` owns clusters for the lifetime of one command; the other
// subcommands act on a cluster directory that command was given.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "test/harness/cluster.hpp"

namespace fs = std::filesystem;
using pymigrate::testing::Cluster;
using pymigrate::testing::ClusterOptions;
using pymigrate::testing::StopMode;

namespace {

volatile sig_atomic_t g_child = -1;
volatile sig_atomic_t g_signal = 0;

void
forward_signal(int sig)
{
    g_signal = sig;
    if (g_child > 0)
        kill(g_child, sig);
}

std::string
env_name(const std::string &cluster)
{
    std::string out;
    for (char c : cluster)
        out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
    return out;
}

// Position of the next comma outside single quotes, or npos: a value such as
// shared_preload_libraries='pymigrate,pg_stat_statements' holds commas.
size_t
next_separator(const std::string &s, size_t pos)
{
    bool quoted = false;
    for (size_t i = pos; i < s.size(); ++i) {
        if (s[i] == '\'')
            quoted = !quoted;
        else if (s[i] == ',' && !quoted)
            return i;
    }
    return std::string::npos;
}

// NAME or NAME:key=value,key=value (settings for that cluster only; a value
// in single quotes may hold commas)
ClusterOptions
parse_cluster_spec(const std::string &spec, bool preload)
{
    ClusterOptions o;
    o.preload = preload;
    auto colon = spec.find(':');
    o.name = spec.substr(0, colon);
    if (o.name.empty() || o.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
        throw CLI::ValidationError("--cluster", "cluster name \"" + o.name + "\" must be lower-case letters, digits, _ or -");
    if (colon == std::string::npos)
        return o;
    std::string rest = spec.substr(colon + 1);
    size_t pos = 0;
    while (pos <= rest.size()) {
        size_t comma = next_separator(rest, pos);
        std::string kv = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
            throw CLI::ValidationError("--cluster", "setting \"" + kv + "\" in \"" + spec + "\" is not key=value");
        o.settings.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        if (comma == std::string::npos)
            break;
        pos = comma + 1;
    }
    return o;
}

int
run_with_clusters(const std::vector<std::string> &specs, bool preload, const std::vector<std::string> &command)
{
    std::vector<std::unique_ptr<Cluster>> clusters;
    for (const auto &spec : specs) {
        ClusterOptions o = parse_cluster_spec(spec, preload);
        std::cerr << "pm-cluster: starting cluster \"" << o.name << "\"" << std::endl;
        clusters.push_back(std::make_unique<Cluster>(o));
        const Cluster &c = *clusters.back();
        std::string p = "PM_" + env_name(c.name()) + "_";
        setenv((p + "DSN").c_str(), c.dsn().c_str(), 1);
        setenv((p + "HOST").c_str(), c.socket_dir().c_str(), 1);
        setenv((p + "PORT").c_str(), std::to_string(c.port()).c_str(), 1);
        setenv((p + "DIR").c_str(), c.dir().c_str(), 1);
        setenv((p + "DATA").c_str(), c.data_dir().c_str(), 1);
        setenv((p + "LOG").c_str(), c.log_file().c_str(), 1);
    }
    setenv("PM_PGBIN", pymigrate::testing::pg_bindir().c_str(), 1);

    struct sigaction sa {};
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP})
        sigaction(s, &sa, nullptr);

    std::vector<char *> argv;
    for (const auto &a : command)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv.data());
        std::cerr << "pm-cluster: cannot run " << argv[0] << ": " << strerror(errno) << std::endl;
        _exit(127);
    }
    g_child = pid;
    int status = 0;
    auto signalled_at = std::chrono::steady_clock::time_point{};
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (g_signal && signalled_at == std::chrono::steady_clock::time_point{})
            signalled_at = std::chrono::steady_clock::now();
        if (g_signal && std::chrono::steady_clock::now() - signalled_at > std::chrono::seconds(15))
            kill(pid, SIGKILL); // the command ignored the interrupt
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    g_child = -1;
    clusters.clear(); // stops the servers, removes their directories
    pymigrate::testing::cleanup_all_clusters();
    if (g_signal)
        return 128 + g_signal;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace

int
main(int argc, char **argv)
{
    CLI::App app{"pm-cluster: throwaway PostgreSQL 15 clusters for pymigrate's tests, benchmarks and demo"};
    app.require_subcommand(1);

    std::vector<std::string> specs;
    std::vector<std::string> command;
    bool no_preload = false;
    auto *run = app.add_subcommand("run", "Start clusters, run a command with PM_<NAME>_{DSN,HOST,PORT,DIR,DATA,LOG} "
                                          "set, then stop and remove the clusters (also on Ctrl-C)");
    run->add_option("-c,--cluster", specs, "NAME or NAME:key=value,... (repeatable)")->required()->allow_extra_args(false);
    run->add_flag("--no-preload", no_preload, "do not put pymigrate in shared_preload_libraries");

    run->footer("Example: pm-cluster run -c monolith -c service:max_connections=50 -- ./demo.sh");

    std::string dir;
    bool immediate = false;
    auto *stop = app.add_subcommand("stop", "Stop the cluster in DIR (a PM_<NAME>_DIR)");
    stop->add_option("dir", dir)->required();
    stop->add_flag("--immediate", immediate, "immediate shutdown (SIGQUIT) instead of fast");
    auto *start = app.add_subcommand("start", "Start the stopped cluster in DIR again (it outlives this command)");
    start->add_option("dir", dir)->required();
    auto *kill9 = app.add_subcommand("kill", "SIGKILL the postmaster of DIR and all its processes (fault tests)");
    kill9->add_option("dir", dir)->required();
    auto *status = app.add_subcommand("status", "Print `running PID` or `stopped` for the cluster in DIR");
    status->add_option("dir", dir)->required();

    // Everything after the first `--` is the command, passed on untouched
    // (CLI11 would otherwise read its options, such as bash's -c).
    int cli_argc = argc;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--") {
            cli_argc = i;
            command.assign(argv + i + 1, argv + argc);
            break;
        }
    }
    CLI11_PARSE(app, cli_argc, argv);
    try {
        if (*run) {
            if (command.empty()) {
                std::cerr << "pm-cluster run: no command given (pm-cluster run -c NAME -- COMMAND...)" << std::endl;
                return 2;
            }
            return run_with_clusters(specs, !no_preload, command);
        }
        Cluster c = Cluster::adopt(dir);
        if (*stop)
            c.stop(immediate ? StopMode::Immediate : StopMode::Fast);
        else if (*start)
            c.start();
        else if (*kill9)
            c.kill9();
        else if (*status) {
            pid_t pid = c.postmaster_pid();
            std::cout << (pid > 0 ? "running " + std::to_string(pid) : std::string("stopped")) << std::endl;
        }
        return 0;
    } catch (const std::exception &e) {
        std::cerr << "pm-cluster: " << e.what() << std::endl;
        return 1;
    }
}

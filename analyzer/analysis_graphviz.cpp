#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "analyzer/analysis_report.hpp"

extern char **environ;

namespace pymigrate::analyzer
{
namespace
{

// Colour-blind-safe fills (Okabe-Ito and Paul Tol's light scheme), cycled.
constexpr const char *kColours[] = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
                                    "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#44BB99", "#BBCC33"};

std::string
dot_string(const std::string &s)
{
    std::string q = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\')
            q += '\\';
        q += c == '\n' ? ' ' : c;
    }
    return q + "\"";
}

} // namespace

std::string
graphviz_dot(const Analysis &a)
{
    std::ostringstream o;
    o << "graph services {\n"
      << "  graph [rankdir=LR, fontname=\"Helvetica\", label=" << dot_string("pymigrate: " + a.model.source)
      << ", labelloc=t, compound=true];\n"
      << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=8];\n";
    std::map<std::string, std::string> service_of;
    size_t i = 0;
    for (const auto &s : a.services) {
        const char *colour = kColours[i % std::size(kColours)];
        o << "  subgraph cluster_" << i << " {\n"
          << "    label=" << dot_string(s.name + " (" + std::to_string(s.tables.size()) + ")")
          << "; style=\"rounded,filled\"; fillcolor=\"" << colour << "33\"; color=\"" << colour << "\";\n";
        for (const auto &t : s.tables) {
            service_of[t] = s.name;
            o << "    " << dot_string(t) << " [fillcolor=\"" << colour << "\""
              << (t == s.central_table ? ", penwidth=2.5" : "") << "];\n";
        }
        o << "  }\n";
        ++i;
    }
    // One edge per tied pair; the cut ones red and labelled with why they tie.
    TableGraph g = build_graph(a.model, a.weights);
    for (const auto &e : g.edges) {
        const auto &ta = g.tables[e.a], &tb = g.tables[e.b];
        bool cut = service_of[ta] != service_of[tb];
        std::string why;
        if (e.foreign_keys)
            why += "FK";
        if (e.query_calls > 0)
            why += std::string(why.empty() ? "" : "+") + "queries";
        if (e.transactions > 0)
            why += std::string(why.empty() ? "" : "+") + "tx";
        char width[16];
        snprintf(width, sizeof width, "%.2f", 0.6 + 1.5 * std::min(e.weight, 3.0) / 3.0);
        o << "  " << dot_string(ta) << " -- " << dot_string(tb) << " [penwidth=" << width;
        // Solid: a foreign key; dashed: only the workload ties them.
        std::string style = e.foreign_keys ? "solid" : "dashed";
        if (cut)
            o << ", color=\"#CC0000\", style=\"bold," << style
              << "\", fontcolor=\"#CC0000\", label=" << dot_string(why);
        else
            o << ", color=\"#00000066\", style=" << style;
        o << "];\n";
    }
    o << "}\n";
    return o.str();
}

void
write_svg(const std::string &dot, const std::string &path)
{
    // dot reads the graph from a pipe and writes the file itself (-o).
    int in[2], err[2];
    if (pipe(in) != 0 || pipe(err) != 0)
        throw std::runtime_error("cannot run Graphviz: " + std::string(strerror(errno)));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, err[0]);
    std::string out = "-o" + path;
    char *argv[] = {const_cast<char *>("dot"), const_cast<char *>("-Tsvg"), out.data(), nullptr};
    pid_t pid;
    int rc = posix_spawnp(&pid, "dot", &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(err[1]);
    if (rc != 0) {
        close(in[1]);
        close(err[0]);
        throw std::runtime_error("cannot run Graphviz's dot (" + std::string(strerror(rc)) +
                                 "): install graphviz, or write --dot and render it elsewhere");
    }
    size_t off = 0;
    while (off < dot.size()) {
        ssize_t w = write(in[1], dot.data() + off, dot.size() - off);
        if (w <= 0)
            break;
        off += static_cast<size_t>(w);
    }
    close(in[1]);
    std::string message;
    char buf[512];
    ssize_t r;
    while ((r = read(err[0], buf, sizeof buf)) > 0)
        message.append(buf, static_cast<size_t>(r));
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("Graphviz's dot failed writing " + path + ": " + message);
}

} // namespace pymigrate::analyzer

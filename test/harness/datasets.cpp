#include "test/harness/datasets.hpp"

#include <cstdlib>

namespace fs = std::filesystem;

namespace pymigrate::testing {
namespace {

void
create_database(const Cluster &cluster, const std::string &dbname)
{
    if (dbname != "postgres")
        cluster.connect().exec("CREATE DATABASE " + pq::quote_ident(dbname));
}

} // namespace

fs::path
source_dir()
{
    const char *top = getenv("PYMIGRATE_TOP");
    if (top && *top)
        return top;
    // Fallback for a test binary run by hand from build/cmake/...: the
    // sources this file was compiled from.
    return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

std::optional<fs::path>
pagila_dir()
{
    std::vector<fs::path> candidates;
    if (const char *env = getenv("PYMIGRATE_PAGILA_DIR"); env && *env)
        candidates.emplace_back(env);
    candidates.push_back(source_dir() / ".." / "shared" / "datasets" / "pagila");
    for (const auto &c : candidates)
        if (fs::exists(c / "pagila-schema.sql") && fs::exists(c / "pagila-data.sql"))
            return fs::canonical(c);
    return std::nullopt;
}

void
load_sample_monolith(const Cluster &cluster, const std::string &dbname, int scale)
{
    create_database(cluster, dbname);
    fs::path sample = source_dir() / "sample";
    cluster.psql_file(sample / "schema.sql", dbname);
    cluster.psql_file(sample / "data.sql", dbname, {"scale=" + std::to_string(scale)});
    cluster.psql_file(sample / "constraints.sql", dbname);
}

void
load_pagila(const Cluster &cluster, const std::string &dbname)
{
    auto dir = pagila_dir();
    if (!dir)
        throw ClusterError("Pagila is not available (see pagila_dir())");
    create_database(cluster, dbname);
    cluster.psql_file(*dir / "pagila-schema.sql", dbname);
    cluster.psql_file(*dir / "pagila-data.sql", dbname);
}

} // namespace pymigrate::testing

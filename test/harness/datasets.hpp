// The data sets tests load: the project's sample monolith (sample/), always
// available, and Pagila (../shared/datasets/pagila), which may be absent.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "test/harness/cluster.hpp"

namespace pymigrate::testing {

// The repository's top directory ($PYMIGRATE_TOP, set by make and ctest).
std::filesystem::path source_dir();

// Where Pagila's pagila-schema.sql and pagila-data.sql are: $PYMIGRATE_PAGILA_DIR,
// else ../shared/datasets/pagila beside the checkout; nullopt when absent.
std::optional<std::filesystem::path> pagila_dir();

// Creates database `dbname` (unless it is "postgres") and loads into it.
void load_sample_monolith(const Cluster &cluster, const std::string &dbname, int scale = 1);
void load_pagila(const Cluster &cluster, const std::string &dbname);

} // namespace pymigrate::testing

// In a test body: skips the test, saying why, when Pagila is not there.
#define PYMIGRATE_REQUIRE_PAGILA()                                                                                     \
    do {                                                                                                               \
        if (!pymigrate::testing::pagila_dir())                                                                         \
            GTEST_SKIP() << "Pagila not found (looked in $PYMIGRATE_PAGILA_DIR and ../shared/datasets/pagila "        \
                            "beside the checkout): skipping this Pagila test";                                         \
    } while (0)

// GoogleTest fixtures giving integration tests live PostgreSQL servers.
//
// Servers are created once per test suite (initdb is the slow part) and
// removed after it, also when a test fails or the run is interrupted (see
// cluster.hpp). A suite that needs other settings derives and overrides
// `options(i)`:
//
//     class SyncTest : public pymigrate::testing::ClusterSuite<SyncTest, 2> {
//       public:
//         static pymigrate::testing::ClusterOptions options(int i) { ... }
//     };
//     TEST_F(SyncTest, Something) { auto c = cluster(0).connect(); ... }
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>

#include "test/harness/cluster.hpp"

namespace pymigrate::testing {

template <typename Derived, int N>
class ClusterSuite : public ::testing::Test {
  public:
    static ClusterOptions options(int i)
    {
        ClusterOptions o;
        o.name = "node" + std::to_string(i);
        return o;
    }

    static void SetUpTestSuite()
    {
        try {
            for (int i = 0; i < N; ++i)
                servers()[i] = std::make_unique<Cluster>(Derived::options(i));
        } catch (const std::exception &e) {
            setup_error() = e.what();
        }
    }

    static void TearDownTestSuite()
    {
        for (auto &s : servers())
            s.reset();
    }

  protected:
    void SetUp() override
    {
        for (int i = 0; i < N; ++i)
            if (!servers()[i])
                FAIL() << "cluster " << i << " could not be created: " << setup_error();
    }

    static Cluster &cluster(int i) { return *servers().at(i); }

  private:
    static std::string &setup_error()
    {
        static std::string e;
        return e;
    }
    static std::array<std::unique_ptr<Cluster>, N> &servers()
    {
        static std::array<std::unique_ptr<Cluster>, N> s;
        return s;
    }
};

// The common cases: a monolith and a service; or three nodes.
class TwoClusters : public ClusterSuite<TwoClusters, 2> {
  public:
    static ClusterOptions options(int i)
    {
        ClusterOptions o;
        o.name = i == 0 ? "monolith" : "service";
        return o;
    }
};

class ThreeClusters : public ClusterSuite<ThreeClusters, 3> {};

} // namespace pymigrate::testing

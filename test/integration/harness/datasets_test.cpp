// The data sets load as documented: the sample monolith at scale 1, Pagila
// where it is present.
#include "test/harness/cluster_fixture.hpp"
#include "test/harness/datasets.hpp"

using namespace pymigrate::testing;

class Datasets : public ClusterSuite<Datasets, 1> {};

TEST_F(Datasets, SampleMonolithHasItsDomainsKeysAndRows)
{
    load_sample_monolith(cluster(0), "shop", 1);
    auto c = cluster(0).connect("shop");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "27");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'f'"), "34");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM order_items"), "20000");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM users"), "4000");
    // Keys of every kind, for the validator and sync tests.
    EXPECT_EQ(c.scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                       "WHERE attrelid = 'users'::regclass AND attname = 'id'"),
              "uuid");
    EXPECT_EQ(c.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 'stock_levels'::regclass "
                       "AND indisprimary AND indnatts = 2"),
              "1");
    // Referential integrity holds (the FKs were validated when added), and
    // the identity sequences continue after the loaded rows.
    EXPECT_EQ(c.scalar("INSERT INTO orders (user_id, subtotal, total) SELECT id, 1, 1 FROM users LIMIT 1 "
                       "RETURNING id > 8000"),
              "t");
}

TEST_F(Datasets, SampleMonolithIsDeterministic)
{
    load_sample_monolith(cluster(0), "shop_a", 1);
    load_sample_monolith(cluster(0), "shop_b", 1);
    const std::string digest = "SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM orders t";
    EXPECT_EQ(cluster(0).connect("shop_a").scalar(digest), cluster(0).connect("shop_b").scalar(digest));
}

TEST_F(Datasets, PagilaLoadsWhenPresent)
{
    PYMIGRATE_REQUIRE_PAGILA();
    load_pagila(cluster(0), "pagila");
    auto c = cluster(0).connect("pagila");
    EXPECT_GT(std::stoi(*c.scalar("SELECT count(*) FROM rental")), 15000);
    EXPECT_GE(std::stoi(*c.scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")), 30);
}

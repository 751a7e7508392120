// Shared pieces of the sync integration tests: a provider and a subscriber
// cluster, subscription set-up, waits on the status view, table checksums.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/pq.hpp"
#include "test/harness/cluster_fixture.hpp"
#include "test/harness/wait.hpp"

namespace pymigrate::testing::sync
{

using namespace std::chrono_literals;

// Settings for both sides: quick retries and manager passes, so that tests
// of failures and restarts wait seconds, not minutes.
inline ClusterOptions
sync_cluster(const std::string &name)
{
    ClusterOptions o;
    o.name = name;
    o.settings = {{"pymigrate.sync_retry_max", "2000"}, {"pymigrate.naptime", "500"}, {"wal_sender_timeout", "10s"}};
    return o;
}

// `o` for a monolith without logical decoding (wal_level replica): trigger
// capture is the only way to read it.
inline ClusterOptions
without_logical_decoding(ClusterOptions o)
{
    o.settings.emplace_back("wal_level", "replica");
    return o;
}

// A provider and a subscriber cluster with sync_cluster()'s settings; a
// suite overrides options() for more.
template <typename Derived> class SyncPair : public ClusterSuite<Derived, 2>
{
  public:
    static ClusterOptions
    options(int i)
    {
        return sync_cluster(i == 0 ? "provider" : "subscriber");
    }

  protected:
    static Cluster &
    provider()
    {
        return ClusterSuite<Derived, 2>::cluster(0);
    }
    static Cluster &
    subscriber()
    {
        return ClusterSuite<Derived, 2>::cluster(1);
    }

    // Database `db` on both sides with the extension (on the provider only
    // when `provider_extension`).
    static void
    make_databases(const std::string &db, bool provider_extension = true)
    {
        for (Cluster *c : {&provider(), &subscriber()}) {
            c->connect().exec("CREATE DATABASE " + db);
            if (c == &subscriber() || provider_extension)
                c->connect(db).exec("CREATE EXTENSION pymigrate");
        }
    }
};

// A SyncPair named as in a migration: the monolith (cluster 0, the
// provider) and the service (cluster 1).
template <typename Derived> class MonolithService : public SyncPair<Derived>
{
  public:
    static ClusterOptions
    options(int i)
    {
        return sync_cluster(i == 0 ? "monolith" : "service");
    }
};

// `sql` fails with SQLSTATE `state` and a message containing `text`.
inline void
expect_sql_error(pq::Connection &c, const std::string &sql, const std::vector<pq::Param> &params,
                 const std::string &state, const std::string &text)
{
    try {
        c.exec(sql, params);
        ADD_FAILURE() << "accepted: " << sql;
    } catch (const pq::Error &e) {
        EXPECT_EQ(e.sqlstate(), state) << e.what();
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
}

// pymigrate.create_subscription(name, dsn, tables [, extra named args]).
inline void
create_subscription(pq::Connection &sub, const std::string &name, const std::string &provider_dsn,
                    const std::string &tables, const std::string &extra = "")
{
    sub.exec("SELECT pymigrate.create_subscription($1, $2, $3::text[]" + (extra.empty() ? "" : ", " + extra) + ")",
             {name, provider_dsn, tables});
}

inline std::string
status(pq::Connection &sub, const std::string &name, const std::string &column)
{
    return sub.scalar("SELECT " + column + "::text FROM pymigrate.subscription_status WHERE name = $1", {name})
        .value_or("(null)");
}

// Waits for a state; the failure message shows the status row.
inline ::testing::AssertionResult
wait_state(pq::Connection &sub, const std::string &name, const std::string &state,
           std::chrono::milliseconds timeout = 60s)
{
    if (eventually([&] { return status(sub, name, "state") == state; }, timeout, 100ms))
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "subscription " << name << " not '" << state << "' after "
                                         << timeout.count() << " ms: state " << status(sub, name, "state")
                                         << ", last_error " << status(sub, name, "last_error");
}

// Waits until the subscriber has applied everything the provider had
// written when this was called.
inline ::testing::AssertionResult
wait_caught_up(pq::Connection &provider, pq::Connection &sub, const std::string &name,
               std::chrono::milliseconds timeout = 60s)
{
    std::string lsn = provider.scalar("SELECT pg_current_wal_flush_lsn()::text").value();
    bool ok = eventually(
        [&] {
            return sub.scalar("SELECT applied_lsn >= $2::pg_lsn FROM pymigrate.subscription_status WHERE name = $1",
                              {name, lsn}) == "t";
        },
        timeout, 50ms);
    if (ok)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "subscription " << name << " did not apply up to " << lsn << " within "
                                         << timeout.count() << " ms: state " << status(sub, name, "state")
                                         << ", applied " << status(sub, name, "applied_lsn") << ", last_error "
                                         << status(sub, name, "last_error");
}

// Row count and md5 of all rows in key order: equal on both sides iff the
// tables hold the same rows.
inline std::string
checksum(pq::Connection &c, const std::string &table)
{
    auto key = c.scalar("SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY array_position(i.indkey, a.attnum)) "
                        "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
                        "WHERE i.indrelid = $1::regclass AND i.indisprimary",
                        {table});
    return c
        .scalar("SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, '|' ORDER BY " +
                key.value_or("t::text") + ")), '-') FROM " + table + " t")
        .value_or("?");
}

inline std::vector<std::string>
user_tables(pq::Connection &c)
{
    std::vector<std::string> out;
    auto r = c.exec("SELECT quote_ident(relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                    "AND relkind = 'r' ORDER BY relname");
    for (int i = 0; i < r.rows(); ++i)
        out.emplace_back(r.value(i, 0));
    return out;
}

// Every table in `tables` holds the same rows on both sides.
inline void
expect_same_tables(pq::Connection &provider, pq::Connection &sub, const std::vector<std::string> &tables)
{
    for (const auto &t : tables)
        EXPECT_EQ(checksum(sub, t), checksum(provider, t)) << "table " << t << " differs";
}

} // namespace pymigrate::testing::sync

// The fixture of the bi-directional sync tests: a monolith and a service
// cluster, a database on both with a subscription each way, and waits for
// both directions.
#pragma once

#include "test/integration/sync/sync_helpers.hpp"

namespace pymigrate::testing::sync
{

template <typename Derived> class BidirPair : public MonolithService<Derived>
{
  protected:
    using Base = SyncPair<Derived>;

    static Cluster &
    monolith()
    {
        return Base::provider();
    }
    static Cluster &
    service()
    {
        return Base::subscriber();
    }

    // Database `db` on both sides with `ddl`, rows `seed` on the monolith,
    // then service <- monolith (with the initial copy) and, once that
    // streams, monolith <- service (without). `options` (a JSON object
    // without braces) and `table_options` are given to both.
    static void
    pair(const std::string &db, const std::string &ddl, const std::string &seed, const std::string &options = "",
         const std::string &table_options = "{}")
    {
        Base::make_databases(db);
        auto m = monolith().connect(db);
        auto s = service().connect(db);
        m.exec(ddl);
        s.exec(ddl);
        if (!seed.empty())
            m.exec(seed);
        std::string extra = options.empty() ? "" : ", " + options;
        s.exec("SELECT pymigrate.create_subscription($4, $1, $2::text[], options => "
               "('{\"local_node\": \"service\", \"remote_node\": \"monolith\"" +
                   extra + "}')::jsonb, table_options => $3::jsonb)",
               {monolith().dsn(db), tables_of(s), table_options, db + "_from_monolith"});
        ASSERT_TRUE(wait_state(s, db + "_from_monolith", "streaming"));
        m.exec("SELECT pymigrate.create_subscription($4, $1, $2::text[], copy_data => false, options => "
               "('{\"local_node\": \"monolith\", \"remote_node\": \"service\"" +
                   extra + "}')::jsonb, table_options => $3::jsonb)",
               {service().dsn(db), tables_of(m), table_options, db + "_from_service"});
        ASSERT_TRUE(wait_state(m, db + "_from_service", "streaming"));
    }

    static std::string
    tables_of(pq::Connection &c)
    {
        std::string list = "{";
        for (const auto &t : user_tables(c))
            list += (list.size() > 1 ? "," : "") + t;
        return list + "}";
    }

    // Both directions have applied everything written so far.
    static ::testing::AssertionResult
    settle(pq::Connection &m, pq::Connection &s, const std::string &db)
    {
        for (int round = 0; round < 2; ++round) { // a change applied one way may cause none back, but check twice
            if (auto r = wait_caught_up(m, s, db + "_from_monolith"); !r)
                return r;
            if (auto r = wait_caught_up(s, m, db + "_from_service"); !r)
                return r;
        }
        return ::testing::AssertionSuccess();
    }

    // Stops both directions; changes wait in the slots.
    static void
    pause(pq::Connection &m, pq::Connection &s, const std::string &db)
    {
        s.exec("SELECT pymigrate.disable_subscription($1)", {db + "_from_monolith"});
        m.exec("SELECT pymigrate.disable_subscription($1)", {db + "_from_service"});
        ASSERT_TRUE(eventually([&] { return status(s, db + "_from_monolith", "worker_pid") == "(null)"; }));
        ASSERT_TRUE(eventually([&] { return status(m, db + "_from_service", "worker_pid") == "(null)"; }));
    }

    static void
    resume(pq::Connection &c, const std::string &name)
    {
        c.exec("SELECT pymigrate.enable_subscription($1)", {name});
        ASSERT_TRUE(wait_state(c, name, "streaming"));
    }

    static std::string
    row(pq::Connection &c, const std::string &sql)
    {
        return c.scalar(sql).value_or("(no row)");
    }
};

} // namespace pymigrate::testing::sync

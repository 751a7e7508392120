// Sync, one direction, on live clusters: initial copy and streaming of every
// column type of the sample monolith, large transactions, TRUNCATE, the
// origin filter and commit timestamps, adding tables, disable/enable, drop.
#include "test/integration/sync/sync_helpers.hpp"

#include "test/harness/datasets.hpp"

using namespace pymigrate::testing;
using namespace pymigrate::testing::sync;
using pymigrate::pq::Connection;

class SyncStream : public SyncPair<SyncStream>
{
  public:
    static ClusterOptions
    options(int i)
    {
        ClusterOptions o = SyncPair::options(i);
        if (i == 0) // spill large transactions to disk early (they must stream anyway)
            o.settings.emplace_back("logical_decoding_work_mem", "1MB");
        return o;
    }
};

TEST_F(SyncStream, EverySampleMonolithTypeRoundTripsThroughCopyAndStream)
{
    // The provider holds the sample shop; the subscriber its empty schema.
    load_sample_monolith(provider(), "shop", 1);
    auto p = provider().connect("shop");
    p.exec("CREATE EXTENSION pymigrate");
    subscriber().connect().exec("CREATE DATABASE shop");
    subscriber().psql_file(source_dir() / "sample" / "schema.sql", "shop");
    subscriber().psql_file(source_dir() / "sample" / "constraints.sql", "shop");
    auto s = subscriber().connect("shop");
    s.exec("CREATE EXTENSION pymigrate");
    auto tables = user_tables(p);
    ASSERT_EQ(tables.size(), 27u);
    std::string list = "{";
    for (size_t i = 0; i < tables.size(); ++i)
        list += (i ? "," : "") + tables[i];
    list += "}";

    create_subscription(s, "shop", provider().dsn("shop"), list);
    ASSERT_TRUE(wait_state(s, "shop", "streaming", 120s));
    EXPECT_EQ(status(s, "shop", "tables_ready"), "27");
    expect_same_tables(p, s, tables);

    // Changes to every column type: NULLs set and cleared, arrays, jsonb,
    // numeric, timestamptz, date, inet, bytea, char(n), enums, uuid keys,
    // composite keys, key updates, deletes, and TOASTed values that an
    // UPDATE leaves unchanged.
    p.exec(R"SQL(
BEGIN;
UPDATE users SET email = 'changed-' || email, phone = NULL, password_hash = '\x00ff10'::bytea,
       preferences = preferences || '{"theme": "dark", "n": [1, 2.5, null]}', last_login = NULL
 WHERE id IN (SELECT id FROM users ORDER BY id LIMIT 20);
UPDATE users SET last_login = '2030-01-01 00:00:00.123456+05:30', marketing_opt_in = NOT marketing_opt_in
 WHERE id IN (SELECT id FROM users ORDER BY id DESC LIMIT 20);
INSERT INTO users (email, full_name, password_hash, preferences)
SELECT 'new' || g || '@example.com', 'New ' || g, decode(md5(g::text), 'hex'), jsonb_build_object('g', g)
  FROM generate_series(1, 50) g;
UPDATE products SET description = (SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 300) g)
 WHERE id <= 30;
COMMIT;
UPDATE products SET price = price + 0.01, tags = tags || ARRAY['sale', 'with space', 'quote"d'],
       attributes = attributes - 'color', updated_at = now() WHERE id <= 30;
UPDATE products SET description = NULL WHERE id = 31;
UPDATE orders SET status = 'shipped', metadata = NULL, total = total * 1.5, currency = 'USD',
       notes = E'multi\nline\ttext \\ backslash' WHERE id % 7 = 0;
UPDATE orders SET metadata = '{"a": {"b": [true, false]}}' WHERE id % 11 = 0;
UPDATE user_sessions SET ip = '2001:db8::1/128' WHERE id IN (SELECT id FROM user_sessions LIMIT 10);
UPDATE user_sessions SET ip = NULL WHERE id IN (SELECT id FROM user_sessions ORDER BY id DESC LIMIT 10);
INSERT INTO coupons VALUES ('TEMPCODE', 12.34, '2024-02-29', NULL, NULL);
UPDATE coupons SET code = 'RENAMED', valid_until = '2099-12-31' WHERE code = 'TEMPCODE';
UPDATE stock_levels SET on_hand = on_hand + 5, updated_at = now()
 WHERE (warehouse_id, variant_id) IN (SELECT warehouse_id, variant_id FROM stock_levels LIMIT 100);
UPDATE support_tickets SET priority = 'urgent', tags = '{}', closed_at = now() WHERE id % 5 = 0;
UPDATE product_reviews SET rating = 1, body = NULL WHERE id % 3 = 0;
UPDATE purchase_orders SET expected_on = '2031-03-04', total = 0.0001 WHERE id % 2 = 0;
DELETE FROM cart_items WHERE (cart_id, variant_id) IN (SELECT cart_id, variant_id FROM cart_items LIMIT 50);
DELETE FROM order_items WHERE id % 10 = 0;
DELETE FROM notifications WHERE id % 4 = 0;
UPDATE ticket_messages SET attachments = '[{"name": "a.png", "size": 12}]' WHERE id % 9 = 0;
)SQL");
    ASSERT_TRUE(wait_caught_up(p, s, "shop"));
    expect_same_tables(p, s, tables);
    EXPECT_EQ(status(s, "shop", "state"), "streaming");
    EXPECT_NE(status(s, "shop", "changes_applied"), "0");
    // The unchanged TOASTed descriptions are really out of line on both sides.
    EXPECT_EQ(s.scalar("SELECT count(*) FROM products WHERE id <= 30 AND pg_column_size(description) > 2000"), "30");
}

TEST_F(SyncStream, LargeTransactionsStreamAndTruncateReplicates)
{
    make_databases("big");
    auto p = provider().connect("big");
    auto s = subscriber().connect("big");
    for (auto *c : {&p, &s})
        c->exec("CREATE TABLE big (id bigint PRIMARY KEY, payload text, n int)");
    create_subscription(s, "big", provider().dsn("big"), "{big}");
    ASSERT_TRUE(wait_state(s, "big", "streaming"));

    // 150,000 rows in one transaction, then all of them updated in another:
    // far above logical_decoding_work_mem (1 MB here), so the provider
    // spills them, and the subscriber applies them as they arrive.
    p.exec("INSERT INTO big SELECT g, md5(g::text), 0 FROM generate_series(1, 150000) g");
    p.exec("UPDATE big SET n = n + 1, payload = payload || 'x'");
    ASSERT_TRUE(wait_caught_up(p, s, "big", 180s));
    EXPECT_EQ(checksum(s, "big"), checksum(p, "big"));
    EXPECT_EQ(s.scalar("SELECT count(*) FILTER (WHERE n = 1) FROM big"), "150000");
    EXPECT_NE(p.scalar("SELECT spill_txns FROM pg_stat_replication_slots WHERE slot_name = 'pymigrate_big'"), "0")
        << "the provider should have spilled the large transactions";

    p.exec("TRUNCATE big");
    p.exec("INSERT INTO big VALUES (1, 'after truncate', 0)");
    ASSERT_TRUE(wait_caught_up(p, s, "big"));
    EXPECT_EQ(checksum(s, "big"), checksum(p, "big"));
    EXPECT_EQ(s.scalar("SELECT count(*) FROM big"), "1");
}

TEST_F(SyncStream, AppliedChangesKeepTheProviderCommitTimeAndAreNotSentOnward)
{
    make_databases("origins");
    auto p = provider().connect("origins");
    auto s = subscriber().connect("origins");
    for (auto *c : {&p, &s})
        c->exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
    create_subscription(s, "o1", provider().dsn("origins"), "{t}");
    ASSERT_TRUE(wait_state(s, "o1", "streaming"));

    // A decoding slot on the subscriber sees what part 2 would send back.
    s.exec("DO $$ BEGIN IF current_setting('output_plugin_libraries', true) IS NOT NULL THEN "
           "PERFORM set_config('output_plugin_libraries', 'pymigrate', false); END IF; END $$");
    s.exec("SELECT pg_create_logical_replication_slot('back', 'pymigrate')");
    p.exec("INSERT INTO t VALUES (1, 'from the provider')");
    p.exec("UPDATE t SET v = 'updated on the provider' WHERE id = 1");
    ASSERT_TRUE(wait_caught_up(p, s, "o1"));
    s.exec("INSERT INTO t VALUES (2, 'made on the subscriber')");

    // The subscriber's commit timestamp of the applied row is the provider's.
    EXPECT_EQ(s.scalar("SELECT pg_xact_commit_timestamp(xmin)::text FROM t WHERE id = 1"),
              p.scalar("SELECT pg_xact_commit_timestamp(xmin)::text FROM t WHERE id = 1"));
    EXPECT_NE(s.scalar("SELECT pg_xact_commit_timestamp(xmin)::text FROM t WHERE id = 2"),
              p.scalar("SELECT pg_xact_commit_timestamp(xmin)::text FROM t WHERE id = 1"));
    // Feedback reaches the provider: its slot lets go of the applied WAL.
    std::string applied_upto = p.scalar("SELECT pg_current_wal_flush_lsn()::text").value();
    EXPECT_TRUE(eventually([&] {
        return p.scalar("SELECT confirmed_flush_lsn >= $1::pg_lsn FROM pg_replication_slots "
                        "WHERE slot_name = 'pymigrate_o1'",
                        {applied_upto}) == "t";
    })) << "confirmed_flush_lsn stays behind";
    // Caught up and idle: no lag.
    EXPECT_TRUE(eventually([&] {
        return status(s, "o1", "lag_bytes") == "0" && status(s, "o1", "lag_seconds") == "0";
    })) << "lag "
        << status(s, "o1", "lag_bytes") << " bytes, " << status(s, "o1", "lag_seconds") << " s";
    // ... and its origin progress is recorded.
    EXPECT_EQ(s.scalar("SELECT remote_lsn > '0/0' FROM pg_replication_origin_status o "
                       "JOIN pg_replication_origin r ON r.roident = o.local_id WHERE r.roname = 'pymigrate_o1'"),
              "t");

    // By default only the subscriber's own change goes out ...
    auto changes = [&](const std::string &forward) {
        std::string out;
        auto r = s.exec("SELECT pymigrate.decode_changes(ARRAY(SELECT data FROM pg_logical_slot_peek_binary_changes("
                        "'back', NULL, NULL, 'forward_origins', '" +
                        forward + "')))");
        for (int i = 0; i < r.rows(); ++i)
            out += std::string(r.value(i, 0)) + "\n";
        return out;
    };
    std::string local_only = changes("none");
    EXPECT_EQ(local_only.find("from the provider"), std::string::npos) << local_only;
    EXPECT_EQ(local_only.find("updated on the provider"), std::string::npos) << local_only;
    EXPECT_NE(local_only.find("made on the subscriber"), std::string::npos) << local_only;
    // ... and with forward_origins all, the applied ones carry our origin.
    std::string all = changes("all");
    EXPECT_NE(all.find("BEGIN origin pymigrate_o1"), std::string::npos) << all;
    EXPECT_NE(all.find("updated on the provider"), std::string::npos) << all;
    s.exec("SELECT pg_drop_replication_slot('back')");
}

TEST_F(SyncStream, TablesAddedLaterAreCopiedAndFollowed)
{
    make_databases("grow");
    auto p = provider().connect("grow");
    auto s = subscriber().connect("grow");
    for (auto *c : {&p, &s})
        c->exec("CREATE TABLE a (id int PRIMARY KEY, v int); CREATE TABLE b (id int PRIMARY KEY, v int)");
    p.exec("INSERT INTO a SELECT g, g FROM generate_series(1, 1000) g; "
           "INSERT INTO b SELECT g, g FROM generate_series(1, 2000) g");
    create_subscription(s, "grow", provider().dsn("grow"), "{a}");
    ASSERT_TRUE(wait_state(s, "grow", "streaming"));
    p.exec("UPDATE a SET v = v + 1 WHERE id <= 10; UPDATE b SET v = -v WHERE id <= 10");
    ASSERT_TRUE(wait_caught_up(p, s, "grow"));
    EXPECT_EQ(checksum(s, "a"), checksum(p, "a"));
    EXPECT_EQ(s.scalar("SELECT count(*) FROM b"), "0");

    // b joins while a keeps changing: b is copied in its own snapshot and
    // followed from there, a is neither skipped nor applied twice.
    s.exec("SELECT pymigrate.alter_subscription('grow', add_tables => '{b}')");
    for (int i = 0; i < 20; ++i)
        p.exec("UPDATE a SET v = v + 1 WHERE id = " + std::to_string(i + 1) +
               "; UPDATE b SET v = v + 1000 WHERE id = " + std::to_string(i + 100));
    ASSERT_TRUE(eventually([&] { return status(s, "grow", "tables_ready") == "2"; }, 60s));
    p.exec("DELETE FROM b WHERE id > 1990; INSERT INTO a VALUES (5000, 1)");
    ASSERT_TRUE(wait_caught_up(p, s, "grow"));
    EXPECT_EQ(checksum(s, "a"), checksum(p, "a"));
    EXPECT_EQ(checksum(s, "b"), checksum(p, "b"));

    // Disabled, it applies nothing; enabled again, it catches up.
    s.exec("SELECT pymigrate.disable_subscription('grow')");
    ASSERT_TRUE(wait_state(s, "grow", "disabled"));
    ASSERT_TRUE(eventually([&] { return status(s, "grow", "worker_pid") == "(null)"; }, 30s));
    p.exec("UPDATE a SET v = 0");
    EXPECT_NE(checksum(s, "a"), checksum(p, "a"));
    s.exec("SELECT pymigrate.enable_subscription('grow')");
    ASSERT_TRUE(wait_state(s, "grow", "streaming"));
    ASSERT_TRUE(wait_caught_up(p, s, "grow"));
    EXPECT_EQ(checksum(s, "a"), checksum(p, "a"));

    // Drop removes the provider's slot and the local origin.
    s.exec("SELECT pymigrate.drop_subscription('grow')");
    EXPECT_EQ(p.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pymigrate_grow'"), "0");
    EXPECT_EQ(s.scalar("SELECT count(*) FROM pg_replication_origin WHERE roname = 'pymigrate_grow'"), "0");
    EXPECT_EQ(s.scalar("SELECT count(*) FROM pymigrate.subscription_status"), "0");
    EXPECT_TRUE(eventually([&] {
        return s.scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pymigrate apply' "
                        "AND datname = current_database()") == "0";
    }));
}

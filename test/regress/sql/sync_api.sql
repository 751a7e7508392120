-- The SQL surface of subscriptions: argument checks with their SQLSTATEs,
-- the catalog, the status view. Subscriptions here are disabled or point at
-- no server (connect => false), so no worker ever reaches a provider.

-- Shows the SQLSTATE and message of a failing statement (or 'ok').
CREATE FUNCTION sa_try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE sa_a (id int PRIMARY KEY, v text);
CREATE TABLE sa_b (id int PRIMARY KEY);
CREATE TABLE sa_nokey (v text);
CREATE TABLE sa_full (v text);
ALTER TABLE sa_full REPLICA IDENTITY FULL;
CREATE TABLE sa_full_rows (id int PRIMARY KEY);
INSERT INTO sa_full_rows VALUES (1);
CREATE UNLOGGED TABLE sa_unlogged (id int PRIMARY KEY);
CREATE TABLE sa_parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE VIEW sa_view AS SELECT 1 AS id;

-- Bad arguments: each says what was wrong, with a SQLSTATE.
SELECT sa_try($$SELECT pymigrate.create_subscription(NULL, 'host=/nonexistent', '{sa_a}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', NULL, '{sa_a}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', NULL, connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_a,NULL}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('S-1', 'host=/nonexistent', '{sa_a}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription(repeat('x', 41), 'host=/nonexistent', '{sa_a}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent foo', '{sa_a}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', '', '{sa_a}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_missing}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_a,public.sa_a}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_nokey}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_unlogged}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_parted}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_view}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{pymigrate.subscription}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_full_rows}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_a}', connect => false, slot_name => 'Bad Slot')$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_a}', connect => false, synchronous_commit => 'sometimes')$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_a}', connect => false, forward_origins => 'some')$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_a}', connect => false, options => '{"conflict": "x"}')$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_a}', connect => false, options => '[]')$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_a}', copy_data => NULL, connect => false)$$);
-- With connect (the default), an unreachable provider is an error now.
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent port=1', '{sa_a}')$$);
SELECT count(*) AS nothing_created FROM pymigrate.subscription;

-- A valid subscription: catalog rows, the origin, the status view.
SELECT pymigrate.create_subscription('s1', 'host=/nonexistent port=1', '{sa_a, sa_full}', connect => false, enabled => false);
SELECT name, provider_dsn, enabled, slot_name, origin_name, copy_data, synchronous_commit, forward_origins, options, generation
  FROM pymigrate.subscription;
SELECT local_schema, local_table, remote_schema, remote_table, state, sync_lsn FROM pymigrate.subscription_table ORDER BY 2;
SELECT roname FROM pg_replication_origin WHERE roname = 'pymigrate_s1';
SELECT name, enabled, state, lag_bytes, lag_seconds, last_error, changes_applied, tables_ready, tables, slot_name
  FROM pymigrate.subscription_status;
SELECT sa_try($$SELECT pymigrate.create_subscription('s1', 'host=/nonexistent', '{sa_b}', connect => false, enabled => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s2', 'host=/nonexistent', '{sa_a}', connect => false, enabled => false)$$);
SELECT sa_try($$SELECT pymigrate.create_subscription('s2', 'host=/nonexistent', '{sa_b}', connect => false, enabled => false, slot_name => 'pymigrate_s1')$$);

-- The view's columns are an interface (the router's health gate and the
-- validator read them).
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_schema = 'pymigrate' AND table_name = 'subscription_status' ORDER BY ordinal_position;

-- Tombstones: create_subscription put the trigger on each local table of
-- the subscription, and on no other.
SELECT tgrelid::regclass AS tbl, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'pymigrate_tombstone'
 ORDER BY tgrelid::regclass::text COLLATE "C";
-- A delete records each deleted key with the deleting transaction (at its
-- start); the key is what tombstone_key() gives for the row's key columns.
INSERT INTO sa_a VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
BEGIN;
DELETE FROM sa_a WHERE id IN (1, 2);
SELECT b.relid::regclass, k.id, b.key, b.xid = pg_current_xact_id() AS this_xact, b.deleted_at = now() AS at_start
  FROM pymigrate.tombstone b LEFT JOIN (VALUES (1), (2)) k(id) ON b.key = pymigrate.tombstone_key('sa_a', ARRAY[k.id::text])
 ORDER BY k.id;
COMMIT;
-- Deleted again after an insert: one tombstone, naming the latest delete.
INSERT INTO sa_a VALUES (1, 'again');
BEGIN;
DELETE FROM sa_a WHERE id = 1;
SELECT count(*), bool_and(xid = pg_current_xact_id()) AS latest FROM pymigrate.tombstone
 WHERE relid = 'sa_a'::regclass AND key = pymigrate.tombstone_key('sa_a', '{1}');
COMMIT;
-- A statement deleting more rows than work_mem holds (its old rows spill to
-- a file): each recorded once.
SET work_mem = '64kB';
INSERT INTO sa_a SELECT g, 'bulk' FROM generate_series(1000, 9000) g;
DELETE FROM sa_a WHERE id >= 1000;
RESET work_mem;
SELECT count(*) AS bulk_tombstones FROM pymigrate.tombstone
 WHERE relid = 'sa_a'::regclass
   AND key IN (SELECT pymigrate.tombstone_key('sa_a', ARRAY[g::text]) FROM generate_series(1000, 9000) g);
-- Deleted again: each key's tombstone replaced (read from the table's
-- tombstones in one scan), one per key, naming the latest delete.
INSERT INTO sa_a SELECT g, 'bulk again' FROM generate_series(1000, 9000) g;
BEGIN;
DELETE FROM sa_a WHERE id >= 1000;
SELECT count(*) AS bulk_again, count(DISTINCT key) AS keys, bool_and(xid = pg_current_xact_id()) AS latest
  FROM pymigrate.tombstone
 WHERE relid = 'sa_a'::regclass
   AND key IN (SELECT pymigrate.tombstone_key('sa_a', ARRAY[g::text]) FROM generate_series(1000, 9000) g);
COMMIT;
-- One row, and 20 rows of a table with far more tombstones than 8 per row
-- deleted (an index probe per row instead): replaced too.
INSERT INTO sa_a VALUES (1000, 'once more');
BEGIN;
DELETE FROM sa_a WHERE id = 1000;
SELECT count(*), bool_and(xid = pg_current_xact_id()) AS latest FROM pymigrate.tombstone
 WHERE relid = 'sa_a'::regclass AND key = pymigrate.tombstone_key('sa_a', '{1000}');
COMMIT;
INSERT INTO sa_a SELECT g, 'twenty' FROM generate_series(2000, 2019) g;
BEGIN;
DELETE FROM sa_a WHERE id BETWEEN 2000 AND 2019;
SELECT count(*), count(DISTINCT key) AS keys, bool_and(xid = pg_current_xact_id()) AS latest FROM pymigrate.tombstone
 WHERE relid = 'sa_a'::regclass
   AND key IN (SELECT pymigrate.tombstone_key('sa_a', ARRAY[g::text]) FROM generate_series(2000, 2019) g);
COMMIT;
DELETE FROM pymigrate.tombstone WHERE key IN (SELECT pymigrate.tombstone_key('sa_a', ARRAY[g::text])
                                              FROM generate_series(1000, 9000) g);
-- Nothing deleted, nothing recorded; a table without a key (sa_full:
-- replica identity full) records nothing.
DELETE FROM sa_a WHERE id = 99;
INSERT INTO sa_full VALUES ('x');
DELETE FROM sa_full;
SELECT count(*) AS tombstones FROM pymigrate.tombstone;
-- A session with a replication origin (replication: the other node keeps
-- the tombstone) records nothing.
SELECT pg_replication_origin_session_setup('pymigrate_s1');
DELETE FROM sa_a WHERE id = 3;
SELECT pg_replication_origin_session_reset();
SELECT count(*) AS tombstones FROM pymigrate.tombstone;
-- A role with rights on its table only: its delete is recorded (the trigger
-- writes as the tombstone table's owner), the tombstones stay closed to it.
CREATE ROLE sa_app;
GRANT SELECT, DELETE ON sa_a TO sa_app;
SET ROLE sa_app;
DELETE FROM sa_a WHERE id = 4;
SELECT sa_try($$SELECT count(*) FROM pymigrate.tombstone$$);
SELECT sa_try($$INSERT INTO pymigrate.tombstone (relid, key, xid) VALUES ('sa_a'::regclass, '\x00', '1')$$);
RESET ROLE;
SELECT count(*) AS app_delete_recorded FROM pymigrate.tombstone WHERE key = pymigrate.tombstone_key('sa_a', '{4}');
REVOKE ALL ON sa_a FROM sa_app;
DROP ROLE sa_app;

-- tombstone_key: per key column (index order) a tag, a length and the
-- binary send output; numeric by its normalized text (1.0 and 1.00 are one
-- key); NULL is the tag alone.
CREATE TABLE sa_num (n numeric PRIMARY KEY);
CREATE TABLE sa_two (a text, b int, PRIMARY KEY (b, a));
SELECT pymigrate.tombstone_key('sa_a', '{1}') AS int_key, pymigrate.tombstone_key('sa_a', '{NULL}') AS null_key,
       pymigrate.tombstone_key('sa_two', '{2,x}') AS two_columns,
       pymigrate.tombstone_key('sa_num', '{1.0}') AS numeric_key,
       pymigrate.tombstone_key('sa_num', '{1.0}') = pymigrate.tombstone_key('sa_num', '{1.00}') AS same_numeric;
SELECT sa_try($$SELECT pymigrate.tombstone_key('sa_a', '{1,2}')$$);
SELECT sa_try($$SELECT pymigrate.tombstone_key('sa_two', '{2}')$$);
SELECT sa_try($$SELECT pymigrate.tombstone_key('sa_nokey', '{x}')$$);
SELECT sa_try($$SELECT pymigrate.tombstone_key('sa_full', '{x}')$$);
SELECT sa_try($$SELECT pymigrate.tombstone_key('sa_a', '{one}')$$);
SELECT pymigrate.tombstone_key('sa_a', NULL) IS NULL AS strict;
DROP TABLE sa_num, sa_two;

-- alter_subscription
SELECT sa_try($$SELECT pymigrate.alter_subscription('nope')$$);
SELECT sa_try($$SELECT pymigrate.alter_subscription('s1', add_tables => '{sa_a}')$$);
SELECT sa_try($$SELECT pymigrate.alter_subscription('s1', drop_tables => '{sa_b}')$$);
SELECT sa_try($$SELECT pymigrate.alter_subscription('s1', drop_tables => '{sa_a, sa_full}')$$);
SELECT sa_try($$SELECT pymigrate.alter_subscription('s1', provider_dsn => 'port')$$);
SELECT sa_try($$SELECT pymigrate.alter_subscription('s1', synchronous_commit => 'never')$$);
SELECT pymigrate.alter_subscription('s1', add_tables => '{sa_b}', drop_tables => '{sa_full}', synchronous_commit => 'local',
                                    forward_origins => 'all', provider_dsn => 'host=/elsewhere port=1');
SELECT provider_dsn, synchronous_commit, forward_origins, generation FROM pymigrate.subscription;
SELECT local_table, state FROM pymigrate.subscription_table ORDER BY 1;
-- The trigger follows the tables (sa_full dropped, sa_b added); sa_a's
-- tombstones stay.
SELECT tgrelid::regclass AS tbl FROM pg_trigger WHERE tgname = 'pymigrate_tombstone' ORDER BY tgrelid::regclass::text COLLATE "C";
SELECT relid::regclass, count(*) FROM pymigrate.tombstone GROUP BY 1;

-- enable / disable
SELECT sa_try($$SELECT pymigrate.enable_subscription(NULL)$$);
SELECT sa_try($$SELECT pymigrate.disable_subscription('nope')$$);
SELECT pymigrate.disable_subscription('s1');
SELECT enabled FROM pymigrate.subscription;

-- drop: not inside a transaction block (the provider's slot cannot be
-- dropped transactionally); a provider that cannot be reached is an error
-- that says how to go on; drop_slot => false drops only the local side.
BEGIN;
SELECT sa_try($$SELECT pymigrate.drop_subscription('s1')$$);
ROLLBACK;
SELECT pymigrate.drop_subscription('s1');
SELECT count(*) AS still_there FROM pymigrate.subscription;
SELECT pymigrate.drop_subscription('s1', drop_slot => false);
SELECT count(*) AS subscriptions, (SELECT count(*) FROM pymigrate.subscription_table) AS tables,
       (SELECT count(*) FROM pg_replication_origin WHERE roname = 'pymigrate_s1') AS origins
  FROM pymigrate.subscription;
-- Its tables' triggers and tombstones went with it.
SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'pymigrate_tombstone') AS triggers,
       (SELECT count(*) FROM pymigrate.tombstone) AS tombstones;
SELECT pymigrate.drop_subscription('s1');
SELECT pymigrate.drop_subscription('s1', if_exists => true);

-- Only superusers manage subscriptions; a role that may use the schema can
-- read the status view, not the catalog.
SELECT pymigrate.create_subscription('s3', 'host=/nonexistent', '{sa_a}', connect => false, enabled => false);
CREATE ROLE sa_plain;
GRANT USAGE ON SCHEMA pymigrate TO sa_plain;
SET ROLE sa_plain;
SELECT sa_try($$SELECT pymigrate.create_subscription('s4', 'host=/nonexistent', '{sa_b}', connect => false)$$);
SELECT sa_try($$SELECT pymigrate.drop_subscription('s3', drop_slot => false)$$);
SELECT name, state FROM pymigrate.subscription_status;
SELECT sa_try($$SELECT * FROM pymigrate.subscription$$);
RESET ROLE;
SELECT pymigrate.drop_subscription('s3', drop_slot => false);
REVOKE USAGE ON SCHEMA pymigrate FROM sa_plain;
DROP ROLE sa_plain;

DROP TABLE sa_a, sa_b, sa_nokey, sa_full, sa_full_rows, sa_unlogged, sa_parted;
DROP VIEW sa_view;
DROP FUNCTION sa_try(text);

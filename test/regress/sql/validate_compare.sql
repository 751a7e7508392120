-- pymigrate.validate() against another database (here a second database of
-- the same server, reached over libpq like any other), its reports, repair
-- and scheduled runs.
\set regress_db :DBNAME
SELECT format('host=%s port=%s dbname=regress_validate_peer',
              split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')) AS peer_dsn
\gset
-- Errors from the other side name it by its connection string, which holds
-- this run's socket directory and port: mask those.
CREATE FUNCTION regress_try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM, 'host=''[^'']*''', 'host=...', 'g'),
                                              'port=''\d+''', 'port=...', 'g');
END
$$;
CREATE DATABASE regress_validate_peer;

CREATE TABLE t_same (id int PRIMARY KEY, v text);
INSERT INTO t_same SELECT i, 'v' || i FROM generate_series(1, 500) i;

-- The other side must be up and have the extension; nothing is recorded otherwise.
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[''t_same''], %L)', :'peer_dsn'));
SELECT regress_try('SELECT pymigrate.validate(ARRAY[''t_same''], ''host=127.0.0.1 port=1 password=hunter2 connect_timeout=5'')');
SELECT count(*) AS runs_recorded FROM pymigrate.validation_run;

\c regress_validate_peer
CREATE EXTENSION pymigrate;
CREATE TABLE t_same (id int PRIMARY KEY, v text);
INSERT INTO t_same SELECT i, 'v' || i FROM generate_series(1, 500) i;
\c :regress_db

SELECT pymigrate.validate(ARRAY['t_same'], :'peer_dsn') AS run \gset
SELECT table_name, remote_table, rows_compared, consistency_pct, missing, extra, changed, pending, status, method
  FROM pymigrate.consistency_report(:run);
SELECT status FROM pymigrate.validation_run WHERE id = :run;

-- Each kind of difference, and values that only look different.
CREATE TABLE t_kinds (id int PRIMARY KEY, name text, note text, amount numeric, at timestamptz);
INSERT INTO t_kinds SELECT i, 'n' || i, CASE WHEN i = 7 THEN '' END, i * 1.5, '2024-01-01 00:00:00+00'
  FROM generate_series(1, 1000) i;
\c regress_validate_peer
CREATE TABLE t_kinds (id bigint PRIMARY KEY, name varchar(40), note text, amount numeric(12, 3), at timestamptz);
SET timezone = 'Asia/Tokyo';
INSERT INTO t_kinds SELECT i, 'n' || i, NULL, i * 1.5, '2024-01-01 09:00:00+09' FROM generate_series(1, 1000) i;
DELETE FROM t_kinds WHERE id IN (3, 300);         -- missing on this side
INSERT INTO t_kinds VALUES (1001, 'new', NULL, 1, now()), (1002, 'new', NULL, 2, now());  -- extra
UPDATE t_kinds SET name = 'changed' WHERE id = 500;  -- changed
\c :regress_db
-- id 7: NULL on one side and '' on the other is a difference; the numeric
-- scales and the time zone of the timestamps are not.
SELECT pymigrate.validate(ARRAY['t_kinds'], :'peer_dsn', with_rows => true, recheck_delay => '0.05 s') AS run \gset
SELECT table_name, rows_compared, consistency_pct, missing, extra, changed, pending, resolved, status
  FROM pymigrate.consistency_report(:run);
SELECT key, kind, status, local_row ->> 'name' AS local_name, remote_row ->> 'name' AS remote_name,
       local_row ->> 'note' AS local_note, remote_row ->> 'note' AS remote_note
  FROM pymigrate.discrepancy WHERE run_id = :run ORDER BY key;
SELECT options ->> 'recheck_delay_from' AS delay_from FROM pymigrate.validation_run WHERE id = :run;

-- The sorted merge of all rows finds the same.
SELECT pymigrate.validate(ARRAY['t_kinds'], :'peer_dsn', recheck => false, merge_ratio => 0) AS run \gset
SELECT method, missing, extra, changed FROM pymigrate.consistency_report(:run);
SELECT key, kind FROM pymigrate.discrepancy WHERE run_id = :run ORDER BY key;

-- Repair: the statements, a limit, then applying them on the other side.
SELECT table_name, key, action, statement FROM pymigrate.reconcile(:run, 'local_to_remote') ORDER BY key;
SELECT regress_try(format('SELECT * FROM pymigrate.reconcile(%s, ''local_to_remote'', max_changes => 3)', :run));
SELECT regress_try(format('SELECT * FROM pymigrate.reconcile(%s, ''sideways'')', :run));
SELECT count(*) AS applied FROM pymigrate.reconcile(:run, 'local_to_remote', dry_run => false);
SELECT status, count(*) FROM pymigrate.discrepancy WHERE run_id = :run GROUP BY status;
SELECT pymigrate.validate(ARRAY['t_kinds'], :'peer_dsn', recheck => false) AS run \gset
SELECT missing, extra, changed, status FROM pymigrate.consistency_report(:run);

-- The other direction: repair this side from the remote one.
\c regress_validate_peer
UPDATE t_kinds SET name = 'remote wins' WHERE id = 10;
\c :regress_db
SELECT pymigrate.validate(ARRAY['t_kinds'], :'peer_dsn', recheck => false) AS run \gset
SELECT action, statement FROM pymigrate.reconcile(:run, 'remote_to_local', dry_run => false);
SELECT name FROM t_kinds WHERE id = 10;

-- Keys of every kind, names mapped, columns left out, no rows.
CREATE TABLE t_text_key (code text PRIMARY KEY, label text);
INSERT INTO t_text_key VALUES ('alpha', 'a'), ('beta', 'b'), ('gamma ü', 'g');
CREATE TABLE t_uuid_key (id uuid PRIMARY KEY, v int);
INSERT INTO t_uuid_key VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1), ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 2);
CREATE TABLE t_composite (region text, seq int, qty int, PRIMARY KEY (region, seq));
INSERT INTO t_composite VALUES ('eu', 1, 10), ('eu', 2, 20), ('us', 1, 30);
CREATE TABLE t_nopk (a int, b text);
INSERT INTO t_nopk VALUES (1, 'x'), (2, 'y');
CREATE TABLE t_orders (id int PRIMARY KEY, total numeric, legacy_flag int, updated_at timestamptz);
INSERT INTO t_orders VALUES (1, 10, 1, now()), (2, 20, 0, now());
CREATE TABLE t_empty (id int PRIMARY KEY);
\c regress_validate_peer
CREATE TABLE t_text_key (code text PRIMARY KEY, label text);
INSERT INTO t_text_key VALUES ('alpha', 'a'), ('beta', 'B'), ('delta', 'd');
CREATE TABLE t_uuid_key (id uuid PRIMARY KEY, v int);
INSERT INTO t_uuid_key VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1);
CREATE TABLE t_composite (region text, seq int, qty int, PRIMARY KEY (region, seq));
INSERT INTO t_composite VALUES ('eu', 1, 10), ('eu', 2, 21), ('us', 1, 30);
CREATE TABLE t_nopk (a int, b text);
INSERT INTO t_nopk VALUES (1, 'x'), (2, 'z');
CREATE SCHEMA svc;
CREATE TABLE svc.orders (order_id int PRIMARY KEY, dropped_later text, amount numeric(10, 2));
INSERT INTO svc.orders VALUES (1, 'x', 10.00), (2, 'y', 20.50);
ALTER TABLE svc.orders DROP COLUMN dropped_later;
CREATE TABLE t_empty (id int PRIMARY KEY);
\c :regress_db
SELECT pymigrate.validate(ARRAY['t_text_key', 't_uuid_key', 't_composite', 't_orders', 't_empty', 't_nopk'],
                          :'peer_dsn',
                          mapping => '{"t_orders": {"table": "svc.orders", "columns": {"id": "order_id", "total": "amount"},
                                                    "exclude": ["legacy_flag", "updated_at"]},
                                       "t_nopk": {"key": ["a"]}}',
                          recheck => false) AS run \gset
SELECT table_name, remote_table, rows_compared, missing, extra, changed, status
  FROM pymigrate.consistency_report(:run);
SELECT table_name, key, kind FROM pymigrate.discrepancy WHERE run_id = :run ORDER BY table_name, key;

-- Every table both sides have, when no list is given (t_orders is svc.orders
-- there; t_nopk has no primary key): the others are skipped with a NOTICE.
SET client_min_messages = warning;
SELECT table_name, status FROM pymigrate.consistency_report(pymigrate.validate(NULL, :'peer_dsn', recheck => false));
RESET client_min_messages;

-- Bad input.
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[''t_nopk''], %L)', :'peer_dsn'));
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[''no_such_table''], %L)', :'peer_dsn'));
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[''t_orders''], %L)', :'peer_dsn'));
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[''t_same''], %L, mapping => ''{"t_same": {"colums": {}}}'')', :'peer_dsn'));
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[''t_same''], %L, mapping => ''{"t_kinds": {}}'')', :'peer_dsn'));
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[]::text[], %L)', :'peer_dsn'));
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[''t_same''], %L, merge_ratio => 2)', :'peer_dsn'));
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[''t_same''], %L, recheck_timeout => ''-1 s'')', :'peer_dsn'));
SELECT regress_try('SELECT * FROM pymigrate.consistency_report(999999)');

-- In flight: a difference seen once is pending until re-checked; if the
-- sides agree by then (the sync caught up), it is resolved, not reported.
\c regress_validate_peer
UPDATE t_same SET v = 'in flight' WHERE id = 42;
\c :regress_db
SELECT pymigrate.validate(ARRAY['t_same'], :'peer_dsn', wait => false) AS run \gset
SELECT status, pending, consistency_pct FROM pymigrate.consistency_report(:run);
SELECT key, kind, status, recheck_after IS NOT NULL AS has_recheck_time FROM pymigrate.discrepancy WHERE run_id = :run;
UPDATE t_same SET v = 'in flight' WHERE id = 42;
SELECT pymigrate.recheck(:run) AS still_different;
SELECT status, pending, resolved FROM pymigrate.consistency_report(:run);
SELECT table_name, status FROM pymigrate.consistency_status WHERE table_name = 'public.t_same';

-- The re-check delay taken from a real subscription's lag is tested with live
-- sync in test/integration/validate (ValidateWithSync). Here a real
-- difference for the schedule below:
\c regress_validate_peer
UPDATE t_same SET v = 'really different' WHERE id = 43;
\c :regress_db

-- Continuous mode: one scheduled run, below the threshold: an alert.
-- Created disabled, so that this server's background worker leaves it to
-- the explicit runs below.
SELECT pymigrate.schedule_validation(ARRAY['t_same'], :'peer_dsn', '1 hour', 99.9,
                                     options => '{"recheck": false}', enabled => false) AS schedule \gset
SELECT id, tables, every, alert_threshold, enabled FROM pymigrate.validation_schedules;
SELECT pymigrate.run_scheduled_validation(:schedule) AS run \gset
SELECT table_name, consistency_pct, threshold, message ~ 'below the alert threshold' AS says_why
  FROM pymigrate.alert WHERE run_id = :run;
SELECT last_run_id = :run AS ran, next_run_at > now() AS next_later, last_status
  FROM pymigrate.validation_schedules WHERE id = :schedule;
-- A run that fails is recorded as failed and alerted, not raised.
SELECT pymigrate.schedule_validation(ARRAY['t_same'], 'host=127.0.0.1 port=1 connect_timeout=5', '1 hour', 99,
                                     enabled => false) AS failing \gset
SELECT pymigrate.run_scheduled_validation(:failing) AS run \gset
SELECT status, error ~ 'could not connect' AS says_why FROM pymigrate.validation_run WHERE id = :run;
SELECT count(*) AS alerts FROM pymigrate.alert WHERE run_id = :run;
SELECT regress_try('SELECT pymigrate.schedule_validation(NULL, ''x'', ''1 hour'', 101)');
SELECT regress_try('SELECT pymigrate.schedule_validation(NULL, ''x'', ''1 hour'', 99, options => ''{"bogus": 1}'')');
SELECT pymigrate.unschedule_validation(:failing), pymigrate.unschedule_validation(:failing);

-- Not for every role: it connects to other servers.
CREATE ROLE regress_validate_plain;
GRANT USAGE ON SCHEMA pymigrate TO regress_validate_plain;
SET ROLE regress_validate_plain;
SELECT regress_try(format('SELECT pymigrate.validate(ARRAY[''t_same''], %L)', :'peer_dsn'));
RESET ROLE;
REVOKE USAGE ON SCHEMA pymigrate FROM regress_validate_plain;
DROP ROLE regress_validate_plain;

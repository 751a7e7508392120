-- The pymigrate output plugin, read with pg_logical_slot_get_binary_changes()
-- and decoded by pymigrate.decode_changes() (extension/sync/PROTOCOL.md).

-- Debian's PostgreSQL 15.20+ lets only listed libraries act as output plugins.
DO $$ BEGIN
  IF current_setting('output_plugin_libraries', true) IS NOT NULL THEN
    PERFORM set_config('output_plugin_libraries', 'pymigrate', false);
  END IF;
END $$;

CREATE TYPE sp_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE sp_pair AS (a int, b text);
CREATE TABLE sp_items (
    id      int PRIMARY KEY,
    name    text,
    mood    sp_mood,
    moods   sp_mood[],
    tags    text[],
    price   numeric(10, 2),
    doc     jsonb,
    pair    sp_pair,
    at      timestamptz,
    big     text,
    twice   int GENERATED ALWAYS AS (id * 2) STORED,
    gone    int
);
ALTER TABLE sp_items DROP COLUMN gone;
CREATE TABLE sp_other (k text PRIMARY KEY, v int);
CREATE TABLE sp_full (a int, b text);
ALTER TABLE sp_full REPLICA IDENTITY FULL;

SELECT 'init' FROM pg_create_logical_replication_slot('sp_slot', 'pymigrate');

CREATE FUNCTION sp_changes(VARIADIC options text[] DEFAULT '{}') RETURNS SETOF text
LANGUAGE sql AS $$
  SELECT pymigrate.decode_changes(ARRAY(
    SELECT data FROM pg_logical_slot_get_binary_changes('sp_slot', NULL, NULL, VARIADIC options)))
$$;

-- Inserts, with every kind of value: binary where portable, text for the
-- composite and the array of a user-defined enum; generated and dropped
-- columns are not sent.
INSERT INTO sp_items (id, name, mood, moods, tags, price, doc, pair, at, big)
VALUES (1, 'one', 'ok', '{sad,happy}', '{a,"b c"}', 12.50, '{"k": [1, 2]}', ROW(7, 'x'),
        '2024-01-02 03:04:05+00', NULL),
       (2, NULL, NULL, NULL, '{}', -0.01, 'null', NULL, NULL, 'small');
SELECT * FROM sp_changes();

-- A value TOASTed out of line and not changed by an UPDATE travels as
-- "unchanged"; an UPDATE of the key sends the old key.
UPDATE sp_items SET big = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g) WHERE id = 2;
SELECT count(*) AS writes FROM pg_logical_slot_get_binary_changes('sp_slot', NULL, NULL);
UPDATE sp_items SET price = 13 WHERE id = 2;
UPDATE sp_items SET id = 3 WHERE id = 1;
DELETE FROM sp_items WHERE id = 3;
SELECT * FROM sp_changes();

-- REPLICA IDENTITY FULL sends whole old rows; TRUNCATE lists its tables.
INSERT INTO sp_full VALUES (1, 'a');
UPDATE sp_full SET b = 'b';
DELETE FROM sp_full;
TRUNCATE sp_items, sp_other;
SELECT * FROM sp_changes();

-- One transaction touching two tables: one BEGIN, one COMMIT.
BEGIN;
INSERT INTO sp_other VALUES ('x', 1);
INSERT INTO sp_items (id) VALUES (10);
UPDATE sp_other SET v = 2;
COMMIT;
SELECT * FROM sp_changes();

-- Table filter: only the tables named are sent; a transaction with nothing
-- to send sends nothing at all.
INSERT INTO sp_other VALUES ('y', 1);
INSERT INTO sp_items (id) VALUES (11);
SELECT * FROM sp_changes('tables', 'public.sp_items');
INSERT INTO sp_other VALUES ('z', 1);
SELECT * FROM sp_changes('tables', 'public.sp_items, "public"."sp_full"');

-- Text only, when asked.
INSERT INTO sp_items (id, price, at) VALUES (12, 1.5, '2024-01-02 03:04:05+00');
SELECT * FROM sp_changes('binary', 'false');

-- The origin filter: changes made under a replication origin (as the apply
-- worker makes them) are not sent unless forward_origins is all.
SELECT pg_replication_origin_create('sp_origin');
SELECT pg_replication_origin_session_setup('sp_origin');
INSERT INTO sp_other VALUES ('from elsewhere', 1);
SELECT pg_replication_origin_session_reset();
INSERT INTO sp_other VALUES ('made here', 1);
SELECT * FROM sp_changes();
SELECT pg_replication_origin_session_setup('sp_origin');
INSERT INTO sp_other VALUES ('from elsewhere again', 1);
SELECT pg_replication_origin_session_reset();
SELECT * FROM sp_changes('forward_origins', 'all');
SELECT pg_replication_origin_drop('sp_origin');

-- pymigrate's own tables never travel.
INSERT INTO pymigrate.subscription (name, provider_dsn, slot_name, origin_name, copy_data)
VALUES ('sp_never', 'host=/nonexistent', 'sp_never', 'sp_never', false);
SELECT * FROM sp_changes();
DELETE FROM pymigrate.subscription;
SELECT count(*) AS writes FROM pg_logical_slot_get_binary_changes('sp_slot', NULL, NULL);

-- Verbose output adds positions, xids and times (shown here by shape only).
INSERT INTO sp_other VALUES ('v', 1);
SELECT regexp_replace(l, '[0-9A-F]+/[0-9A-F]+|\d{4}-\d\d-\d\d [0-9:.+]+|xid \d+|oid \d+|server \d+|pymigrate [0-9.]+', '#', 'g')
  FROM pymigrate.decode_changes(ARRAY(SELECT data FROM pg_logical_slot_get_binary_changes('sp_slot', NULL, NULL)), true) l;

-- A transaction applied by a subscriber (it has a replication origin): its
-- row changes are not sent (loop prevention), its applied marker goes out
-- as a SEEN with protocol 2 only; a malformed marker is not sent.
SELECT 'origin' FROM pg_replication_origin_create('sp_origin');
SELECT 'session' FROM pg_replication_origin_session_setup('sp_origin');
BEGIN;
INSERT INTO sp_other VALUES ('applied', 2);
SELECT 'marker' FROM pg_logical_emit_message(true, 'pymigrate.applied',
  '\x0000000000000007'::bytea || '\x00000006'::bytea || convert_to('a_slot', 'UTF8') || '\x0000002a'::bytea ||
  '\x0000000000000000'::bytea || '\x0000000000000100'::bytea);
SELECT 'other prefix' FROM pg_logical_emit_message(true, 'not.ours', 'x');
COMMIT;
BEGIN;
INSERT INTO sp_other VALUES ('applied 2', 3);
SELECT 'malformed' FROM pg_logical_emit_message(true, 'pymigrate.applied', '\x0000'::bytea);
COMMIT;
SELECT 'reset' FROM pg_replication_origin_session_reset();
SELECT pymigrate.decode_changes(ARRAY(
  SELECT data FROM pg_logical_slot_peek_binary_changes('sp_slot', NULL, NULL, 'max_proto_version', '1')));
SELECT * FROM sp_changes();
SELECT pg_replication_origin_drop('sp_origin');

-- Options: defaults first, unknown and repeated names rejected, versions
-- negotiated between the client's and the plugin's range.
SELECT * FROM sp_changes('nope', '1');
SELECT * FROM sp_changes('binary', 'maybe');
SELECT * FROM sp_changes('binary', 'true', 'binary', 'false');
SELECT * FROM sp_changes('min_proto_version', '3');
SELECT * FROM sp_changes('min_proto_version', '3', 'max_proto_version', '2');
SELECT * FROM sp_changes('min_proto_version', '2', 'max_proto_version', '2');
SELECT * FROM sp_changes('max_proto_version', 'x');
SELECT * FROM sp_changes('min_proto_version', '0', 'max_proto_version', '9');
SELECT * FROM sp_changes('forward_origins', 'some');
SELECT * FROM sp_changes('tables', 'sp_items');
SELECT * FROM sp_changes('tables', 'public.');
SELECT * FROM sp_changes('tables', 'public."sp_items');
SELECT * FROM sp_changes('tables', 'public.sp_items; drop');

-- The decoder checks the wire format.
SELECT * FROM pymigrate.decode_changes(ARRAY['\x00000001'::bytea]);
SELECT * FROM pymigrate.decode_changes(ARRAY['\x0000000142'::bytea]);
SELECT * FROM pymigrate.decode_changes(ARRAY['\x000000015a'::bytea]);
SELECT * FROM pymigrate.decode_changes(ARRAY['\x0000000549000000'::bytea]);
SELECT * FROM pymigrate.decode_changes(ARRAY['\x00000005490000002a'::bytea]);
SELECT * FROM pymigrate.decode_changes(ARRAY[NULL::bytea]);
SELECT * FROM pymigrate.decode_changes('{}');

SELECT pg_drop_replication_slot('sp_slot');
DROP FUNCTION sp_changes(text[]);
DROP TABLE sp_items, sp_other, sp_full;
DROP TYPE sp_mood, sp_pair;

-- Digests and bucket rows of one table: pymigrate.table_digest and
-- pymigrate.bucket_rows.
CREATE TABLE digest_a (id int PRIMARY KEY, price numeric(10, 2), name text, seen timestamptz);
INSERT INTO digest_a SELECT i, i / 4.0, 'n' || i, '2024-01-01'::timestamptz + i * interval '1 hour'
  FROM generate_series(1, 1000) i;

-- Same rows, other physical order and types that are the same values.
CREATE TABLE digest_b (id bigint PRIMARY KEY, price numeric, name varchar(20), seen timestamptz);
INSERT INTO digest_b SELECT id, price::numeric(12, 4), name, seen FROM digest_a ORDER BY random();

SELECT count(*) AS buckets, sum(row_count) AS rows FROM pymigrate.table_digest('digest_a');
SELECT count(*) AS differing_buckets
  FROM pymigrate.table_digest('digest_a', buckets => 64) a
  FULL JOIN pymigrate.table_digest('digest_b', buckets => 64) b USING (bucket)
 WHERE (a.row_count, a.sum, a.xor) IS DISTINCT FROM (b.row_count, b.sum, b.xor);

-- A parallel scan gives the same digest as a scan in this process.
SELECT count(*) AS differing_buckets
  FROM pymigrate.table_digest('digest_a', buckets => 16, parallel => 0) a
  JOIN pymigrate.table_digest('digest_a', buckets => 16, parallel => 2) b USING (bucket)
 WHERE (a.row_count, a.sum, a.xor) IS DISTINCT FROM (b.row_count, b.sum, b.xor);

-- One changed row: one differing bucket, and bucket_rows points at it.
UPDATE digest_b SET name = 'changed' WHERE id = 500;
CREATE TEMP TABLE differing AS
SELECT bucket FROM pymigrate.table_digest('digest_a', buckets => 64) a
  JOIN pymigrate.table_digest('digest_b', buckets => 64) b USING (bucket)
 WHERE (a.row_count, a.sum, a.xor) IS DISTINCT FROM (b.row_count, b.sum, b.xor);
SELECT count(*) FROM differing;
SELECT a.key
  FROM pymigrate.bucket_rows('digest_a', NULL, NULL, 64, (SELECT array_agg(bucket) FROM differing)) a
  FULL JOIN pymigrate.bucket_rows('digest_b', NULL, NULL, 64, (SELECT array_agg(bucket) FROM differing)) b
    USING (key_hash)
 WHERE a.row_hash IS DISTINCT FROM b.row_hash;

-- Only the chosen columns count.
SELECT count(*) AS differing_without_name
  FROM pymigrate.table_digest('digest_a', ARRAY['price', 'seen'], buckets => 8) a
  JOIN pymigrate.table_digest('digest_b', ARRAY['price', 'seen'], buckets => 8) b USING (bucket)
 WHERE (a.row_count, a.sum, a.xor) IS DISTINCT FROM (b.row_count, b.sum, b.xor);

-- Keys of every kind: text, uuid, composite; a table with no primary key
-- needs a key; a dropped column is skipped.
CREATE TABLE digest_text_key (code text PRIMARY KEY, v int);
INSERT INTO digest_text_key VALUES ('a', 1), ('b', 2), ('ü', 3);
CREATE TABLE digest_uuid_key (id uuid PRIMARY KEY, v int);
INSERT INTO digest_uuid_key VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1);
CREATE TABLE digest_composite (a int, b text, v jsonb, PRIMARY KEY (a, b));
INSERT INTO digest_composite VALUES (1, 'x', '{"k": 1}'), (1, 'y', NULL);
CREATE TABLE digest_nopk (a int, b text);
INSERT INTO digest_nopk VALUES (1, 'one'), (2, NULL);
CREATE TABLE digest_dropped (id int PRIMARY KEY, gone text, v int);
INSERT INTO digest_dropped VALUES (1, 'x', 10);
ALTER TABLE digest_dropped DROP COLUMN gone;
CREATE TABLE digest_empty (id int PRIMARY KEY);

SELECT bucket, key FROM pymigrate.bucket_rows('digest_text_key', NULL, NULL, 1, ARRAY[0]) ORDER BY key;
SELECT key FROM pymigrate.bucket_rows('digest_uuid_key', NULL, NULL, 1, ARRAY[0]);
SELECT key FROM pymigrate.bucket_rows('digest_composite', NULL, NULL, 1, ARRAY[0]) ORDER BY key;
SELECT sum(row_count) FROM pymigrate.table_digest('digest_nopk');
SELECT key FROM pymigrate.bucket_rows('digest_nopk', NULL, ARRAY['a'], 1, ARRAY[0]) ORDER BY key;
SELECT key, row_hash = (SELECT row_hash FROM pymigrate.bucket_rows('digest_dropped', ARRAY['v'], NULL, 1, ARRAY[0]))
       AS dropped_column_ignored
  FROM pymigrate.bucket_rows('digest_dropped', NULL, NULL, 1, ARRAY[0]);
SELECT count(*) AS buckets, coalesce(sum(row_count), 0) AS rows FROM pymigrate.table_digest('digest_empty');

-- Partitioned tables are read leaf by leaf.
CREATE TABLE digest_parted (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE digest_parted_1 PARTITION OF digest_parted FOR VALUES FROM (0) TO (500);
CREATE TABLE digest_parted_2 (v text, id int NOT NULL);
ALTER TABLE digest_parted ATTACH PARTITION digest_parted_2 FOR VALUES FROM (500) TO (1001);
INSERT INTO digest_parted SELECT id, name FROM digest_a;
SELECT count(*) AS differing_buckets
  FROM pymigrate.table_digest('digest_parted', ARRAY['v'], buckets => 8) p
  JOIN pymigrate.table_digest('digest_a', ARRAY['name'], buckets => 8) a USING (bucket)
 WHERE (a.row_count, a.sum, a.xor) IS DISTINCT FROM (p.row_count, p.sum, p.xor);

-- Bad input: clear errors.
SELECT * FROM pymigrate.table_digest('digest_nopk');
SELECT * FROM pymigrate.table_digest('digest_a', ARRAY['nope']);
SELECT * FROM pymigrate.table_digest('digest_a', key => ARRAY['id', 'id']);
SELECT * FROM pymigrate.table_digest('digest_a', key => ARRAY[]::text[]);
SELECT * FROM pymigrate.table_digest('digest_a', buckets => 0);
SELECT * FROM pymigrate.table_digest('digest_a', parallel => -1);
SELECT * FROM pymigrate.bucket_rows('digest_a', NULL, NULL, 4, ARRAY[4]);
SELECT * FROM pymigrate.bucket_rows('digest_a', NULL, NULL, 4, ARRAY[NULL]::int[]);
CREATE VIEW digest_view AS SELECT * FROM digest_a;
SELECT * FROM pymigrate.table_digest('digest_view', key => ARRAY['id']);
CREATE TABLE digest_point (id int PRIMARY KEY, p point);
SELECT * FROM pymigrate.table_digest('digest_point');
SELECT sum(row_count) FROM pymigrate.table_digest('digest_point', ARRAY['id']);

-- The caller's privileges and row level security hold.
CREATE ROLE regress_digest_reader;
GRANT USAGE ON SCHEMA pymigrate TO regress_digest_reader;
GRANT SELECT (id) ON digest_a TO regress_digest_reader;
CREATE TABLE digest_rls (id int PRIMARY KEY, owner_name text);
ALTER TABLE digest_rls ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON digest_rls TO regress_digest_reader;
SET ROLE regress_digest_reader;
SELECT sum(row_count) FROM pymigrate.table_digest('digest_a', ARRAY['id']);
SELECT sum(row_count) FROM pymigrate.table_digest('digest_a');
SELECT sum(row_count) FROM pymigrate.table_digest('digest_rls');
RESET ROLE;
REVOKE ALL ON digest_a, digest_rls FROM regress_digest_reader;
REVOKE ALL ON SCHEMA pymigrate FROM regress_digest_reader;
DROP ROLE regress_digest_reader;

-- The sample monolith's largest table (sample/schema.sql: order_items) at
-- :rows rows, filled as sample/data.sql fills it: deterministic for a given
-- size, so two servers that run this hold the same rows.
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SELECT setseed(0.4242);
\set n_orders (:rows * 2 / 5)
\set n_variants (:rows / 5)
CREATE TABLE order_items (
    id         bigint NOT NULL,
    order_id   bigint NOT NULL,
    variant_id bigint NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(12, 2) NOT NULL
);
INSERT INTO order_items (id, order_id, variant_id, quantity, unit_price)
SELECT i, 1 + (i - 1) % :n_orders, v, 1 + floor(random() * 3)::int, round((5 + random() * 300)::numeric, 2)
  FROM (SELECT i, 1 + floor(random() * :n_variants)::bigint AS v FROM generate_series(1, :rows) i) s;
ALTER TABLE order_items ADD PRIMARY KEY (id);
VACUUM (ANALYZE, FREEZE) order_items;

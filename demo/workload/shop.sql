-- The rest of the shop (pgbench script; -D products=N -D orders=N): product
-- pages and order lookups. These tables stay in the monolith.
\set pid random(1, :products)
\set oid random(1, :orders)
SELECT p.id, p.name, p.price + v.price_delta AS price, v.sku FROM products p JOIN product_variants v ON v.product_id = p.id WHERE p.id = :pid;
SELECT o.id, o.status, o.total, count(i.id) AS items FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.id = :oid GROUP BY o.id;

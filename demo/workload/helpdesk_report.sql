-- The support dashboard (pgbench script; -D tickets=N): a ticket with its
-- customer and order, i.e. a query across the future service boundary.
\set tid random(1, :tickets)
SELECT t.id, t.subject, u.email, o.total FROM support_tickets t JOIN users u ON u.id = t.user_id LEFT JOIN orders o ON o.id = t.order_id WHERE t.id = :tid;

-- Foreign keys, secondary indexes and identity sequence positions for the
-- sample monolith, applied after the bulk load (data.sql).

ALTER TABLE user_addresses   ADD FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE;
ALTER TABLE user_sessions    ADD FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE;
ALTER TABLE loyalty_accounts ADD FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE;

ALTER TABLE categories       ADD FOREIGN KEY (parent_id) REFERENCES categories;
ALTER TABLE products         ADD FOREIGN KEY (category_id) REFERENCES categories;
ALTER TABLE products         ADD FOREIGN KEY (brand_id) REFERENCES brands;
ALTER TABLE product_variants ADD FOREIGN KEY (product_id) REFERENCES products ON DELETE CASCADE;
ALTER TABLE product_reviews  ADD FOREIGN KEY (product_id) REFERENCES products ON DELETE CASCADE;
ALTER TABLE product_reviews  ADD FOREIGN KEY (user_id) REFERENCES users;

ALTER TABLE stock_levels         ADD FOREIGN KEY (warehouse_id) REFERENCES warehouses;
ALTER TABLE stock_levels         ADD FOREIGN KEY (variant_id) REFERENCES product_variants;
ALTER TABLE stock_movements      ADD FOREIGN KEY (warehouse_id, variant_id) REFERENCES stock_levels;
ALTER TABLE purchase_orders      ADD FOREIGN KEY (supplier_id) REFERENCES suppliers;
ALTER TABLE purchase_orders      ADD FOREIGN KEY (warehouse_id) REFERENCES warehouses;
ALTER TABLE purchase_order_lines ADD FOREIGN KEY (purchase_order_id) REFERENCES purchase_orders ON DELETE CASCADE;
ALTER TABLE purchase_order_lines ADD FOREIGN KEY (variant_id) REFERENCES product_variants;

ALTER TABLE carts       ADD FOREIGN KEY (user_id) REFERENCES users;
ALTER TABLE cart_items  ADD FOREIGN KEY (cart_id) REFERENCES carts ON DELETE CASCADE;
ALTER TABLE cart_items  ADD FOREIGN KEY (variant_id) REFERENCES product_variants;
ALTER TABLE orders      ADD FOREIGN KEY (user_id) REFERENCES users;
ALTER TABLE orders      ADD FOREIGN KEY (coupon_code) REFERENCES coupons;
ALTER TABLE orders      ADD FOREIGN KEY (shipping_address_id) REFERENCES user_addresses;
ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders ON DELETE CASCADE;
ALTER TABLE order_items ADD FOREIGN KEY (variant_id) REFERENCES product_variants;
ALTER TABLE payments    ADD FOREIGN KEY (order_id) REFERENCES orders;
ALTER TABLE refunds     ADD FOREIGN KEY (payment_id) REFERENCES payments;
ALTER TABLE shipments   ADD FOREIGN KEY (order_id) REFERENCES orders;
ALTER TABLE shipments   ADD FOREIGN KEY (warehouse_id) REFERENCES warehouses;

ALTER TABLE support_tickets ADD FOREIGN KEY (user_id) REFERENCES users;
ALTER TABLE support_tickets ADD FOREIGN KEY (order_id) REFERENCES orders;
ALTER TABLE support_tickets ADD FOREIGN KEY (assigned_agent_id) REFERENCES agents;
ALTER TABLE ticket_messages ADD FOREIGN KEY (ticket_id) REFERENCES support_tickets ON DELETE CASCADE;
ALTER TABLE ticket_messages ADD FOREIGN KEY (author_agent_id) REFERENCES agents;

ALTER TABLE notifications ADD FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE;

CREATE INDEX ON user_addresses (user_id);
CREATE INDEX ON user_sessions (user_id);
CREATE INDEX ON products (category_id);
CREATE INDEX ON product_variants (product_id);
CREATE INDEX ON product_reviews (product_id);
CREATE INDEX ON stock_movements (warehouse_id, variant_id);
CREATE INDEX ON cart_items (variant_id);
CREATE INDEX ON orders (user_id);
CREATE INDEX ON orders (placed_at);
CREATE INDEX ON order_items (order_id);
CREATE INDEX ON payments (order_id);
CREATE INDEX ON shipments (order_id);
CREATE INDEX ON support_tickets (user_id);
CREATE INDEX ON ticket_messages (ticket_id);
CREATE INDEX ON notifications (user_id);

-- Identity columns were loaded with explicit values: move each sequence past them.
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.oid::regclass AS tbl, a.attname AS col, pg_get_serial_sequence(c.oid::regclass::text, a.attname) AS seq
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE a.attidentity <> '' AND c.relnamespace = 'public'::regnamespace
  LOOP
    EXECUTE format('SELECT setval(%L, coalesce((SELECT max(%I) FROM %s), 0) + 1, false)', r.seq, r.col, r.tbl);
  END LOOP;
END $$;

ANALYZE;

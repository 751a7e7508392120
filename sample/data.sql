-- Data for the sample monolith, generated in the server (no copied data).
--
--   psql -v scale=N -f schema.sql -f data.sql -f constraints.sql
--
-- scale 1 is about 110,000 rows in all; every row count grows linearly with
-- the scale except the small reference tables. order_items, the largest
-- table, has 20,000 x scale rows (10 M at scale 500). Deterministic: the
-- same scale always gives the same rows (setseed, generation in id order).

\if :{?scale}
\else
\set scale 1
\endif

SET synchronous_commit = off;
SELECT setseed(0.4242);

SELECT 4000 * :scale AS n_users,
       6000 * :scale AS n_addresses,
       8000 * :scale AS n_sessions,
       3000 * :scale AS n_loyalty,
       1500 * :scale AS n_products,
       4000 * :scale AS n_variants,
       6000 * :scale AS n_reviews,
       8000 * :scale AS n_movements,
       400  * :scale AS n_purchase_orders,
       2000 * :scale AS n_carts,
       8000 * :scale AS n_orders,
       20000 * :scale AS n_order_items,
       300  * :scale AS n_refunds,
       1500 * :scale AS n_tickets,
       5000 * :scale AS n_ticket_messages,
       6000 * :scale AS n_notifications
\gset

-- Word lists the text columns are drawn from.
CREATE TEMP TABLE words AS
SELECT ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Frances','Ken','Margaret','Linus','Radia','Tim',
             'Anita','Niklaus','John','Leslie','Shafi','Whitfield','Adele','Dennis'] AS first_names,
       ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Allen','Thompson','Hamilton','Torvalds',
             'Perlman','Berners-Lee','Borg','Wirth','Backus','Lamport','Goldwasser','Diffie','Goldberg','Ritchie'] AS last_names,
       ARRAY['Berlin','Hamburg','Munich','Cologne','Vienna','Zurich','Paris','Lyon','Madrid','Lisbon','Amsterdam',
             'Copenhagen','Oslo','Warsaw','Prague','Milan'] AS cities,
       ARRAY['DE','DE','DE','DE','AT','CH','FR','FR','ES','PT','NL','DK','NO','PL','CZ','IT'] AS countries,
       ARRAY['Classic','Urban','Trail','Studio','Everyday','Pro','Lite','Max','Eco','Nordic','Vintage','Sport'] AS adjectives,
       ARRAY['Jacket','Sneaker','Backpack','Kettle','Lamp','Chair','Headphones','Watch','Bottle','Scarf','Tent',
             'Blender','Keyboard','Notebook','Sunglasses','Umbrella'] AS nouns,
       ARRAY['fast delivery','great quality','runs small','would buy again','not as described','excellent value',
             'arrived damaged','perfect gift','colour differs from photo','very comfortable'] AS phrases,
       ARRAY['black','white','red','blue','green','grey','navy','olive','sand','pink'] AS colors,
       ARRAY['XS','S','M','L','XL','XXL','one size'] AS sizes;

-- accounts ----------------------------------------------------------------

INSERT INTO users (id, email, full_name, phone, password_hash, is_active, marketing_opt_in, preferences, created_at, last_login)
SELECT md5('u' || i)::uuid,
       'user' || i || '@example.com',
       w.first_names[1 + i % 20] || ' ' || w.last_names[1 + (i / 20) % 20],
       CASE WHEN random() < 0.7 THEN '+49 30 ' || lpad((i * 7919 % 10000000)::text, 7, '0') END,
       decode(md5('pw' || i), 'hex'),
       random() > 0.05,
       random() < 0.3,
       jsonb_build_object('language', (ARRAY['en','de','fr','es'])[1 + i % 4],
                          'newsletter', random() < 0.3,
                          'theme', CASE WHEN random() < 0.5 THEN 'dark' ELSE 'light' END),
       created,
       CASE WHEN random() < 0.9 THEN created + random() * interval '300 days' END
  FROM (SELECT i, timestamptz '2023-01-01 00:00:00+00' + random() * interval '400 days' AS created
          FROM generate_series(1, :n_users) i) s, words w;

INSERT INTO user_addresses (id, user_id, kind, line1, line2, city, postal_code, country, is_default)
SELECT i,
       md5('u' || (1 + (i - 1) % :n_users))::uuid,
       CASE WHEN i <= :n_users THEN 'shipping' ELSE (ARRAY['billing','shipping'])[1 + i % 2] END,
       (1 + i % 180) || ' ' || w.last_names[1 + i % 20] || 'straße',
       CASE WHEN random() < 0.2 THEN 'Apt ' || (1 + i % 40) END,
       w.cities[1 + i % 16],
       lpad(((i * 37) % 99999)::text, 5, '0'),
       w.countries[1 + i % 16],
       i <= :n_users
  FROM generate_series(1, :n_addresses) i, words w;

INSERT INTO user_sessions (id, user_id, ip, user_agent, created_at, expires_at)
SELECT md5('s' || i)::uuid,
       md5('u' || (1 + floor(random() * :n_users))::int)::uuid,
       ('10.' || (i / 65536) % 256 || '.' || (i / 256) % 256 || '.' || i % 256)::inet,
       (ARRAY['Mozilla/5.0 (X11; Linux x86_64)','Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)',
              'Mozilla/5.0 (Windows NT 10.0; Win64; x64)','okhttp/4.12.0'])[1 + i % 4],
       created,
       created + interval '30 days'
  FROM (SELECT i, timestamptz '2024-01-01 00:00:00+00' + random() * interval '300 days' AS created
          FROM generate_series(1, :n_sessions) i) s;

INSERT INTO loyalty_accounts (user_id, points, tier, updated_at)
SELECT md5('u' || i)::uuid,
       points,
       CASE WHEN points > 8000 THEN 'gold' WHEN points > 3000 THEN 'silver' ELSE 'bronze' END,
       timestamptz '2024-06-01 00:00:00+00' + random() * interval '150 days'
  FROM (SELECT i, floor(random() * 10000)::int AS points FROM generate_series(1, :n_loyalty) i) s;

-- catalog -----------------------------------------------------------------

INSERT INTO categories (id, parent_id, name, slug)
SELECT i,
       CASE WHEN i > 8 THEN 1 + (i - 1) % 8 END,
       CASE WHEN i <= 8 THEN (ARRAY['Clothing','Shoes','Outdoor','Home','Kitchen','Electronics','Office','Accessories'])[i]
            ELSE w.adjectives[1 + i % 12] || ' ' || w.nouns[1 + i % 16] || 's' END,
       'cat-' || i
  FROM generate_series(1, 40) i, words w;

INSERT INTO brands (id, name, country)
SELECT i, w.adjectives[1 + i % 12] || w.last_names[1 + (i / 12) % 20] || ' ' || i, w.countries[1 + i % 16]
  FROM generate_series(1, 80) i, words w;

INSERT INTO products (id, sku, name, description, category_id, brand_id, price, tags, attributes, is_published, created_at, updated_at)
SELECT i,
       'P-' || lpad(i::text, 8, '0'),
       w.adjectives[1 + i % 12] || ' ' || w.nouns[1 + (i / 12) % 16] || ' ' || (1 + i % 9) * 100,
       'The ' || w.adjectives[1 + i % 12] || ' ' || w.nouns[1 + (i / 12) % 16] || ': ' || w.phrases[1 + i % 10] || '.',
       9 + i % 32,
       CASE WHEN random() < 0.95 THEN 1 + i % 80 END,
       round((5 + random() * 495)::numeric, 2),
       ARRAY[lower(w.adjectives[1 + i % 12]), lower(w.nouns[1 + (i / 12) % 16])],
       jsonb_build_object('material', (ARRAY['cotton','leather','steel','wool','plastic','bamboo'])[1 + i % 6],
                          'weight_kg', round((0.1 + random() * 5)::numeric, 2),
                          'eco', random() < 0.25),
       random() < 0.97,
       created,
       created + random() * interval '200 days'
  FROM (SELECT i, timestamptz '2022-06-01 00:00:00+00' + random() * interval '500 days' AS created
          FROM generate_series(1, :n_products) i) s, words w;

INSERT INTO product_variants (id, product_id, sku, color, size, price_delta, weight_grams)
SELECT i,
       1 + (i - 1) % :n_products,
       'V-' || lpad(i::text, 9, '0'),
       w.colors[1 + i % 10],
       w.sizes[1 + (i / 10) % 7],
       CASE WHEN random() < 0.3 THEN round((random() * 20)::numeric, 2) ELSE 0 END,
       100 + floor(random() * 4900)::int
  FROM generate_series(1, :n_variants) i, words w;

INSERT INTO product_reviews (id, product_id, user_id, rating, title, body, created_at)
SELECT i,
       1 + floor(random() * :n_products)::bigint,
       md5('u' || (1 + floor(random() * :n_users))::int)::uuid,
       (1 + floor(random() * 5))::smallint,
       initcap(w.phrases[1 + i % 10]),
       w.phrases[1 + i % 10] || ', ' || w.phrases[1 + (i / 10) % 10] || '.',
       timestamptz '2023-03-01 00:00:00+00' + random() * interval '600 days'
  FROM generate_series(1, :n_reviews) i, words w;

-- inventory ---------------------------------------------------------------

INSERT INTO warehouses (id, code, name, city, country)
VALUES (1, 'BER1', 'Berlin Nord', 'Berlin', 'DE'), (2, 'HAM1', 'Hamburg Hafen', 'Hamburg', 'DE'),
       (3, 'MUC1', 'München Ost', 'Munich', 'DE'), (4, 'VIE1', 'Wien Süd', 'Vienna', 'AT'),
       (5, 'PAR1', 'Paris Roissy', 'Paris', 'FR'), (6, 'MAD1', 'Madrid Getafe', 'Madrid', 'ES');

INSERT INTO suppliers (id, name, contact_email, country, lead_time_days)
SELECT i, w.last_names[1 + i % 20] || ' Supply ' || i, 'orders@supplier' || i || '.example.com',
       w.countries[1 + i % 16], 3 + i % 40
  FROM generate_series(1, 60) i, words w;

-- Each variant is stocked in two warehouses.
INSERT INTO stock_levels (warehouse_id, variant_id, on_hand, reserved, reorder_point, updated_at)
SELECT wh, v, floor(random() * 500)::int, floor(random() * 20)::int, 10 + v % 40,
       timestamptz '2024-09-01 00:00:00+00' + random() * interval '60 days'
  FROM generate_series(1, :n_variants) v,
       LATERAL (VALUES (1 + v % 6), (1 + (v + 3) % 6)) AS x(wh);

INSERT INTO stock_movements (id, warehouse_id, variant_id, kind, quantity, reference, moved_at)
SELECT i, 1 + (v + CASE WHEN i % 2 = 0 THEN 0 ELSE 3 END) % 6, v,
       (ARRAY['receipt','sale','sale','sale','return','adjustment','transfer']::stock_movement_kind[])[1 + i % 7],
       CASE WHEN i % 7 IN (1, 2, 3) THEN -(1 + i % 5) ELSE 1 + i % 50 END,
       'MV-' || i,
       timestamptz '2024-01-01 00:00:00+00' + random() * interval '300 days'
  FROM (SELECT i, 1 + floor(random() * :n_variants)::bigint AS v FROM generate_series(1, :n_movements) i) s;

INSERT INTO purchase_orders (id, supplier_id, warehouse_id, status, ordered_at, expected_on, total)
SELECT i, 1 + i % 60, 1 + i % 6, (ARRAY['draft','sent','received','received','cancelled'])[1 + i % 5],
       ordered, (ordered + (3 + i % 40) * interval '1 day')::date, 0
  FROM (SELECT i, timestamptz '2024-01-01 00:00:00+00' + random() * interval '300 days' AS ordered
          FROM generate_series(1, :n_purchase_orders) i) s;

INSERT INTO purchase_order_lines (purchase_order_id, line_no, variant_id, quantity, unit_cost)
SELECT po, line, 1 + floor(random() * :n_variants)::bigint, 10 + floor(random() * 200)::int,
       round((2 + random() * 200)::numeric, 4)
  FROM generate_series(1, :n_purchase_orders) po, generate_series(1, 5) line;

UPDATE purchase_orders p SET total = l.total
  FROM (SELECT purchase_order_id, sum(quantity * unit_cost) AS total FROM purchase_order_lines GROUP BY 1) l
 WHERE l.purchase_order_id = p.id;

-- orders ------------------------------------------------------------------

INSERT INTO coupons (code, percent_off, valid_from, valid_until, max_uses)
SELECT upper(w.adjectives[1 + i % 12]) || (i * 5), (5 + (i % 6) * 5)::numeric(5, 2),
       date '2023-01-01' + i * 10, CASE WHEN i % 3 <> 0 THEN date '2023-01-01' + i * 10 + 90 END,
       CASE WHEN i % 2 = 0 THEN 1000 END
  FROM generate_series(1, 50) i, words w;

INSERT INTO carts (id, user_id, created_at, updated_at)
SELECT md5('c' || i)::uuid,
       CASE WHEN random() < 0.85 THEN md5('u' || (1 + floor(random() * :n_users))::int)::uuid END,
       created, created + random() * interval '2 days'
  FROM (SELECT i, timestamptz '2024-10-01 00:00:00+00' + random() * interval '50 days' AS created
          FROM generate_series(1, :n_carts) i) s;

INSERT INTO cart_items (cart_id, variant_id, quantity, added_at)
SELECT md5('c' || c)::uuid, 1 + ((c * 7 + k * 1013) % :n_variants), 1 + floor(random() * 3)::int,
       timestamptz '2024-10-01 00:00:00+00' + random() * interval '50 days'
  FROM generate_series(1, :n_carts) c, generate_series(1, 2) k;

INSERT INTO orders (id, user_id, status, coupon_code, shipping_address_id, subtotal, discount, tax, total, currency,
                    placed_at, notes, metadata)
SELECT i,
       md5('u' || u)::uuid,
       (ARRAY['delivered','delivered','delivered','shipped','paid','pending','cancelled','refunded']::order_status[])[1 + i % 8],
       CASE WHEN i % 10 = 0 THEN (SELECT code FROM coupons ORDER BY code OFFSET (i / 10) % 50 LIMIT 1) END,
       u, -- each user's first address is its default shipping address
       0, 0, 0, 0,
       (ARRAY['EUR','EUR','EUR','CHF','GBP'])[1 + i % 5],
       timestamptz '2023-06-01 00:00:00+00' + random() * interval '520 days',
       CASE WHEN random() < 0.1 THEN 'Please leave at the door' END,
       CASE WHEN random() < 0.5 THEN jsonb_build_object('channel', (ARRAY['web','ios','android'])[1 + i % 3],
                                                        'campaign', CASE WHEN i % 4 = 0 THEN 'autumn-sale' END) END
  FROM (SELECT i, 1 + floor(random() * :n_users)::int AS u FROM generate_series(1, :n_orders) i) s;

INSERT INTO order_items (id, order_id, variant_id, quantity, unit_price)
SELECT i, 1 + (i - 1) % :n_orders, v, 1 + floor(random() * 3)::int, round((5 + random() * 300)::numeric, 2)
  FROM (SELECT i, 1 + floor(random() * :n_variants)::bigint AS v FROM generate_series(1, :n_order_items) i) s;

UPDATE orders o
   SET subtotal = t.subtotal, tax = round(t.subtotal * 0.19, 2), total = round(t.subtotal * 1.19, 2)
  FROM (SELECT order_id, sum(quantity * unit_price) AS subtotal FROM order_items GROUP BY 1) t
 WHERE t.order_id = o.id;
UPDATE orders o SET discount = round(subtotal * c.percent_off / 100, 2),
                    tax = round((subtotal - round(subtotal * c.percent_off / 100, 2)) * 0.19, 2),
                    total = round((subtotal - round(subtotal * c.percent_off / 100, 2)) * 1.19, 2)
  FROM coupons c WHERE c.code = o.coupon_code;

INSERT INTO payments (id, order_id, method, status, amount, provider_ref, created_at, captured_at)
SELECT md5('p' || o.id)::uuid, o.id,
       (ARRAY['card','card','card','paypal','bank_transfer','gift_card']::payment_method[])[1 + o.id % 6],
       CASE o.status WHEN 'pending' THEN 'authorized' WHEN 'cancelled' THEN 'failed'
                     WHEN 'refunded' THEN 'refunded' ELSE 'captured' END::payment_status,
       o.total, 'ch_' || substr(md5('ref' || o.id), 1, 20),
       o.placed_at + interval '1 minute',
       CASE WHEN o.status NOT IN ('pending', 'cancelled') THEN o.placed_at + interval '5 minutes' END
  FROM orders o;

INSERT INTO refunds (id, payment_id, amount, reason, created_at)
SELECT row_number() OVER (ORDER BY p.order_id), p.id, greatest(round(p.amount * 0.5, 2), 0.01),
       (ARRAY['damaged','late delivery','changed mind','wrong size'])[1 + (p.order_id % 4)::int],
       p.created_at + interval '10 days'
  FROM payments p WHERE p.status = 'refunded' AND p.amount > 0
 ORDER BY p.order_id LIMIT :n_refunds;

INSERT INTO shipments (id, order_id, warehouse_id, carrier, tracking_number, status, shipped_at, delivered_at)
SELECT row_number() OVER (ORDER BY o.id), o.id, 1 + o.id % 6,
       (ARRAY['DHL','DPD','UPS','GLS','Hermes'])[1 + (o.id % 5)::int],
       'TRK' || lpad(o.id::text, 12, '0'),
       CASE o.status WHEN 'delivered' THEN 'delivered' WHEN 'refunded' THEN 'returned' ELSE 'in_transit' END::shipment_status,
       o.placed_at + interval '1 day',
       CASE WHEN o.status = 'delivered' THEN o.placed_at + interval '3 days' END
  FROM orders o WHERE o.status IN ('shipped', 'delivered', 'refunded');

-- support -----------------------------------------------------------------

INSERT INTO agents (id, email, full_name, team, active)
SELECT i, 'agent' || i || '@shop.example.com', w.first_names[1 + (i * 3) % 20] || ' ' || w.last_names[1 + (i * 7) % 20],
       (ARRAY['billing','shipping','returns','tech'])[1 + i % 4], i % 9 <> 0
  FROM generate_series(1, 25) i, words w;

INSERT INTO support_tickets (id, user_id, order_id, assigned_agent_id, subject, status, priority, tags, opened_at, closed_at)
SELECT i, o.user_id, CASE WHEN i % 5 <> 0 THEN o.id END, CASE WHEN i % 7 <> 0 THEN 1 + i % 25 END,
       'Order ' || o.id || ': ' || w.phrases[1 + i % 10],
       (ARRAY['open','pending','solved','closed','closed']::ticket_status[])[1 + i % 5],
       (ARRAY['low','normal','normal','high','urgent']::ticket_priority[])[1 + (i / 5) % 5],
       ARRAY[(ARRAY['billing','shipping','returns','tech'])[1 + i % 4]],
       o.placed_at + interval '2 days',
       CASE WHEN i % 5 IN (2, 3, 4) THEN o.placed_at + interval '5 days' END
  FROM (SELECT i, 1 + floor(random() * :n_orders)::bigint AS oid FROM generate_series(1, :n_tickets) i) s
  JOIN orders o ON o.id = s.oid, words w;

INSERT INTO ticket_messages (id, ticket_id, author_kind, author_agent_id, body, attachments, sent_at)
SELECT i, t, CASE WHEN i % 2 = 0 THEN 'agent' ELSE 'customer' END,
       CASE WHEN i % 2 = 0 THEN 1 + i % 25 END,
       CASE WHEN i % 2 = 0 THEN 'Thanks for reaching out, ' ELSE 'Hello, ' END || w.phrases[1 + i % 10] || '.',
       CASE WHEN i % 11 = 0 THEN jsonb_build_array(jsonb_build_object('name', 'photo' || i || '.jpg', 'bytes', 1000 + i)) END,
       timestamptz '2024-01-01 00:00:00+00' + random() * interval '300 days'
  FROM (SELECT i, 1 + (i - 1) % :n_tickets AS t FROM generate_series(1, :n_ticket_messages) i) s, words w;

-- notifications -----------------------------------------------------------

INSERT INTO notifications (id, user_id, channel, template, payload, sent_at, read_at)
SELECT i, md5('u' || (1 + floor(random() * :n_users))::int)::uuid,
       (ARRAY['email','email','push','sms'])[1 + i % 4],
       (ARRAY['order_shipped','order_delivered','password_reset','newsletter','cart_reminder'])[1 + i % 5],
       jsonb_build_object('n', i), sent, CASE WHEN random() < 0.6 THEN sent + interval '2 hours' END
  FROM (SELECT i, timestamptz '2024-01-01 00:00:00+00' + random() * interval '300 days' AS sent
          FROM generate_series(1, :n_notifications) i) s;

DROP TABLE words;

-- Sync, trigger capture (extension/sync/capture*.cpp): for a provider whose
-- changes cannot be read by logical decoding (wal_level below logical).
-- Capture triggers on the provider's tables append the changes, encoded as
-- the change stream's messages (PROTOCOL.md), to pymigrate.change_log; the
-- subscriber's apply worker reads them over libpq, only for transactions
-- its snapshot shows finished (batches between two snapshots, as PgQ does:
-- a transaction that commits late with a low id is never skipped), applies
-- them like logical changes, and confirms what it has applied so that the
-- provider trims it. Changes made by a session with a replication origin
-- (an apply worker) are not captured: no loops.

-- Provider side.
CREATE SEQUENCE pymigrate.change_log_seq;
COMMENT ON SEQUENCE pymigrate.change_log_seq IS
  'Orders captured changes: taken after a statement changed (and locked) its rows';

CREATE TABLE pymigrate.change_log (
    -- The capturing transaction (pg_current_xact_id()).
    txid        xid8 NOT NULL,
    -- From change_log_seq, taken after the statement's rows were changed:
    -- a later change of the same row always has a larger seq.
    seq         bigint NOT NULL,
    relid       oid NOT NULL,
    captured_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    -- A RELATION message and the INSERT / UPDATE / DELETE / TRUNCATE
    -- messages of one statement (or row), each preceded by its u32 length.
    data        bytea NOT NULL
);
CREATE INDEX change_log_txid ON pymigrate.change_log (txid);
COMMENT ON TABLE pymigrate.change_log IS
  'Changes captured by pymigrate''s capture triggers, until every consumer has applied them';

-- Who reads the change log: one row per subscription on another server.
CREATE TABLE pymigrate.capture_consumer (
    name         text PRIMARY KEY,
    tables       text[] NOT NULL,
    -- Every change of a transaction this snapshot shows is applied and
    -- flushed by the consumer; NULL: nothing confirmed yet.
    confirmed    pg_snapshot,
    created_at   timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz
);
COMMENT ON TABLE pymigrate.capture_consumer IS
  'Subscribers reading pymigrate.change_log and how far they have applied it';

CREATE FUNCTION pymigrate._capture()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'pymigrate_capture';
COMMENT ON FUNCTION pymigrate._capture() IS
  'The capture trigger: statement-level with transition tables (or per row), appends to pymigrate.change_log';

-- Starts (or changes) capture for `consumer`: its tables get the capture
-- triggers (statement-level with transition tables, or `mode` 'row'),
-- ENABLE ALWAYS so that a session in replica role is captured too (only a
-- replication origin, i.e. an apply worker, is not). Triggers of tables no
-- consumer reads any more are dropped. Waits for writers of the tables to
-- finish (CREATE TRIGGER's lock), so that nothing after it goes uncaptured.
CREATE FUNCTION pymigrate.capture_start(consumer text, tables text[], mode text DEFAULT 'statement')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
    rel regclass;
BEGIN
    IF mode NOT IN ('statement', 'row') THEN
        RAISE EXCEPTION 'capture mode must be statement or row, not %', mode USING ERRCODE = '22023';
    END IF;
    FOREACH t IN ARRAY tables LOOP
        rel := to_regclass(t);
        IF rel IS NULL THEN
            RAISE EXCEPTION 'table % does not exist', t USING ERRCODE = '42P01';
        END IF;
        IF (SELECT relkind FROM pg_class WHERE oid = rel) <> 'r' THEN
            RAISE EXCEPTION '% is not an ordinary table', rel USING ERRCODE = '42809';
        END IF;
    END LOOP;
    INSERT INTO pymigrate.capture_consumer AS c (name, tables)
    VALUES (consumer, (SELECT array_agg(to_regclass(x)::text ORDER BY 1) FROM unnest(tables) x))
    ON CONFLICT (name) DO UPDATE SET tables = excluded.tables;
    PERFORM pymigrate._capture_triggers(mode);
END $$;

-- The capture triggers as the consumers need them.
CREATE FUNCTION pymigrate._capture_triggers(mode text DEFAULT 'statement')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    -- Tables no consumer reads any more.
    FOR r IN SELECT DISTINCT tgrelid::regclass AS rel FROM pg_trigger
             WHERE tgname LIKE 'pymigrate\_capture%'
               AND tgrelid::regclass::text <> ALL (SELECT unnest(tables) FROM pymigrate.capture_consumer) LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS pymigrate_capture_insert ON %s', r.rel);
        EXECUTE format('DROP TRIGGER IF EXISTS pymigrate_capture_update ON %s', r.rel);
        EXECUTE format('DROP TRIGGER IF EXISTS pymigrate_capture_delete ON %s', r.rel);
        EXECUTE format('DROP TRIGGER IF EXISTS pymigrate_capture_row ON %s', r.rel);
        EXECUTE format('DROP TRIGGER IF EXISTS pymigrate_capture_truncate ON %s', r.rel);
    END LOOP;
    -- Tables that need them.
    FOR r IN SELECT DISTINCT to_regclass(t) AS rel FROM pymigrate.capture_consumer, unnest(tables) t
             WHERE to_regclass(t) IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(t)
                               AND tgname = 'pymigrate_capture_truncate') LOOP
        IF mode = 'row' THEN
            EXECUTE format('CREATE TRIGGER pymigrate_capture_row AFTER INSERT OR UPDATE OR DELETE ON %s '
                           'FOR EACH ROW EXECUTE FUNCTION pymigrate._capture()', r.rel);
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER pymigrate_capture_row', r.rel);
        ELSE
            EXECUTE format('CREATE TRIGGER pymigrate_capture_insert AFTER INSERT ON %s '
                           'REFERENCING NEW TABLE AS pymigrate_new '
                           'FOR EACH STATEMENT EXECUTE FUNCTION pymigrate._capture()', r.rel);
            EXECUTE format('CREATE TRIGGER pymigrate_capture_update AFTER UPDATE ON %s '
                           'REFERENCING OLD TABLE AS pymigrate_old NEW TABLE AS pymigrate_new '
                           'FOR EACH STATEMENT EXECUTE FUNCTION pymigrate._capture()', r.rel);
            EXECUTE format('CREATE TRIGGER pymigrate_capture_delete AFTER DELETE ON %s '
                           'REFERENCING OLD TABLE AS pymigrate_old '
                           'FOR EACH STATEMENT EXECUTE FUNCTION pymigrate._capture()', r.rel);
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER pymigrate_capture_insert', r.rel);
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER pymigrate_capture_update', r.rel);
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER pymigrate_capture_delete', r.rel);
        END IF;
        EXECUTE format('CREATE TRIGGER pymigrate_capture_truncate AFTER TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION pymigrate._capture()', r.rel);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER pymigrate_capture_truncate', r.rel);
    END LOOP;
END $$;

-- Stops capture for `consumer`: its row goes, triggers no one needs go,
-- captured changes no one needs go.
CREATE FUNCTION pymigrate.capture_stop(consumer text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pymigrate.capture_consumer WHERE name = consumer;
    PERFORM pymigrate._capture_triggers();
    PERFORM pymigrate.capture_trim();
END $$;

-- Records that `consumer` has applied every change of the transactions
-- `applied` shows, and trims what every consumer has applied. Returns the
-- rows deleted.
CREATE FUNCTION pymigrate.capture_confirm(consumer text, applied pg_snapshot)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE pymigrate.capture_consumer SET confirmed = applied, confirmed_at = now() WHERE name = consumer;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'capture consumer % does not exist', consumer USING ERRCODE = '42704';
    END IF;
    RETURN pymigrate.capture_trim();
END $$;

CREATE FUNCTION pymigrate.capture_trim()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    horizon xid8;
    n bigint;
BEGIN
    -- Below the oldest confirmed snapshot's xmin every transaction is
    -- applied by every consumer (one without a confirmation holds all).
    IF EXISTS (SELECT 1 FROM pymigrate.capture_consumer WHERE confirmed IS NULL) THEN
        RETURN 0;
    END IF;
    SELECT min(pg_snapshot_xmin(confirmed)) INTO horizon FROM pymigrate.capture_consumer;
    IF horizon IS NULL THEN
        DELETE FROM pymigrate.change_log;  -- no consumer at all
    ELSE
        DELETE FROM pymigrate.change_log WHERE txid < horizon;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE VIEW pymigrate.capture_status AS
SELECT c.name AS consumer, c.tables, c.confirmed, c.confirmed_at,
       (SELECT count(*) FROM pymigrate.change_log l
         WHERE c.confirmed IS NULL OR NOT pg_catalog.pg_visible_in_snapshot(l.txid, c.confirmed)) AS pending
FROM pymigrate.capture_consumer c;
COMMENT ON VIEW pymigrate.capture_status IS
  'Consumers of pymigrate.change_log: tables, what they confirmed, change log rows they have not applied';

-- _capture() writes pymigrate.change_log as its owner: only the extension
-- attaches it (firing a trigger checks no privilege).
REVOKE ALL ON FUNCTION pymigrate._capture() FROM PUBLIC;
REVOKE ALL ON FUNCTION pymigrate.capture_start(text, text[], text), pymigrate._capture_triggers(text),
  pymigrate.capture_stop(text), pymigrate.capture_confirm(text, pg_snapshot), pymigrate.capture_trim()
  FROM PUBLIC;

-- Subscriber side: the consumer name a subscription of this database reads
-- its provider's change log under (the provider's capture_status.consumer).
CREATE FUNCTION pymigrate.capture_consumer_name(subscription text)
RETURNS text
LANGUAGE c STRICT STABLE
AS 'MODULE_PATHNAME', 'pymigrate_capture_consumer_name';
COMMENT ON FUNCTION pymigrate.capture_consumer_name(text) IS
  'The name the subscription reads its provider''s pymigrate.change_log under (capture_status.consumer there)';

-- Subscriber side: how far a trigger-capture subscription has applied.
-- `prev` is the provider snapshot up to which everything is applied;
-- `batch` the snapshot of the batch being applied (changes of transactions
-- it shows and `prev` does not), `applied_seq` the last transaction of that
-- batch applied (its largest seq; the batch is applied in that order).
CREATE TABLE pymigrate.capture_progress (
    subscription_id integer PRIMARY KEY REFERENCES pymigrate.subscription (id) ON DELETE CASCADE,
    prev            pg_snapshot NOT NULL,
    batch           pg_snapshot,
    applied_seq     bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE pymigrate.capture_progress IS
  'Position of each trigger-capture subscription in its provider''s change log';

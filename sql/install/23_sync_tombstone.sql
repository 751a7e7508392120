-- Sync, tombstones (extension/sync/tombstone.cpp): which keys of a
-- subscribed table were deleted here, by which transaction, until the
-- other side has applied that delete. Conflict handling needs them when a
-- key is deleted and inserted again on one side while the other side
-- changes it: the remote change was made on the row as it was before the
-- delete, not on the new row, and must not overwrite it (README "Both
-- directions and conflicts"). Written by a statement trigger on each local
-- table of a subscription for deletes of this node's own sessions (an apply
-- worker's deletes record nothing); trimmed by the
-- manager once every subscription of the table has seen the delete come
-- back from its provider (the SEEN markers).
CREATE TABLE pymigrate.tombstone (
    relid      oid NOT NULL,
    -- The key columns' values (replica identity index, else primary key),
    -- encoded by pymigrate.tombstone_key() / tombstone.cpp.
    key        bytea NOT NULL,
    -- The deleting transaction (the latest delete of the key: a new delete
    -- replaces the row).
    xid        xid8 NOT NULL,
    -- Its start (the commit, which decides, is later).
    deleted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (relid, key)
);
COMMENT ON TABLE pymigrate.tombstone IS
  'Keys of subscribed tables deleted here and not yet known to be applied by the other side';

CREATE FUNCTION pymigrate._tombstone()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'pymigrate_tombstone';
COMMENT ON FUNCTION pymigrate._tombstone() IS
  'The tombstone trigger: AFTER DELETE (statement-level with the old rows; per row on a partition), records each deleted key';

-- The key of one row as the tombstones store it (for looking at them).
CREATE FUNCTION pymigrate.tombstone_key(tbl regclass, row_key text[])
RETURNS bytea
LANGUAGE c STRICT STABLE
AS 'MODULE_PATHNAME', 'pymigrate_tombstone_key';
COMMENT ON FUNCTION pymigrate.tombstone_key(regclass, text[]) IS
  'The tombstone key of a row of tbl from its key columns'' values as text, in key order';

-- The tombstone triggers as the subscriptions need them: on every local
-- table of a subscription, and on no other table (their tombstones go with
-- them). Called by create_, alter_ and drop_subscription.
CREATE FUNCTION pymigrate._tombstone_triggers()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT t.tgrelid::regclass AS rel FROM pg_trigger t
             WHERE t.tgname = 'pymigrate_tombstone'
               AND NOT EXISTS (SELECT 1 FROM pymigrate.subscription_table s
                               WHERE to_regclass(format('%I.%I', s.local_schema, s.local_table)) = t.tgrelid) LOOP
        EXECUTE format('DROP TRIGGER pymigrate_tombstone ON %s', r.rel);
    END LOOP;
    DELETE FROM pymigrate.tombstone b
     WHERE NOT EXISTS (SELECT 1 FROM pymigrate.subscription_table s
                       WHERE to_regclass(format('%I.%I', s.local_schema, s.local_table)) = b.relid);
    FOR r IN SELECT DISTINCT to_regclass(format('%I.%I', s.local_schema, s.local_table)) AS rel
             FROM pymigrate.subscription_table s
             WHERE to_regclass(format('%I.%I', s.local_schema, s.local_table)) IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                               WHERE t.tgname = 'pymigrate_tombstone'
                                 AND t.tgrelid = to_regclass(format('%I.%I', s.local_schema, s.local_table))) LOOP
        -- A partition gets a row trigger: a DELETE through its partitioned
        -- table fires no statement trigger of the partition.
        IF (SELECT relispartition FROM pg_class WHERE oid = r.rel) THEN
            EXECUTE format('CREATE TRIGGER pymigrate_tombstone AFTER DELETE ON %s '
                           'FOR EACH ROW EXECUTE FUNCTION pymigrate._tombstone()', r.rel);
        ELSE
            EXECUTE format('CREATE TRIGGER pymigrate_tombstone AFTER DELETE ON %s '
                           'REFERENCING OLD TABLE AS pymigrate_old '
                           'FOR EACH STATEMENT EXECUTE FUNCTION pymigrate._tombstone()', r.rel);
        END IF;
        -- Also in sessions in replica role (a restore, a tool): only an
        -- apply worker's deletes (it has a replication origin) are not ours.
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER pymigrate_tombstone', r.rel);
    END LOOP;
END $$;

-- Only the extension attaches the trigger (it writes pymigrate.tombstone
-- with heap and index calls, which check no privilege); firing a trigger
-- checks none either.
REVOKE ALL ON FUNCTION pymigrate._tombstone_triggers(), pymigrate._tombstone() FROM PUBLIC;

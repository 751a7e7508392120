-- Sync (extension/sync/): the change stream's debug decoder, the
-- subscription catalog, its SQL API and the status view.

-- The pymigrate change stream (extension/sync/PROTOCOL.md) as readable
-- lines: SELECT * FROM pymigrate.decode_changes(ARRAY(SELECT data FROM
-- pg_logical_slot_peek_binary_changes('slot', NULL, NULL))).
CREATE FUNCTION pymigrate.decode_changes(messages bytea[], verbose boolean DEFAULT false)
RETURNS SETOF text
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'pymigrate_decode_changes';
COMMENT ON FUNCTION pymigrate.decode_changes(bytea[], boolean) IS
  'Decodes messages of the pymigrate output plugin into one line each (positions, xids and times only when verbose)';

-- Subscriptions: this database applies the changes of tables on another
-- server (the provider), read through the provider's pymigrate output
-- plugin by an apply worker. Changed only through the functions below.
CREATE TABLE pymigrate.subscription (
    id                 integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text NOT NULL UNIQUE,
    provider_dsn       text NOT NULL,
    enabled            boolean NOT NULL DEFAULT true,
    -- On the provider: the logical slot the changes are read from.
    slot_name          name NOT NULL,
    -- Here: the replication origin whose progress commits with the data.
    origin_name        text NOT NULL UNIQUE,
    copy_data          boolean NOT NULL,
    synchronous_commit text NOT NULL DEFAULT 'off',
    forward_origins    text NOT NULL DEFAULT 'none' CHECK (forward_origins IN ('none', 'all')),
    -- Node names, conflict rules, capture mode (validated by the functions
    -- below; README "Sync" lists the keys).
    options            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    -- Bumped by alter_subscription: a running worker restarts with the change.
    generation         integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pymigrate.subscription IS
  'Subscriptions of this database to tables of another server; change them with pymigrate.*_subscription()';

-- The tables of each subscription. The remote name is the provider's table
-- (the same as the local one unless mapped); `state` 'i' means the table
-- still needs its initial copy, 'r' that its changes are applied from
-- transactions that committed at or after `sync_lsn` on the provider.
CREATE TABLE pymigrate.subscription_table (
    subscription_id integer NOT NULL REFERENCES pymigrate.subscription (id) ON DELETE CASCADE,
    local_schema    name NOT NULL,
    local_table     name NOT NULL,
    remote_schema   name NOT NULL,
    remote_table    name NOT NULL,
    state           "char" NOT NULL DEFAULT 'i' CHECK (state IN ('i', 'r')),
    sync_lsn        pg_lsn,
    rows_copied     bigint,
    copied_at       timestamptz,
    -- Column mapping ("columns": {local: remote}, "ignore": [remote columns])
    -- and conflict rules that override the subscription's.
    options         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    -- Trigger capture: the provider snapshot the initial copy was taken in
    -- (changes of transactions it shows are in the copy).
    sync_snapshot   pg_snapshot,
    PRIMARY KEY (subscription_id, local_schema, local_table),
    UNIQUE (subscription_id, remote_schema, remote_table)
);
COMMENT ON TABLE pymigrate.subscription_table IS
  'Tables of each subscription, with their initial-copy state';

SELECT pg_catalog.pg_extension_config_dump('pymigrate.subscription', '');
SELECT pg_catalog.pg_extension_config_dump('pymigrate.subscription_table', '');

CREATE FUNCTION pymigrate.create_subscription(
    name text,
    provider_dsn text,
    tables text[],
    copy_data boolean DEFAULT true,
    enabled boolean DEFAULT true,
    connect boolean DEFAULT true,
    slot_name text DEFAULT NULL,
    synchronous_commit text DEFAULT 'off',
    forward_origins text DEFAULT 'none',
    options jsonb DEFAULT '{}',
    table_options jsonb DEFAULT '{}')
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_create_subscription';
COMMENT ON FUNCTION pymigrate.create_subscription(text, text, text[], boolean, boolean, boolean, text, text, text, jsonb, jsonb) IS
  'Subscribes this database to tables of the provider: checks both sides (unless connect => false), '
  'creates the catalog rows and the replication origin; the apply worker then copies and streams. '
  'options: node names, conflict rules, capture mode; table_options: per local table its provider '
  'table, column mapping and conflict rules';

CREATE FUNCTION pymigrate.alter_subscription(
    name text,
    provider_dsn text DEFAULT NULL,
    add_tables text[] DEFAULT NULL,
    drop_tables text[] DEFAULT NULL,
    copy_data boolean DEFAULT true,
    synchronous_commit text DEFAULT NULL,
    forward_origins text DEFAULT NULL,
    options jsonb DEFAULT NULL,
    table_options jsonb DEFAULT NULL)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_alter_subscription';
COMMENT ON FUNCTION pymigrate.alter_subscription(text, text, text[], text[], boolean, text, text, jsonb, jsonb) IS
  'Changes a subscription (provider, tables, settings, options, per-table mapping and conflict rules; '
  'keys given replace those stored, a JSON null removes one); its worker restarts with the change';

CREATE FUNCTION pymigrate.enable_subscription(name text)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_enable_subscription';

CREATE FUNCTION pymigrate.disable_subscription(name text)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_disable_subscription';

CREATE FUNCTION pymigrate.drop_subscription(name text, drop_slot boolean DEFAULT true, if_exists boolean DEFAULT false)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_drop_subscription';
COMMENT ON FUNCTION pymigrate.drop_subscription(text, boolean, boolean) IS
  'Stops the subscription''s worker, drops its slot on the provider (unless drop_slot => false), '
  'its replication origin and its catalog rows';

-- What the apply workers report from shared memory (see the view below).
CREATE FUNCTION pymigrate._subscription_runtime(
    OUT subscription_id integer, OUT state text, OUT worker_pid integer,
    OUT lag_bytes bigint, OUT lag_seconds double precision,
    OUT received_lsn pg_lsn, OUT applied_lsn pg_lsn, OUT flushed_lsn pg_lsn,
    OUT changes_applied bigint, OUT transactions_applied bigint, OUT rows_not_found bigint,
    OUT last_applied_commit timestamptz, OUT last_message timestamptz, OUT worker_started timestamptz,
    OUT copy_tables_done integer, OUT copy_tables_total integer, OUT copy_rows bigint, OUT copy_table text,
    OUT retries integer, OUT last_error text, OUT last_error_time timestamptz,
    OUT conflicts bigint, OUT apply_rate double precision, OUT held boolean)
RETURNS SETOF record
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_subscription_runtime';

-- One row per subscription. `state` is one of:
--   disabled      enabled is false
--   initializing  no worker yet, or the worker is connecting and checking
--                 the provider (or creating its slot)
--   copying       the initial copy runs (copy_* columns show progress)
--   catchup       streaming, but lag_seconds is above pymigrate.sync_max_lag
--   streaming     streaming and lag_seconds is at most pymigrate.sync_max_lag
--                 (default 1 s): caught up enough to serve traffic
--   error         the last worker run failed (last_error says why); it is
--                 retried with back-off (retries counts the failures). A
--                 change held by conflict handling (strategy 'error', a
--                 failing custom resolver) keeps this state, with
--                 held = true, until the retry applies it
-- lag_seconds: how old (provider commit time against this server's clock)
-- the remote transaction being applied is; 0 when the worker has applied
-- everything the provider sent. lag_bytes: WAL between the newest
-- provider position received and the position applied. Both are NULL
-- when no worker streams. Counters are since the server started:
-- conflicts counts the conflicts met (pymigrate.conflict_log has each),
-- apply_rate is changes applied per second over the last few seconds.
-- capture, strategy, local_node and remote_node come from the options.
CREATE VIEW pymigrate.subscription_status AS
SELECT s.name, s.enabled,
       CASE WHEN NOT s.enabled THEN 'disabled' ELSE coalesce(r.state, 'initializing') END AS state,
       r.lag_bytes, r.lag_seconds, r.last_error,
       r.received_lsn, r.applied_lsn, r.flushed_lsn,
       coalesce(r.changes_applied, 0) AS changes_applied,
       coalesce(r.transactions_applied, 0) AS transactions_applied,
       coalesce(r.rows_not_found, 0) AS rows_not_found,
       r.last_applied_commit, r.last_message,
       r.copy_tables_done, r.copy_tables_total, r.copy_rows, r.copy_table,
       (SELECT count(*) FROM pymigrate.subscription_table t WHERE t.subscription_id = s.id AND t.state = 'r')::integer
         AS tables_ready,
       (SELECT count(*) FROM pymigrate.subscription_table t WHERE t.subscription_id = s.id)::integer AS tables,
       r.worker_pid, r.worker_started, coalesce(r.retries, 0) AS retries, r.last_error_time,
       s.slot_name, s.id AS subscription_id,
       coalesce(r.conflicts, 0) AS conflicts, coalesce(r.apply_rate, 0) AS apply_rate,
       coalesce(r.held, false) AS held,
       coalesce(s.options->>'capture', 'logical') AS capture,
       coalesce(s.options->>'strategy', 'last_write_wins') AS strategy,
       coalesce(s.options->>'local_node', current_database()) AS local_node,
       s.options->>'remote_node' AS remote_node
FROM pymigrate.subscription s
LEFT JOIN pymigrate._subscription_runtime() r ON r.subscription_id = s.id;
COMMENT ON VIEW pymigrate.subscription_status IS
  'State, lag, progress and last error of each subscription (states: disabled, initializing, copying, catchup, streaming, error)';
GRANT SELECT ON pymigrate.subscription_status TO PUBLIC;

REVOKE ALL ON FUNCTION pymigrate.create_subscription(text, text, text[], boolean, boolean, boolean, text, text, text, jsonb, jsonb),
  pymigrate.alter_subscription(text, text, text[], text[], boolean, text, text, jsonb, jsonb),
  pymigrate.enable_subscription(text), pymigrate.disable_subscription(text),
  pymigrate.drop_subscription(text, boolean, boolean) FROM PUBLIC;

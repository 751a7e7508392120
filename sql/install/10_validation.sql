-- Consistency validation (extension/validate/): row hashes and digests in
-- the server, comparison with another server over libpq, reports, repair,
-- scheduled runs. The row encoding is described in common/row_encoding.md.

-- ---------------------------------------------------------------------------
-- One table on this server
-- ---------------------------------------------------------------------------

CREATE FUNCTION pymigrate.table_digest(tbl regclass, columns text[] DEFAULT NULL, key text[] DEFAULT NULL,
                                       buckets integer DEFAULT NULL, parallel integer DEFAULT NULL)
RETURNS TABLE (bucket integer, row_count bigint, sum bigint, xor bigint)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_table_digest';
COMMENT ON FUNCTION pymigrate.table_digest(regclass, text[], text[], integer, integer) IS
  'Per bucket of key hashes: row count, sum and xor of the XXH3 row hashes of columns (default all) keyed by key '
  '(default the primary key); buckets defaults to about 32 rows each; parallel: workers (NULL: as the planner would)';

CREATE FUNCTION pymigrate.bucket_rows(tbl regclass, columns text[], key text[], buckets integer, which integer[])
RETURNS TABLE (bucket integer, key jsonb, key_hash bigint, row_hash bigint)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_bucket_rows';
COMMENT ON FUNCTION pymigrate.bucket_rows(regclass, text[], text[], integer, integer[]) IS
  'The rows of the listed buckets of table_digest (same columns, key, buckets): key as a JSON array, key and row hash';

CREATE FUNCTION pymigrate.encode_value(value anyelement)
RETURNS bytea
LANGUAGE c STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'pymigrate_encode_value';
COMMENT ON FUNCTION pymigrate.encode_value(anyelement) IS
  'The canonical encoding of one value that row hashes are computed over (common/row_encoding.md)';

CREATE FUNCTION pymigrate._encoding_version()
RETURNS integer
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pymigrate_encoding_version';

-- What pymigrate.validate() on the other server calls over libpq. Binary
-- forms keep the transfer small; keys and values are rendered with a fixed
-- DateStyle so both servers read them back alike.
CREATE FUNCTION pymigrate._table_info(tbl regclass, columns text[], key text[])
RETURNS jsonb
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'pymigrate_table_info';

CREATE FUNCTION pymigrate._digest_packed(tbl regclass, columns text[], key text[], buckets integer, parallel integer)
RETURNS bytea
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_digest_packed';

CREATE FUNCTION pymigrate._bucket_rows_packed(tbl regclass, columns text[], key text[], buckets integer,
                                              which integer[])
RETURNS bytea
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_bucket_rows_packed';

CREATE FUNCTION pymigrate._row_refs(tbl regclass, columns text[], key text[])
RETURNS TABLE (key_hash bigint, row_hash bigint, rel oid, tid tid)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_row_refs';

CREATE FUNCTION pymigrate._rows_at(tbl regclass, columns text[], key text[], refs bytea, with_image boolean)
RETURNS TABLE (ordinal integer, key jsonb, key_enc bytea, row_hash bigint, image jsonb, vals text[], row_xmin xid)
LANGUAGE c VOLATILE
SET datestyle = 'ISO, YMD' SET intervalstyle = 'postgres' SET extra_float_digits = 3
AS 'MODULE_PATHNAME', 'pymigrate_rows_at';

CREATE FUNCTION pymigrate._rows_by_key(tbl regclass, columns text[], key text[], keys jsonb, with_image boolean,
                                       with_values boolean)
RETURNS TABLE (ordinal integer, key jsonb, key_enc bytea, row_hash bigint, image jsonb, vals text[], row_xmin xid)
LANGUAGE c VOLATILE
SET datestyle = 'ISO, YMD' SET intervalstyle = 'postgres' SET extra_float_digits = 3
AS 'MODULE_PATHNAME', 'pymigrate_rows_by_key';

-- ---------------------------------------------------------------------------
-- Runs and what they found
-- ---------------------------------------------------------------------------

CREATE TABLE pymigrate.validation_run (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    remote      text NOT NULL,            -- the other server, password masked
    status      text NOT NULL CHECK (status IN ('consistent', 'inconsistent', 'pending', 'failed')),
    options     jsonb NOT NULL DEFAULT '{}',
    schedule_id bigint,
    error       text
);
COMMENT ON TABLE pymigrate.validation_run IS 'One pymigrate.validate() call: when, against which server, the outcome';

-- The connection string as given (it may hold a password), for reconcile()
-- and recheck() of a run; kept apart so validation_run can be shown freely.
CREATE TABLE pymigrate.validation_peer (
    run_id bigint PRIMARY KEY REFERENCES pymigrate.validation_run (id) ON DELETE CASCADE,
    dsn    text NOT NULL
);

CREATE TABLE pymigrate.validation_table (
    run_id             bigint NOT NULL REFERENCES pymigrate.validation_run (id) ON DELETE CASCADE,
    table_name         text NOT NULL,     -- local, schema-qualified
    remote_table       text NOT NULL,
    key_columns        text[] NOT NULL,   -- hashed first, in this order
    columns            text[] NOT NULL,   -- the other hashed columns, in hash order
    remote_key_columns text[] NOT NULL,
    remote_columns     text[] NOT NULL,
    method             text NOT NULL CHECK (method IN ('digest', 'merge')),
    buckets            integer NOT NULL,
    differing_buckets  integer NOT NULL,
    local_rows         bigint NOT NULL,
    remote_rows        bigint NOT NULL,
    rows_compared      bigint NOT NULL,   -- keys on either side
    duration           interval NOT NULL,
    PRIMARY KEY (run_id, table_name)
);

CREATE TABLE pymigrate.discrepancy (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        bigint NOT NULL,
    table_name    text NOT NULL,
    key           jsonb NOT NULL,         -- the key columns' values, in key_columns order
    kind          text NOT NULL CHECK (kind IN ('missing', 'extra', 'changed')),
    status        text NOT NULL CHECK (status IN ('pending', 'confirmed', 'resolved', 'repaired')),
    local_hash    bigint,
    remote_hash   bigint,
    local_row     jsonb,
    remote_row    jsonb,
    detected_at   timestamptz NOT NULL,
    recheck_after timestamptz,
    rechecked_at  timestamptz,
    -- Why it is still pending (changing at every re-check, sync behind), or
    -- why it was confirmed without sync's help (a subscription not streaming).
    reason        text,
    FOREIGN KEY (run_id, table_name) REFERENCES pymigrate.validation_table (run_id, table_name) ON DELETE CASCADE
);
CREATE INDEX ON pymigrate.discrepancy (run_id, table_name);
COMMENT ON TABLE pymigrate.discrepancy IS
  'A key whose row differs: missing (only on this server), extra (only on the remote), changed (both, different). '
  'pending: not settled yet (reason says why; pymigrate.recheck(run) settles it later); confirmed: still different, '
  'and unchanged on both sides, once sync had applied everything the previous read saw; '
  'resolved: agreed on re-check (it was in flight); repaired: fixed by pymigrate.reconcile()';

-- Per run and table: counts by kind (confirmed only) and the consistency.
CREATE VIEW pymigrate.validation_result AS
SELECT t.run_id, t.table_name, t.remote_table, r.remote, r.finished_at AS validated_at, t.rows_compared,
       CASE WHEN t.rows_compared = 0 THEN 100.0
            ELSE round(100.0 * (t.rows_compared - coalesce(d.confirmed, 0)) / t.rows_compared, 4) END AS consistency_pct,
       coalesce(d.missing, 0) AS missing, coalesce(d.extra, 0) AS extra, coalesce(d.changed, 0) AS changed,
       coalesce(d.pending, 0) AS pending, coalesce(d.resolved, 0) AS resolved, coalesce(d.repaired, 0) AS repaired,
       CASE WHEN coalesce(d.confirmed, 0) > 0 THEN 'inconsistent'
            WHEN coalesce(d.pending, 0) > 0 THEN 'pending' ELSE 'consistent' END AS status,
       t.method, t.duration
  FROM pymigrate.validation_table t
  JOIN pymigrate.validation_run r ON r.id = t.run_id
  LEFT JOIN LATERAL (
       SELECT count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
              count(*) FILTER (WHERE status = 'confirmed' AND kind = 'missing') AS missing,
              count(*) FILTER (WHERE status = 'confirmed' AND kind = 'extra') AS extra,
              count(*) FILTER (WHERE status = 'confirmed' AND kind = 'changed') AS changed,
              count(*) FILTER (WHERE status = 'pending') AS pending,
              count(*) FILTER (WHERE status = 'resolved') AS resolved,
              count(*) FILTER (WHERE status = 'repaired') AS repaired
         FROM pymigrate.discrepancy x
        WHERE x.run_id = t.run_id AND x.table_name = t.table_name) d ON true;

CREATE FUNCTION pymigrate.consistency_report(run bigint DEFAULT NULL)
RETURNS TABLE (table_name text, remote_table text, rows_compared bigint, consistency_pct numeric, missing bigint,
               extra bigint, changed bigint, pending bigint, resolved bigint, status text, method text,
               duration interval)
-- VOLATILE, so that consistency_report(validate(...)) sees the run just made.
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    the_run bigint := run;
BEGIN
    IF the_run IS NULL THEN
        SELECT max(id) INTO the_run FROM pymigrate.validation_run;
        IF the_run IS NULL THEN
            RAISE EXCEPTION 'no validation has run yet' USING ERRCODE = 'no_data_found',
                HINT = 'Run one with pymigrate.validate(tables, remote_dsn).';
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM pymigrate.validation_run r WHERE r.id = the_run) THEN
        RAISE EXCEPTION 'validation run % does not exist', the_run USING ERRCODE = 'no_data_found';
    END IF;
    RETURN QUERY
    SELECT v.table_name, v.remote_table, v.rows_compared, v.consistency_pct, v.missing, v.extra, v.changed,
           v.pending, v.resolved, v.status, v.method, v.duration
      FROM pymigrate.validation_result v
     WHERE v.run_id = the_run
     ORDER BY v.table_name;
END
$$;
COMMENT ON FUNCTION pymigrate.consistency_report(bigint) IS
  'Per table of a validation run (default the latest): rows compared, consistency percentage, discrepancies by kind';

CREATE VIEW pymigrate.consistency_status AS
SELECT DISTINCT ON (v.table_name, v.remote)
       v.table_name, v.remote_table, v.remote, v.run_id, v.validated_at, v.rows_compared, v.consistency_pct,
       v.missing, v.extra, v.changed, v.pending, v.status
  FROM pymigrate.validation_result v
 ORDER BY v.table_name, v.remote, v.run_id DESC;
COMMENT ON VIEW pymigrate.consistency_status IS 'The latest validation result of each table, per remote server';

-- ---------------------------------------------------------------------------
-- Comparing with another server
-- ---------------------------------------------------------------------------

-- Validation connects to another server as the server's operating system
-- user may, like dblink and postgres_fdw: not for every role (REVOKE below).
CREATE FUNCTION pymigrate.validate(tables text[], remote_dsn text, mapping jsonb DEFAULT '{}',
                                   with_rows boolean DEFAULT false, recheck boolean DEFAULT true,
                                   recheck_delay interval DEFAULT '2 seconds', wait boolean DEFAULT true,
                                   buckets integer DEFAULT NULL, merge_ratio double precision DEFAULT 0.25,
                                   parallel integer DEFAULT NULL, recheck_timeout interval DEFAULT '30 seconds')
RETURNS bigint
LANGUAGE c VOLATILE
SET datestyle = 'ISO, YMD' SET intervalstyle = 'postgres' SET extra_float_digits = 3
AS 'MODULE_PATHNAME', 'pymigrate_validate';
REVOKE ALL ON FUNCTION pymigrate.validate(text[], text, jsonb, boolean, boolean, interval, boolean, integer,
                                          double precision, integer, interval) FROM PUBLIC;
COMMENT ON FUNCTION pymigrate.validate(text[], text, jsonb, boolean, boolean, interval, boolean, integer,
                                       double precision, integer, interval) IS
  'Compares tables (NULL: every table also on the remote) with the server at remote_dsn; returns the run id. '
  'mapping: {"local_table": {"table": remote name, "columns": {local: remote}, "key": [...], "only": [...], '
  '"exclude": [...]}}. Differences are re-checked once the pymigrate subscriptions between the two servers have '
  'applied everything the first snapshots saw (at most recheck_timeout), or after recheck_delay without sync; '
  'a key is confirmed only when neither side changed it since the previous read';

CREATE FUNCTION pymigrate.recheck(run bigint, recheck_timeout interval DEFAULT NULL)
RETURNS bigint
LANGUAGE c VOLATILE
SET datestyle = 'ISO, YMD' SET intervalstyle = 'postgres' SET extra_float_digits = 3
AS 'MODULE_PATHNAME', 'pymigrate_recheck';
REVOKE ALL ON FUNCTION pymigrate.recheck(bigint, interval) FROM PUBLIC;
COMMENT ON FUNCTION pymigrate.recheck(bigint, interval) IS
  'Settles the pending discrepancies of a run (validate(..., wait => false), or left pending by its re-check) now, '
  'as validate() does, waiting for sync at most recheck_timeout (NULL: the run''s); returns how many are confirmed';

-- ---------------------------------------------------------------------------
-- Repair
-- ---------------------------------------------------------------------------

CREATE FUNCTION pymigrate.reconcile(run bigint, direction text, dry_run boolean DEFAULT true,
                                    max_changes integer DEFAULT 1000)
RETURNS TABLE (table_name text, key jsonb, action text, statement text)
LANGUAGE c VOLATILE
SET datestyle = 'ISO, YMD' SET intervalstyle = 'postgres' SET extra_float_digits = 3
AS 'MODULE_PATHNAME', 'pymigrate_reconcile';
REVOKE ALL ON FUNCTION pymigrate.reconcile(bigint, text, boolean, integer) FROM PUBLIC;
COMMENT ON FUNCTION pymigrate.reconcile(bigint, text, boolean, integer) IS
  'INSERT/UPDATE/DELETE statements that make the target equal the source (direction local_to_remote or '
  'remote_to_local) for the confirmed discrepancies of a run, from the rows as they are now; applied in one '
  'transaction on the target only with dry_run => false; refused (54000) above max_changes (NULL: no limit)';

-- ---------------------------------------------------------------------------
-- Continuous validation
-- ---------------------------------------------------------------------------

CREATE FUNCTION pymigrate._redact_dsn(dsn text)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pymigrate_redact_dsn';

CREATE TABLE pymigrate.validation_schedule (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tables          text[],                -- NULL: every table both sides have
    remote_dsn      text NOT NULL,         -- as given (may hold a password; see validation_schedules)
    every           interval NOT NULL CHECK (every >= interval '1 second'),
    alert_threshold numeric NOT NULL CHECK (alert_threshold BETWEEN 0 AND 100),
    mapping         jsonb NOT NULL DEFAULT '{}',
    options         jsonb NOT NULL DEFAULT '{}',
    enabled         boolean NOT NULL DEFAULT true,
    next_run_at     timestamptz NOT NULL DEFAULT now(),
    last_run_id     bigint,
    last_run_at     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pymigrate.alert (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    raised_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    schedule_id     bigint,
    run_id          bigint,
    table_name      text,
    consistency_pct numeric,
    threshold       numeric,
    message         text NOT NULL
);
COMMENT ON TABLE pymigrate.alert IS
  'Raised by scheduled validations: a table below its consistency threshold, or a run that failed. Each alert is '
  'also sent as NOTIFY pymigrate_alert (JSON payload) and logged as a WARNING';

CREATE FUNCTION pymigrate.schedule_validation(tables text[], remote_dsn text, every interval,
                                              alert_threshold numeric DEFAULT 100, mapping jsonb DEFAULT '{}',
                                              options jsonb DEFAULT '{}', enabled boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unknown text;
    new_id bigint;
BEGIN
    IF remote_dsn IS NULL OR every IS NULL OR alert_threshold IS NULL THEN
        RAISE EXCEPTION 'remote_dsn, every and alert_threshold must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF every < interval '1 second' THEN
        RAISE EXCEPTION 'every must be at least 1 second, not %', every USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF alert_threshold < 0 OR alert_threshold > 100 THEN
        RAISE EXCEPTION 'alert_threshold is a consistency percentage between 0 and 100, not %', alert_threshold
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(coalesce(options, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(coalesce(options, '{}')) k
     WHERE k NOT IN ('with_rows', 'recheck', 'recheck_delay', 'recheck_timeout', 'buckets', 'merge_ratio', 'parallel');
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown option(s) for a scheduled validation: %', unknown USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The options are with_rows, recheck, recheck_delay (seconds), recheck_timeout (seconds), buckets, '
                   'merge_ratio and parallel.';
    END IF;
    INSERT INTO pymigrate.validation_schedule (tables, remote_dsn, every, alert_threshold, mapping, options, enabled)
    VALUES (tables, remote_dsn, every, alert_threshold, coalesce(mapping, '{}'), coalesce(options, '{}'),
            coalesce(enabled, true))
    RETURNING id INTO new_id;
    PERFORM pymigrate._wake_scheduler();
    RETURN new_id;
END
$$;
REVOKE ALL ON FUNCTION pymigrate.schedule_validation(text[], text, interval, numeric, jsonb, jsonb, boolean) FROM PUBLIC;
COMMENT ON FUNCTION pymigrate.schedule_validation(text[], text, interval, numeric, jsonb, jsonb, boolean) IS
  'Validates tables against remote_dsn every interval in a background worker (shared_preload_libraries); a table '
  'below alert_threshold percent consistency raises an alert; returns the schedule id. enabled => false: only '
  'run_scheduled_validation() runs it';

CREATE FUNCTION pymigrate.unschedule_validation(schedule bigint)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (DELETE FROM pymigrate.validation_schedule s WHERE s.id = schedule RETURNING 1)
    SELECT count(*) > 0 FROM gone
$$;
REVOKE ALL ON FUNCTION pymigrate.unschedule_validation(bigint) FROM PUBLIC;

CREATE VIEW pymigrate.validation_schedules AS
SELECT s.id, s.tables, pymigrate._redact_dsn(s.remote_dsn) AS remote, s.every, s.alert_threshold, s.enabled,
       s.next_run_at, s.last_run_id, s.last_run_at, r.status AS last_status, s.last_error
  FROM pymigrate.validation_schedule s
  LEFT JOIN pymigrate.validation_run r ON r.id = s.last_run_id;
COMMENT ON VIEW pymigrate.validation_schedules IS 'Scheduled validations, connection strings masked';

-- One run of a schedule, now: what the background worker calls when the
-- schedule is due; callable directly. A failed run is recorded (status
-- failed) and alerted rather than raised, so a schedule keeps its history.
CREATE FUNCTION pymigrate.run_scheduled_validation(schedule bigint)
RETURNS bigint
LANGUAGE c VOLATILE
SET datestyle = 'ISO, YMD' SET intervalstyle = 'postgres' SET extra_float_digits = 3
AS 'MODULE_PATHNAME', 'pymigrate_run_scheduled_validation';
REVOKE ALL ON FUNCTION pymigrate.run_scheduled_validation(bigint) FROM PUBLIC;

-- Wakes the background worker at commit (a no-op without it).
CREATE FUNCTION pymigrate._wake_scheduler()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_wake_scheduler';

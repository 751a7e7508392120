-- Routing control plane: the route table the shims load and LISTEN to, its
-- audit history, and the health counters the shims publish for the ramp's
-- gates. Lives in the monolith database. Only the owner of pymigrate.route
-- (the role that created the extension) may change routes; every application
-- role may read them and report its counters.

-- Every change to pymigrate.route takes the next number: the version a shim
-- reports having applied, and the key of the history.
CREATE SEQUENCE pymigrate.route_version_seq;

-- Checks mirrored from the router's own validation (router/rule.cpp), so a
-- row the table accepts is a rule every shim accepts: a shim that rejected a
-- snapshot would keep routing on the previous one.
CREATE FUNCTION pymigrate._route_tables_valid(tables text[])
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT cardinality(tables) > 0
     AND array_position(tables, NULL) IS NULL
     AND (SELECT bool_and(t ~ '^[^.]+\.[^.]+$') FROM unnest(tables) AS t)
     AND (SELECT count(DISTINCT t) = count(*) FROM unnest(tables) AS t)
$$;

CREATE FUNCTION pymigrate._dsn_has_password(dsn text)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT dsn ~ '(^|\s)password\s*='
      OR dsn ~ '^postgres(ql)?://[^/@]*:[^/@]*@'
      OR (dsn ~ '^postgres(ql)?://' AND dsn ~ '[?&]password=')
$$;

CREATE TABLE pymigrate.route (
    service      text PRIMARY KEY
                 CONSTRAINT route_service_name CHECK (service ~ '^[a-z][a-z0-9_]{0,62}$'),
    tables       text[] NOT NULL
                 CONSTRAINT route_tables_schema_qualified CHECK (pymigrate._route_tables_valid(tables)),
    dsn          text NOT NULL
                 CONSTRAINT route_dsn_not_empty CHECK (dsn <> '')
                 CONSTRAINT route_dsn_without_password CHECK (NOT pymigrate._dsn_has_password(dsn)),
    strategy     text NOT NULL DEFAULT 'percentage'
                 CONSTRAINT route_strategy CHECK (strategy IN ('percentage', 'canary', 'blue_green', 'feature_flag')),
    percent      numeric(5, 2) NOT NULL DEFAULT 0
                 CONSTRAINT route_percent_range CHECK (percent BETWEEN 0 AND 100),
    canary_keys  text[] NOT NULL DEFAULT '{}'
                 CONSTRAINT route_canary_keys CHECK (array_position(canary_keys, NULL) IS NULL
                                                     AND array_position(canary_keys, '') IS NULL),
    active       text NOT NULL DEFAULT 'monolith'
                 CONSTRAINT route_active CHECK (active IN ('monolith', 'service')),
    flag_name    text,
    flag_enabled boolean NOT NULL DEFAULT false,
    flag_overrides jsonb NOT NULL DEFAULT '{}'
                 CONSTRAINT route_flag_overrides CHECK (jsonb_typeof(flag_overrides) = 'object'
                     AND NOT jsonb_path_exists(flag_overrides, '$.* ? (@.type() != "boolean")')
                     AND NOT flag_overrides ? ''),
    sticky       boolean NOT NULL DEFAULT true,
    salt         text,
    transactions text NOT NULL DEFAULT 'first_statement'
                 CONSTRAINT route_transactions CHECK (transactions IN ('first_statement', 'monolith')),
    enabled      boolean NOT NULL DEFAULT true,
    version      bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text NOT NULL DEFAULT current_user,
    reason       text,
    CONSTRAINT route_flag_named CHECK (strategy <> 'feature_flag' OR coalesce(flag_name, '') <> '')
);
COMMENT ON TABLE pymigrate.route IS
  'Routes: which tables belong to a service and how much of their traffic the shims send to its database';

CREATE TABLE pymigrate.route_history (
    version    bigint PRIMARY KEY,
    service    text NOT NULL,
    action     text NOT NULL,
    old        jsonb,
    new        jsonb,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    changed_by text NOT NULL DEFAULT current_user,
    reason     text
);
CREATE INDEX route_history_service ON pymigrate.route_history (service, version);
COMMENT ON TABLE pymigrate.route_history IS 'Every change to pymigrate.route: who, when, why, before and after';

-- One rule as the route file format has it (router/route_json.hpp).
CREATE FUNCTION pymigrate._route_json(r pymigrate.route)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT jsonb_build_object(
    'name', r.service, 'tables', to_jsonb(r.tables), 'dsn', r.dsn, 'strategy', r.strategy,
    'percent', r.percent, 'canary_keys', to_jsonb(r.canary_keys), 'active', r.active,
    'flag', jsonb_build_object('name', coalesce(r.flag_name, ''), 'enabled', r.flag_enabled,
                               'overrides', r.flag_overrides),
    'sticky', r.sticky, 'salt', coalesce(r.salt, r.service), 'transactions', r.transactions,
    'enabled', r.enabled, 'version', r.version)
$$;

-- Everything a shim needs, in the route file format: what it loads at
-- connect and after a NOTIFY too large to carry the routes itself.
CREATE FUNCTION pymigrate.route_snapshot()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT jsonb_build_object(
    'format', 1,
    'version', coalesce((SELECT max(version) FROM pymigrate.route_history), 0),
    'services', coalesce((SELECT jsonb_agg(pymigrate._route_json(r) ORDER BY r.service) FROM pymigrate.route AS r),
                         '[]'::jsonb))
$$;
COMMENT ON FUNCTION pymigrate.route_snapshot() IS 'All routes as one JSON document (the shim''s route file format)';

-- Changes: the owner only, even if someone granted more; no table in two
-- services; a new version each time.
CREATE FUNCTION pymigrate._route_before_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  owner name;
  other text;
  dup text;
BEGIN
  SELECT c.relowner::regrole::name INTO owner FROM pg_class AS c WHERE c.oid = TG_RELID;
  IF NOT pg_has_role(current_user, owner, 'MEMBER') THEN
    RAISE EXCEPTION 'only the owner of pymigrate.route (role %) may change routes', owner
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Run pymigrate route as that role; applications only read routes.';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  -- Serializes route changes, so two services cannot claim one table at once.
  LOCK TABLE pymigrate.route IN SHARE ROW EXCLUSIVE MODE;
  SELECT r.service, t INTO other, dup
    FROM pymigrate.route AS r, unnest(r.tables) AS t
   WHERE r.service <> NEW.service AND t = ANY (NEW.tables)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'table % already belongs to service "%"', dup, other
      USING ERRCODE = 'unique_violation',
            HINT = format('A table is routed by one service only: remove it from "%s" first.', other);
  END IF;
  NEW.version := nextval('pymigrate.route_version_seq');
  NEW.updated_at := now();
  NEW.updated_by := current_user;
  RETURN NEW;
END
$$;

CREATE FUNCTION pymigrate._route_audit()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  action text := coalesce(nullif(current_setting('pymigrate_route.action', true), ''), lower(TG_OP));
  why text := nullif(current_setting('pymigrate_route.reason', true), '');
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO pymigrate.route_history (version, service, action, old, new, reason)
    VALUES (nextval('pymigrate.route_version_seq'), OLD.service, action, pymigrate._route_json(OLD), NULL, why);
  ELSE
    INSERT INTO pymigrate.route_history (version, service, action, old, new, reason)
    VALUES (NEW.version, NEW.service, action,
            CASE WHEN TG_OP = 'UPDATE' THEN pymigrate._route_json(OLD) END, pymigrate._route_json(NEW),
            coalesce(why, NEW.reason));
  END IF;
  RETURN NULL;
END
$$;

-- One notification per changing statement, delivered at commit. It carries
-- the whole snapshot when it fits in a NOTIFY payload (under 8000 bytes), so
-- a shim applies a rollback without another round trip; otherwise only the
-- version, and the shim reloads.
CREATE FUNCTION pymigrate._route_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  snapshot text := pymigrate.route_snapshot()::text;
BEGIN
  IF octet_length(snapshot) < 7900 THEN
    PERFORM pg_notify('pymigrate_route', snapshot);
  ELSE
    PERFORM pg_notify('pymigrate_route',
                      jsonb_build_object('version', (SELECT max(version) FROM pymigrate.route_history))::text);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER route_before_change BEFORE INSERT OR UPDATE OR DELETE ON pymigrate.route
  FOR EACH ROW EXECUTE FUNCTION pymigrate._route_before_change();
CREATE TRIGGER route_audit AFTER INSERT OR UPDATE OR DELETE ON pymigrate.route
  FOR EACH ROW EXECUTE FUNCTION pymigrate._route_audit();
CREATE TRIGGER route_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pymigrate.route
  FOR EACH STATEMENT EXECUTE FUNCTION pymigrate._route_notify();
-- History is append-only, for everyone but its owner's maintenance.
CREATE FUNCTION pymigrate._route_history_readonly()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION 'pymigrate.route_history is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER route_history_readonly BEFORE UPDATE ON pymigrate.route_history
  FOR EACH ROW EXECUTE FUNCTION pymigrate._route_history_readonly();

-- Creates or changes one service's route from a JSON spec in the route file
-- format; keys left out keep their value (a new service needs name, tables
-- and dsn). `action` is what the history records: set, ramp, rollback ...
-- Returns the new version.
CREATE FUNCTION pymigrate.route_set(spec jsonb, reason text DEFAULT NULL, action text DEFAULT 'set')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  svc text;
  k text;
  cur pymigrate.route;
  nxt pymigrate.route;
  found_row boolean;
  flag jsonb;
BEGIN
  IF spec IS NULL OR jsonb_typeof(spec) <> 'object' THEN
    RAISE EXCEPTION 'route spec must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR k IN SELECT jsonb_object_keys(spec) LOOP
    IF k NOT IN ('name', 'tables', 'dsn', 'strategy', 'percent', 'canary_keys', 'active', 'flag', 'sticky',
                 'salt', 'transactions', 'enabled', 'version') THEN
      RAISE EXCEPTION 'unknown key "%" in route spec', k
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Known keys: name, tables, dsn, strategy, percent, canary_keys, active, flag, sticky, salt, transactions, enabled.';
    END IF;
  END LOOP;
  -- Types first, so a mistake names the key rather than a cast.
  FOREACH k IN ARRAY ARRAY['name', 'dsn', 'strategy', 'active', 'salt', 'transactions'] LOOP
    IF spec ? k AND jsonb_typeof(spec -> k) <> 'string' THEN
      RAISE EXCEPTION 'route spec key "%" must be a string, not %', k, jsonb_typeof(spec -> k)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  FOREACH k IN ARRAY ARRAY['tables', 'canary_keys'] LOOP
    IF spec ? k AND (jsonb_typeof(spec -> k) <> 'array'
                     OR jsonb_path_exists(spec -> k, '$[*] ? (@.type() != "string")')) THEN
      RAISE EXCEPTION 'route spec key "%" must be an array of strings', k USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  FOREACH k IN ARRAY ARRAY['sticky', 'enabled'] LOOP
    IF spec ? k AND jsonb_typeof(spec -> k) <> 'boolean' THEN
      RAISE EXCEPTION 'route spec key "%" must be true or false', k USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  IF spec ? 'percent' AND jsonb_typeof(spec -> 'percent') <> 'number' THEN
    RAISE EXCEPTION 'route spec key "percent" must be a number' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF spec ? 'percent' AND ((spec ->> 'percent')::numeric NOT BETWEEN 0 AND 100
                           OR (spec ->> 'percent')::numeric <> round((spec ->> 'percent')::numeric, 2)) THEN
    RAISE EXCEPTION 'percent % is out of range 0..100 or finer than 0.01', spec ->> 'percent'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  flag := spec -> 'flag';
  IF flag IS NOT NULL AND (jsonb_typeof(flag) <> 'object'
                           OR (flag ? 'name' AND jsonb_typeof(flag -> 'name') <> 'string')
                           OR (flag ? 'enabled' AND jsonb_typeof(flag -> 'enabled') <> 'boolean')
                           OR (flag ? 'overrides' AND jsonb_typeof(flag -> 'overrides') <> 'object')
                           OR EXISTS (SELECT 1 FROM jsonb_object_keys(flag) AS f
                                       WHERE f NOT IN ('name', 'enabled', 'overrides'))) THEN
    RAISE EXCEPTION 'route spec key "flag" must be {"name": text, "enabled": boolean, "overrides": {key: boolean}}'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  svc := spec ->> 'name';
  IF svc IS NULL THEN
    RAISE EXCEPTION 'route spec needs "name"' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF svc !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'service name "%" must start with a lower-case letter and hold only a-z, 0-9 and _', svc
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF replace(spec ->> 'strategy', '-', '_') NOT IN ('percentage', 'canary', 'blue_green', 'feature_flag') THEN
    RAISE EXCEPTION 'unknown strategy "%"', spec ->> 'strategy'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Strategies: percentage, canary, blue_green, feature_flag.';
  END IF;
  IF spec ->> 'active' NOT IN ('monolith', 'service') THEN
    RAISE EXCEPTION 'unknown target "%"', spec ->> 'active'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Blue-green targets: monolith, service.';
  END IF;
  IF spec ->> 'transactions' NOT IN ('first_statement', 'monolith') THEN
    RAISE EXCEPTION 'unknown transaction policy "%"', spec ->> 'transactions'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Policies: first_statement, monolith.';
  END IF;
  SELECT t INTO k FROM jsonb_array_elements_text(spec -> 'tables') AS t WHERE t !~ '^[^.]+\.[^.]+$' LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'table "%" must be written schema.table', k USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT t INTO k FROM jsonb_array_elements_text(spec -> 'tables') AS t GROUP BY t HAVING count(*) > 1 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'table "%" is listed twice', k USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF spec ? 'tables' AND jsonb_array_length(spec -> 'tables') = 0 THEN
    RAISE EXCEPTION 'service "%" needs at least one table', svc USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF spec ? 'dsn' AND pymigrate._dsn_has_password(spec ->> 'dsn') THEN
    RAISE EXCEPTION 'the connection string for service "%" holds a password', svc
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Routes are readable by every application: use a password file (~/.pgpass, PGPASSFILE) '
                          'or set PYMIGRATE_SERVICE_DSN_%s in the application''s environment.', upper(svc));
  END IF;

  PERFORM set_config('pymigrate_route.action', coalesce(action, 'set'), true);
  PERFORM set_config('pymigrate_route.reason', coalesce(reason, ''), true);
  SELECT * INTO cur FROM pymigrate.route AS r WHERE r.service = svc FOR UPDATE;
  found_row := FOUND;
  IF NOT found_row THEN
    IF NOT (spec ? 'tables' AND spec ? 'dsn') THEN
      RAISE EXCEPTION 'no route for service "%"', svc
        USING ERRCODE = 'no_data_found',
              HINT = 'A new service needs its tables and the connection string of its database.';
    END IF;
    cur.service := svc;
    cur.strategy := 'percentage';
    cur.percent := 0;
    cur.canary_keys := '{}';
    cur.active := 'monolith';
    cur.flag_enabled := false;
    cur.flag_overrides := '{}';
    cur.sticky := true;
    cur.transactions := 'first_statement';
    cur.enabled := true;
  END IF;
  nxt := cur;
  IF spec ? 'tables' THEN
    nxt.tables := ARRAY(SELECT jsonb_array_elements_text(spec -> 'tables'));
  END IF;
  nxt.dsn := coalesce(spec ->> 'dsn', cur.dsn);
  nxt.strategy := coalesce(replace(spec ->> 'strategy', '-', '_'), cur.strategy);
  nxt.percent := coalesce((spec ->> 'percent')::numeric, cur.percent);
  IF spec ? 'canary_keys' THEN
    nxt.canary_keys := ARRAY(SELECT jsonb_array_elements_text(spec -> 'canary_keys'));
  END IF;
  nxt.active := coalesce(spec ->> 'active', cur.active);
  nxt.flag_name := coalesce(flag ->> 'name', cur.flag_name);
  nxt.flag_enabled := coalesce((flag ->> 'enabled')::boolean, cur.flag_enabled);
  nxt.flag_overrides := coalesce(flag -> 'overrides', cur.flag_overrides);
  nxt.sticky := coalesce((spec ->> 'sticky')::boolean, cur.sticky);
  nxt.salt := coalesce(spec ->> 'salt', cur.salt);
  nxt.transactions := coalesce(spec ->> 'transactions', cur.transactions);
  nxt.enabled := coalesce((spec ->> 'enabled')::boolean, cur.enabled);
  nxt.reason := reason;
  IF nxt.strategy = 'feature_flag' AND coalesce(nxt.flag_name, '') = '' THEN
    RAISE EXCEPTION 'strategy feature_flag needs a flag name' USING ERRCODE = 'invalid_parameter_value',
      HINT = 'Give "flag": {"name": ...}.';
  END IF;
  IF found_row THEN
    UPDATE pymigrate.route AS r
       SET tables = nxt.tables, dsn = nxt.dsn, strategy = nxt.strategy, percent = nxt.percent,
           canary_keys = nxt.canary_keys, active = nxt.active, flag_name = nxt.flag_name,
           flag_enabled = nxt.flag_enabled, flag_overrides = nxt.flag_overrides, sticky = nxt.sticky,
           salt = nxt.salt, transactions = nxt.transactions, enabled = nxt.enabled, reason = nxt.reason,
           version = 0
     WHERE r.service = svc
    RETURNING r.version INTO nxt.version;
  ELSE
    INSERT INTO pymigrate.route (service, tables, dsn, strategy, percent, canary_keys, active, flag_name,
                                 flag_enabled, flag_overrides, sticky, salt, transactions, enabled, version, reason)
    VALUES (nxt.service, nxt.tables, nxt.dsn, nxt.strategy, nxt.percent, nxt.canary_keys, nxt.active,
            nxt.flag_name, nxt.flag_enabled, nxt.flag_overrides, nxt.sticky, nxt.salt, nxt.transactions,
            nxt.enabled, 0, nxt.reason)
    RETURNING version INTO nxt.version;
  END IF;
  RETURN nxt.version;
END
$$;
COMMENT ON FUNCTION pymigrate.route_set(jsonb, text, text) IS
  'Creates or changes a service''s route from a JSON spec (route file format); returns the new version';

-- Everything of the service back to the monolith at once: the shims apply it
-- on their next statement (NOTIFY). The rule's settings are kept for the
-- record; `enabled` is what turns it off. Returns the new version.
CREATE FUNCTION pymigrate.route_rollback(service text, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v bigint;
BEGIN
  PERFORM set_config('pymigrate_route.action', 'rollback', true);
  PERFORM set_config('pymigrate_route.reason', coalesce(reason, ''), true);
  UPDATE pymigrate.route AS r
     SET enabled = false, percent = 0, active = 'monolith', flag_enabled = false, reason = route_rollback.reason,
         version = 0
   WHERE r.service = route_rollback.service
  RETURNING r.version INTO v;
  IF v IS NULL THEN
    RAISE EXCEPTION 'no route for service "%"', service
      USING ERRCODE = 'no_data_found',
            HINT = coalesce('Services: ' || (SELECT string_agg(r.service, ', ' ORDER BY r.service) FROM pymigrate.route AS r),
                            'No service has a route yet.');
  END IF;
  RETURN v;
END
$$;
COMMENT ON FUNCTION pymigrate.route_rollback(text, text) IS
  'Sends all of a service''s traffic back to the monolith; returns the new version';

CREATE FUNCTION pymigrate.route_delete(service text, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM set_config('pymigrate_route.action', 'delete', true);
  PERFORM set_config('pymigrate_route.reason', coalesce(reason, ''), true);
  DELETE FROM pymigrate.route AS r WHERE r.service = route_delete.service;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no route for service "%"', service USING ERRCODE = 'no_data_found';
  END IF;
  RETURN (SELECT max(h.version) FROM pymigrate.route_history AS h);
END
$$;

-- Applications (any role) read the routes and report counters through the
-- shim, so they need to see into the schema. Every object in it keeps its own
-- privileges: what is not granted here stays closed.
GRANT USAGE ON SCHEMA pymigrate TO PUBLIC;
REVOKE ALL ON pymigrate.route, pymigrate.route_history, pymigrate.route_version_seq FROM PUBLIC;
GRANT SELECT ON pymigrate.route, pymigrate.route_history TO PUBLIC;
REVOKE EXECUTE ON FUNCTION pymigrate.route_set(jsonb, text, text), pymigrate.route_rollback(text, text),
  pymigrate.route_delete(text, text) FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pymigrate.route', '');
SELECT pg_catalog.pg_extension_config_dump('pymigrate.route_history', '');
SELECT pg_catalog.pg_extension_config_dump('pymigrate.route_version_seq', '');

-- Counters published by each shim (one row per process and service), about
-- once a second, over the shim's control connection. Cumulative since the
-- process started: readers take differences between two reads.
CREATE TABLE pymigrate.route_stats (
    shim_id    text NOT NULL,
    service    text NOT NULL,
    routed     bigint NOT NULL,
    errors     bigint NOT NULL,
    fallbacks  bigint NOT NULL,
    latency_us bigint[] NOT NULL,
    program    text,
    pid        integer,
    host       text,
    route_version bigint,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shim_id, service)
);
COMMENT ON TABLE pymigrate.route_stats IS
  'Per shim process and service: statements routed to the service, failures, fallbacks, latency histogram '
  '(bucket i: see router/health.hpp), cumulative';
COMMENT ON COLUMN pymigrate.route_stats.latency_us IS
  'Histogram of service latencies: 100 log-linear buckets, four per power of two of microseconds';

-- What a shim calls to publish; callable by every role, and it can only write
-- rows under the shim_id it gives (a process's own, by construction).
CREATE FUNCTION pymigrate.route_report(shim_id text, report jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF shim_id IS NULL OR length(shim_id) > 200 OR report IS NULL
     OR jsonb_typeof(report -> 'services') IS DISTINCT FROM 'object' OR octet_length(report::text) > 1000000 THEN
    RAISE EXCEPTION 'malformed route report' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO pymigrate.route_stats AS s (shim_id, service, routed, errors, fallbacks, latency_us, program, pid,
                                          host, route_version, updated_at)
  SELECT route_report.shim_id, e.key, (e.value ->> 'routed')::bigint, (e.value ->> 'errors')::bigint,
         (e.value ->> 'fallbacks')::bigint,
         ARRAY(SELECT x::bigint FROM jsonb_array_elements_text(e.value -> 'latency_us') WITH ORDINALITY AS a(x, i)
               ORDER BY i),
         left(report ->> 'program', 100), (report ->> 'pid')::integer, left(report ->> 'host', 200),
         (report ->> 'route_version')::bigint, now()
    FROM jsonb_each(report -> 'services') AS e
  ON CONFLICT ON CONSTRAINT route_stats_pkey DO UPDATE
     SET routed = excluded.routed, errors = excluded.errors, fallbacks = excluded.fallbacks,
         latency_us = excluded.latency_us, route_version = excluded.route_version, updated_at = excluded.updated_at;
  -- Processes that stopped reporting an hour ago are gone.
  DELETE FROM pymigrate.route_stats AS s WHERE s.updated_at < now() - interval '1 hour';
END
$$;
REVOKE ALL ON pymigrate.route_stats FROM PUBLIC;
GRANT SELECT ON pymigrate.route_stats TO PUBLIC;
GRANT EXECUTE ON FUNCTION pymigrate.route_report(text, jsonb) TO PUBLIC;

-- Per service, over the shims that reported in the last minute.
CREATE VIEW pymigrate.route_health AS
SELECT service,
       count(*) AS shims,
       sum(routed)::bigint AS routed,
       sum(errors)::bigint AS errors,
       sum(fallbacks)::bigint AS fallbacks,
       CASE WHEN sum(routed) > 0 THEN round(sum(errors) * 100.0 / sum(routed), 2) END AS error_percent,
       max(updated_at) AS last_report
  FROM pymigrate.route_stats
 WHERE updated_at > now() - interval '1 minute'
 GROUP BY service;
COMMENT ON VIEW pymigrate.route_health IS 'Per service: counters summed over the shims that reported in the last minute';
GRANT SELECT ON pymigrate.route_health TO PUBLIC;

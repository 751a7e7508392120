-- The routing control plane: routes with their checks, the audit history,
-- the snapshot the shims load, owner-only changes, and the counters shims
-- publish.
\set VERBOSITY terse

SELECT pymigrate.route_set('{"name": "billing", "tables": ["public.invoices", "public.payments"],
                             "dsn": "host=/tmp dbname=billing", "percent": 5}', 'first step');
SELECT service, tables, dsn, strategy, percent, sticky, enabled, version, reason FROM pymigrate.route;

-- Bad input is refused, naming what was wrong; nothing is half-applied.
SELECT pymigrate.route_set('{"name": "billing", "percent": 150}');
SELECT pymigrate.route_set('{"name": "billing", "percent": 1.234}');
SELECT pymigrate.route_set('{"name": "billing", "percent": "5"}');
SELECT pymigrate.route_set('{"name": "billing", "colour": "red"}');
SELECT pymigrate.route_set('{"name": "billing", "tables": "public.invoices"}');
SELECT pymigrate.route_set('{"name": "billing", "strategy": "random"}');
SELECT pymigrate.route_set('{"name": "billing", "flag": {"name": "x", "colour": 1}}');
SELECT pymigrate.route_set('{"name": "search", "tables": ["public.payments"], "dsn": "dbname=search"}');
SELECT pymigrate.route_set('{"name": "search", "tables": ["products"], "dsn": "dbname=search"}');
SELECT pymigrate.route_set('{"name": "search", "tables": ["public.p", "public.p"], "dsn": "dbname=search"}');
SELECT pymigrate.route_set('{"name": "search", "tables": ["public.products"], "dsn": "host=x password=secret"}');
SELECT pymigrate.route_set('{"name": "search", "tables": ["public.products"], "dsn": "postgresql://u:secret@x/db"}');
SELECT pymigrate.route_set('{"name": "Search", "tables": ["public.products"], "dsn": "dbname=search"}');
SELECT pymigrate.route_set('{"name": "search", "tables": ["public.products"], "dsn": "dbname=search",
                             "strategy": "feature_flag"}');
SELECT pymigrate.route_set('{"name": "nosuch", "percent": 5}');
SELECT pymigrate.route_set('{"percent": 5}');
SELECT pymigrate.route_rollback('nosuch');
SELECT pymigrate.route_delete('nosuch');
SELECT count(*) AS services, (SELECT count(*) FROM pymigrate.route_history) AS changes FROM pymigrate.route;

-- Every strategy.
SELECT pymigrate.route_set('{"name": "search", "tables": ["public.products"], "dsn": "dbname=search",
                             "strategy": "feature_flag",
                             "flag": {"name": "new-search", "overrides": {"user:1": true}}}');
SELECT pymigrate.route_set('{"name": "billing", "strategy": "canary", "canary_keys": ["user:7"], "percent": 12.5,
                             "sticky": false, "transactions": "monolith"}', 'canary', 'set');
SELECT pymigrate.route_set('{"name": "search", "strategy": "blue_green", "active": "service"}');
SELECT pymigrate.route_snapshot();

-- Rollback keeps the rule for the record and turns it off.
SELECT pymigrate.route_rollback('billing', 'error rate up');
SELECT service, strategy, percent, canary_keys, enabled FROM pymigrate.route ORDER BY service;
SELECT version, service, action, reason, old ->> 'percent' AS old_percent, new ->> 'percent' AS new_percent,
       new ->> 'enabled' AS enabled
  FROM pymigrate.route_history ORDER BY version;

-- Only the owner changes routes; everyone reads them and reports counters.
CREATE ROLE route_reader;
SET ROLE route_reader;
SELECT service FROM pymigrate.route ORDER BY service;
SELECT pymigrate.route_snapshot() ->> 'version' AS version;
SELECT pymigrate.route_rollback('search');
UPDATE pymigrate.route SET percent = 1;
SELECT pymigrate.route_report('app@host:42:1', '{"program": "app", "pid": 42, "host": "host", "route_version": 7,
  "services": {"billing": {"routed": 10, "errors": 1, "fallbacks": 1, "latency_us": [0, 5, 5]}}}');
SELECT pymigrate.route_report('app@host:42:1', '{"program": "app", "pid": 42,
  "services": {"billing": {"routed": 30, "errors": 1, "fallbacks": 1, "latency_us": [0, 15, 15]}}}');
SELECT pymigrate.route_report('x', '{"no": "services"}');
RESET ROLE;
GRANT UPDATE, DELETE ON pymigrate.route TO route_reader;
SET ROLE route_reader;
UPDATE pymigrate.route SET percent = 1;
DELETE FROM pymigrate.route;
RESET ROLE;
SELECT service, shims, routed, errors, fallbacks, error_percent FROM pymigrate.route_health;
SELECT shim_id, service, latency_us, program, pid FROM pymigrate.route_stats;
UPDATE pymigrate.route_history SET reason = 'rewritten';

SELECT pymigrate.route_delete('search', 'retired');
SELECT service, action, reason, new FROM pymigrate.route_history ORDER BY version DESC LIMIT 1;
REVOKE ALL ON pymigrate.route FROM route_reader;
DROP ROLE route_reader;

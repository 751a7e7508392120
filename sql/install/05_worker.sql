
-- Background work: a supervisor (needs shared_preload_libraries) keeps one
-- "pymigrate manager" per database that has the extension; features run
-- their periodic work there and start their own workers from it.
CREATE FUNCTION pymigrate._wake_manager()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'pymigrate_wake_manager';
REVOKE ALL ON FUNCTION pymigrate._wake_manager() FROM PUBLIC;
COMMENT ON FUNCTION pymigrate._wake_manager() IS
  'Wakes this database''s pymigrate manager (starting one if needed) when the current transaction commits';

CREATE VIEW pymigrate.worker_status AS
SELECT a.pid, a.backend_type AS kind, d.datname AS database, a.backend_start AS started, a.state,
       a.wait_event_type, a.wait_event, a.application_name
FROM pg_catalog.pg_stat_activity a
LEFT JOIN pg_catalog.pg_database d ON d.oid = a.datid
WHERE a.backend_type LIKE 'pymigrate %';
COMMENT ON VIEW pymigrate.worker_status IS
  'The pymigrate background processes of this server: supervisor, managers, and feature workers';

-- The manager of this database starts when CREATE EXTENSION commits.
SELECT pymigrate._wake_manager();

-- Core: the schema, the library version and the error-boundary self test.

-- Created here rather than named in the control file, so that it is a member
-- of the extension and DROP EXTENSION removes it (as pg_cron does).
CREATE SCHEMA pymigrate;
COMMENT ON SCHEMA pymigrate IS 'pymigrate: sync, validation and routing catalog and functions';

CREATE FUNCTION pymigrate.version()
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'pymigrate_version';
COMMENT ON FUNCTION pymigrate.version() IS 'Version of the loaded pymigrate library';

-- Exercises the C++/PostgreSQL error boundary (extension/pg/guard.hpp) from
-- SQL: each kind raises through a different path and must come back as an
-- ordinary SQL error with its SQLSTATE, leaving the session usable. Kept in
-- the product so a support engineer can check a build on a live server.
CREATE FUNCTION pymigrate._boundary_selftest(kind text)
RETURNS text
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'pymigrate_boundary_selftest';
REVOKE ALL ON FUNCTION pymigrate._boundary_selftest(text) FROM PUBLIC;

-- What another server offers pymigrate (version, extension, wal_level,
-- track_commit_timestamp, ...), asked over libpq from this one.
CREATE FUNCTION pymigrate.peer_info(dsn text)
RETURNS jsonb
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'pymigrate_peer_info';
REVOKE ALL ON FUNCTION pymigrate.peer_info(text) FROM PUBLIC;
COMMENT ON FUNCTION pymigrate.peer_info(text) IS
  'Connects to dsn and reports its server version, pymigrate extension version, preload, wal_level and track_commit_timestamp';

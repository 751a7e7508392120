-- Core: the library version and the error-boundary self test.
-- The schema `pymigrate` itself is created by CREATE EXTENSION (control file).

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

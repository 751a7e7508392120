-- The extension skeleton: loads with shared_preload_libraries, creates its
-- schema, reports its version, and keeps C++ exceptions out of PostgreSQL.
SHOW shared_preload_libraries;
SELECT extversion = pymigrate.version() AS library_matches_extension
  FROM pg_extension WHERE extname = 'pymigrate';
SELECT nspname FROM pg_namespace WHERE nspname = 'pymigrate';

-- Re-creating it from scratch works.
DROP EXTENSION pymigrate;
SELECT count(*) AS schema_left_behind FROM pg_namespace WHERE nspname = 'pymigrate';
CREATE EXTENSION pymigrate;

-- The error boundary: each kind of failure is an ordinary SQL error with a
-- SQLSTATE, and the session goes on.
SELECT pymigrate._boundary_selftest('ok');
SELECT pymigrate._boundary_selftest('error');
SELECT 1 AS still_working;
SELECT pymigrate._boundary_selftest('std');
SELECT pymigrate._boundary_selftest('bad_alloc');
SELECT pymigrate._boundary_selftest('pg');
SELECT pymigrate._boundary_selftest('pg_caught');
SELECT pymigrate._boundary_selftest('nope');
SELECT 2 AS still_working;

-- The SQLSTATEs, as a PL/pgSQL handler sees them.
DO $$
DECLARE k text;
BEGIN
  FOREACH k IN ARRAY ARRAY['error', 'std', 'bad_alloc', 'pg'] LOOP
    BEGIN
      PERFORM pymigrate._boundary_selftest(k);
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE '% -> SQLSTATE %', k, SQLSTATE;
    END;
  END LOOP;
END $$;

-- Inside a transaction the error aborts it like any other, and ROLLBACK
-- leaves a clean session.
BEGIN;
SELECT pymigrate._boundary_selftest('pg');
SELECT 3;
ROLLBACK;
SELECT 4 AS still_working;

-- Not for ordinary users.
CREATE ROLE regress_plain;
SET ROLE regress_plain;
SELECT pymigrate._boundary_selftest('ok');
RESET ROLE;
DROP ROLE regress_plain;

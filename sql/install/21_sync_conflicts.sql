-- Sync, conflicts (extension/sync/conflict*.cpp): every conflict an apply
-- worker meets, with both row versions and how it was resolved, and a
-- summary per table and kind. Written by the apply worker in the same
-- local transaction as the resolution (so a crash never logs a resolution
-- that did not happen, or loses one that did); a held change is logged in
-- a transaction of its own, since its remote transaction is not applied.
CREATE TABLE pymigrate.conflict_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    logged_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    subscription     text NOT NULL,
    -- The local table, schema-qualified (as regclass prints it).
    table_name       text NOT NULL,
    -- insert_exists: an INSERT found its key present here.
    -- update_origin_differs / delete_origin_differs: an UPDATE / DELETE found
    --   the row last changed by another node than the provider (here, or
    --   by another subscription) since it was last replicated from it.
    -- insert_deleted / update_deleted: an INSERT / UPDATE found no row, the
    --   key deleted here in a transaction the provider had not applied when
    --   it made its change (pymigrate.tombstone).
    -- update_missing / delete_missing: an UPDATE / DELETE found no row.
    kind             text NOT NULL CHECK (kind IN ('insert_exists', 'insert_deleted', 'update_origin_differs',
                                                   'update_deleted', 'update_missing', 'delete_origin_differs',
                                                   'delete_missing')),
    -- The key columns of the row ({"id": 42}), under the local names.
    key              jsonb NOT NULL,
    -- The local row before (NULL for *_deleted: the local version is the
    -- delete, whose time and node are below), the remote one (as it would be
    -- here: mapped, unmapped columns from the local row; NULL for a DELETE),
    -- the row kept (NULL: none).
    local_row        jsonb,
    remote_row       jsonb,
    resolved_row     jsonb,
    local_commit_ts  timestamptz,
    local_node       text,
    remote_commit_ts timestamptz NOT NULL,
    remote_node      text NOT NULL,
    strategy         text NOT NULL,
    -- apply_remote: the remote change was applied; keep_local: the local row
    --   stays; merged: a row combined from both (priority per column,
    --   custom resolver) was written; inserted: update_missing 'insert';
    --   skipped: nothing to do (a missing row); held: the remote transaction
    --   was not applied (strategy 'error', a failing resolver): the worker
    --   stops and retries it; a later row shows what the retry did.
    outcome          text NOT NULL CHECK (outcome IN ('apply_remote', 'keep_local', 'merged', 'inserted', 'skipped',
                                                      'held')),
    remote_commit_lsn pg_lsn,
    remote_xid       bigint, -- the provider's 32-bit transaction id
    detail           text
);
CREATE INDEX ON pymigrate.conflict_log (logged_at);
CREATE INDEX ON pymigrate.conflict_log (table_name, kind);
COMMENT ON TABLE pymigrate.conflict_log IS
  'Every conflict met while applying changes: both row versions, commit times and nodes, strategy, outcome; '
  'trimmed after pymigrate.conflict_log_retention';

-- Per subscription, table and kind: how many, resolved how, when.
CREATE VIEW pymigrate.conflict_summary AS
SELECT subscription, table_name, kind, count(*) AS conflicts,
       count(*) FILTER (WHERE outcome = 'apply_remote') AS apply_remote,
       count(*) FILTER (WHERE outcome = 'keep_local') AS keep_local,
       count(*) FILTER (WHERE outcome = 'merged') AS merged,
       count(*) FILTER (WHERE outcome = 'inserted') AS inserted,
       count(*) FILTER (WHERE outcome = 'skipped') AS skipped,
       count(*) FILTER (WHERE outcome = 'held') AS held,
       min(logged_at) AS first_at, max(logged_at) AS last_at
FROM pymigrate.conflict_log
GROUP BY subscription, table_name, kind;
COMMENT ON VIEW pymigrate.conflict_summary IS
  'Conflicts per subscription, table and kind, with their outcomes';

GRANT SELECT ON pymigrate.conflict_summary TO PUBLIC;

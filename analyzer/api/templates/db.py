"""The psycopg 3 connection pool, and one transaction per request."""
from contextlib import contextmanager
from typing import Iterator

from psycopg import Cursor
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from .settings import settings

pool = ConnectionPool(
    settings.database_url,
    min_size=settings.pool_min_size,
    max_size=settings.pool_max_size,
    timeout=settings.pool_timeout,
    open=False,
    kwargs={"options": f"-c statement_timeout={settings.statement_timeout_ms}", "application_name": "__SERVICE__"},
)


def open_pool() -> None:
    # Not waiting: the service starts even while the database is down and
    # answers 503 until it is back.
    pool.open(wait=False)


def close_pool() -> None:
    pool.close()


@contextmanager
def transaction() -> Iterator[Cursor]:
    """A cursor in a transaction that commits when the block ends, rolls back on an exception."""
    with pool.connection() as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            yield cur

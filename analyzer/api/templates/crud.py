"""The five operations every table's router calls: list, get, create, patch, delete."""
from typing import Any, Dict, Sequence

from fastapi.responses import JSONResponse
from psycopg import sql
from starlette.datastructures import QueryParams

from . import db
from .errors import ApiError
from .query import Table, db_value, encode_cursor, key_condition, list_query, row_json


def list_rows(table: Table, params: QueryParams) -> JSONResponse:
    q = list_query(table, params)
    with db.transaction() as cur:
        cur.execute(q.statement, q.args)
        rows = cur.fetchall()
    next_cursor = encode_cursor(q.items, rows[-1]) if q.keyset and len(rows) == q.limit else None
    return JSONResponse({"items": [row_json(r) for r in rows], "limit": q.limit, "offset": q.offset,
                         "next_cursor": next_cursor})


def _not_found(table: Table, key: Sequence[str]) -> ApiError:
    shown = ", ".join(f"{k}={v}" for k, v in zip(table.key, key))
    return ApiError(404, "not_found", f"{table.name} has no row with {shown}")


def get_row(table: Table, key: Sequence[str]) -> JSONResponse:
    cond, args = key_condition(table, key)
    with db.transaction() as cur:
        cur.execute(sql.SQL("SELECT {} FROM {} WHERE {}").format(table.select_list(), table.ident, cond), args)
        row = cur.fetchone()
    if row is None:
        raise _not_found(table, key)
    return JSONResponse(row_json(row))


def create_row(table: Table, values: Dict[str, Any]) -> JSONResponse:
    columns = [table.columns[name] for name in values]
    if columns:
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
            table.ident, sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
            sql.SQL(", ").join(sql.SQL("CAST(%s AS {})").format(c.cast()) for c in columns), table.select_list())
    else:
        statement = sql.SQL("INSERT INTO {} DEFAULT VALUES RETURNING {}").format(table.ident, table.select_list())
    with db.transaction() as cur:
        cur.execute(statement, [db_value(c, values[c.name]) for c in columns])
        row = cur.fetchone()
    return JSONResponse(row_json(row), status_code=201)


def update_row(table: Table, key: Sequence[str], values: Dict[str, Any]) -> JSONResponse:
    if not values:
        raise ApiError(400, "empty_patch", "the body names no column to change")
    columns = [table.columns[name] for name in values]
    cond, key_args = key_condition(table, key)
    statement = sql.SQL("UPDATE {} SET {} WHERE {} RETURNING {}").format(
        table.ident,
        sql.SQL(", ").join(sql.SQL("{} = CAST(%s AS {})").format(sql.Identifier(c.name), c.cast()) for c in columns),
        cond, table.select_list())
    with db.transaction() as cur:
        cur.execute(statement, [db_value(c, values[c.name]) for c in columns] + key_args)
        row = cur.fetchone()
    if row is None:
        raise _not_found(table, key)
    return JSONResponse(row_json(row))


def delete_row(table: Table, key: Sequence[str]) -> None:
    cond, args = key_condition(table, key)
    with db.transaction() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE {}").format(table.ident, cond), args)
        if cur.rowcount == 0:
            raise _not_found(table, key)

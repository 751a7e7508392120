"""Every error is a JSON body {code, message, details, hint} with a 4xx or 5xx
status: a bad request never becomes a 500, and no SQL or stack trace leaks."""
import logging
from typing import Any, Optional

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import errors as pg
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("app")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None, hint: Optional[str] = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.hint = status, code, message, details, hint


def error_response(status: int, code: str, message: str, details: Any = None, hint: Optional[str] = None):
    body = {"code": code, "message": message, "details": jsonable_encoder(details), "hint": hint}
    return JSONResponse(status_code=status, content=body)


def _database_error(exc: psycopg.Error):
    diag = exc.diag
    message = diag.message_primary or "the database rejected the request"
    detail, hint = diag.message_detail, diag.message_hint
    if isinstance(exc, (pg.UniqueViolation, pg.ExclusionViolation)):
        return 409, "conflict", message, detail, hint
    if isinstance(exc, pg.ForeignKeyViolation):
        return 409, "foreign_key_violation", message, detail, hint or "the referenced row must exist (and no row may still reference a deleted one)"
    if isinstance(exc, (pg.CheckViolation, pg.NotNullViolation)):
        return 422, "constraint_violation", message, detail, hint
    if isinstance(exc, pg.QueryCanceled):
        return 504, "timeout", "the statement took longer than STATEMENT_TIMEOUT_MS", None, None
    if isinstance(exc, psycopg.DataError):
        # 22xxx: a value the column's type rejects (out of range, bad syntax, too long).
        return 400, "invalid_value", message, detail, hint
    if isinstance(exc, psycopg.OperationalError):
        return 503, "unavailable", "the database cannot be reached", None, None
    log.error("database error %s: %s", exc.sqlstate, message)
    return 500, "internal_error", "the database could not run the request", None, None


def _validation_message(errors) -> str:
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
    return "the request body is not valid: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return error_response(422, "invalid_body", _validation_message(exc.errors()), exc.errors())

    @app.exception_handler(psycopg.Error)
    async def _database(request: Request, exc: psycopg.Error):
        return error_response(*_database_error(exc))

    @app.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout):
        return error_response(503, "unavailable", "no database connection became free within POOL_TIMEOUT")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

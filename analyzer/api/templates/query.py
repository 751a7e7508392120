"""Filters, order and pagination as the OpenAPI document describes them
(PostgREST's syntax), and the SQL for them.

Every value from a request goes to PostgreSQL as a query parameter; the only
identifiers and type names in SQL are the generated table specs' (tables.py),
composed with psycopg.sql. Nothing in a request is ever pasted into SQL."""
import base64
import binascii
import datetime
import decimal
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from psycopg import sql
from psycopg.types.json import Jsonb

from .errors import ApiError
from .settings import settings

COMPARISONS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
OPERATORS = tuple(COMPARISONS) + ("like", "ilike", "in", "is")
CONTROL = ("limit", "offset", "order", "cursor")
TEXT_KINDS = ("string",)


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # the column's type as declared (documentation)
    cast_type: str  # the type values are cast to: the declared one without length or precision
    kind: str  # int number float string bool uuid date datetime time json bytes enum other
    nullable: bool
    array: bool = False
    read_only: bool = False
    enum: Optional[Tuple[str, ...]] = None
    text_output: bool = False  # selected as text (types psycopg would not turn into JSON)

    def cast(self) -> sql.Composable:
        return sql.SQL(self.cast_type.replace("{", "{{").replace("}", "}}"))

    def select(self) -> sql.Composable:
        ident = sql.Identifier(self.name)
        if self.text_output:
            return sql.SQL("CAST({} AS {}) AS {}").format(ident, sql.SQL("text[]" if self.array else "text"), ident)
        return ident


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: Dict[str, Column]
    key: Tuple[str, ...]

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def select_list(self) -> sql.Composable:
        return sql.SQL(", ").join(c.select() for c in self.columns.values())


def _bad_value(column: Column, text: str, expected: str) -> ApiError:
    return ApiError(400, "invalid_value", f"{column.name}: {text!r} is not {expected}",
                    hint=f"column {column.name} is {column.sql_type}")


def convert(column: Column, text: str) -> Any:
    """A value from a URL (filter or key) as the column's Python type; 400 when it is not one."""
    kind = column.kind if not column.array else "other"
    try:
        if kind == "int":
            if not re.fullmatch(r"[+-]?\d+", text):
                raise ValueError
            return int(text)
        if kind == "number":
            value = decimal.Decimal(text)
            if not value.is_finite() and text.lower() not in ("nan", "infinity", "-infinity"):
                raise ValueError
            return value
        if kind == "float":
            return float(text)
        if kind == "bool":
            lowered = text.lower()
            if lowered in ("true", "t", "1", "yes"):
                return True
            if lowered in ("false", "f", "0", "no"):
                return False
            raise ValueError
        if kind == "uuid":
            return uuid.UUID(text)
        if kind == "date":
            return datetime.date.fromisoformat(text)
        if kind == "datetime":
            return datetime.datetime.fromisoformat(text)
        if kind == "time":
            return datetime.time.fromisoformat(text)
        if kind == "enum" and column.enum is not None and text not in column.enum:
            raise ApiError(400, "invalid_value", f"{column.name}: {text!r} is not one of {', '.join(column.enum)}")
    except (ValueError, decimal.InvalidOperation):
        expected = {"int": "an integer", "number": "a number", "float": "a number", "bool": "true or false",
                    "uuid": "a UUID", "date": "a date (YYYY-MM-DD)", "datetime": "a timestamp (ISO 8601)",
                    "time": "a time (HH:MM:SS)"}[kind]
        raise _bad_value(column, text, expected) from None
    return text


def _split_list(column: Column, text: str) -> List[str]:
    """in.(a,b,"c,d") -> ['a', 'b', 'c,d']"""
    if not (text.startswith("(") and text.endswith(")")):
        raise ApiError(400, "invalid_filter", f"{column.name}: 'in' takes a list in parentheses, e.g. in.(1,2,3)")
    items, current, quoted, i, body = [], "", False, 0, text[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == '"':
            quoted = not quoted
        elif ch == "\\" and i + 1 < len(body):
            i += 1
            current += body[i]
        elif ch == "," and not quoted:
            items.append(current)
            current = ""
        else:
            current += ch
        i += 1
    if quoted:
        raise ApiError(400, "invalid_filter", f"{column.name}: unterminated quote in the 'in' list")
    items.append(current)
    return items


def _column(table: Table, name: str, what: str) -> Column:
    column = table.columns.get(name)
    if column is None:
        raise ApiError(400, "unknown_column", f"{what} names {name!r}, which is not a column of {table.name}",
                       hint="columns: " + ", ".join(table.columns))
    return column


def filters(table: Table, params: Sequence[Tuple[str, str]]) -> Tuple[List[sql.Composable], List[Any]]:
    """The WHERE conditions and their parameters for the request's filters."""
    where: List[sql.Composable] = []
    args: List[Any] = []
    for name, raw in params:
        if name in CONTROL:
            continue
        if name not in table.columns:
            raise ApiError(400, "unknown_parameter",
                           f"unknown query parameter {name!r}: {table.name} has no such column",
                           hint="filter on a column (" + ", ".join(table.columns) + ") or use " + ", ".join(CONTROL))
        column = table.columns[name]
        if column.kind == "json":
            raise ApiError(400, "invalid_filter", f"{name} is a JSON column and cannot be filtered on")
        expr, negate = raw, False
        if expr.startswith("not."):
            expr, negate = expr[4:], True
        op, dot, value = expr.partition(".")
        if not dot or op not in OPERATORS:
            raise ApiError(400, "invalid_filter",
                           f"filter {name}={raw!r} is not operator.value with an operator of {', '.join(OPERATORS)}",
                           hint=f"for example {name}=eq.VALUE, {name}=in.(A,B), {name}=is.null")
        ident = sql.Identifier(name)
        if op == "is":
            word = value.lower()
            if word == "null" or (word in ("true", "false", "unknown") and column.kind == "bool"):
                cond = sql.SQL("{} IS {}").format(ident, sql.SQL(word.upper()))
            else:
                raise ApiError(400, "invalid_filter", f"filter {name}=is.{value}: 'is' takes null"
                               + (", true, false or unknown" if column.kind == "bool" else ""))
        elif op == "in":
            if column.array:
                raise ApiError(400, "invalid_filter", f"{name} is an array column: 'in' does not apply")
            values = [convert(column, v) for v in _split_list(column, value)]
            cond = sql.SQL("{} = ANY(CAST(%s AS {}[]))").format(ident, column.cast())
            args.append(values)
        elif op in ("like", "ilike"):
            if column.kind not in TEXT_KINDS or column.array:
                raise ApiError(400, "invalid_filter", f"{op} works on text columns; {name} is {column.sql_type}")
            cond = sql.SQL("{} {} %s").format(ident, sql.SQL(op.upper()))
            args.append(value.replace("*", "%"))
        else:
            cond = sql.SQL("{} {} CAST(%s AS {})").format(ident, sql.SQL(COMPARISONS[op]), column.cast())
            args.append(convert(column, value))
        where.append(sql.SQL("NOT ({})").format(cond) if negate else cond)
    return where, args


@dataclass
class OrderItem:
    column: Column
    descending: bool = False
    nulls: Optional[str] = None  # "FIRST" / "LAST"

    def text(self) -> str:
        return self.column.name + (".desc" if self.descending else ".asc") + (
            f".nulls{self.nulls.lower()}" if self.nulls else "")


def order(table: Table, value: Optional[str]) -> List[OrderItem]:
    """order=col.desc,col2.asc.nullslast, then the key for a total order."""
    items: List[OrderItem] = []
    if value:
        for part in value.split(","):
            pieces = part.split(".")
            modifiers = []
            while len(pieces) > 1 and pieces[-1] in ("asc", "desc", "nullsfirst", "nullslast"):
                modifiers.insert(0, pieces.pop())
            column = _column(table, ".".join(pieces), "order")
            if column.kind == "json":
                raise ApiError(400, "invalid_order", f"{column.name} is a JSON column and cannot be ordered by")
            item = OrderItem(column)
            for m in modifiers:
                if m in ("asc", "desc"):
                    item.descending = m == "desc"
                else:
                    item.nulls = m[5:].upper()
            items.append(item)
    present = {i.column.name for i in items}
    direction = items[0].descending if items else False
    for k in table.key:
        if k not in present:
            items.append(OrderItem(table.columns[k], descending=direction))
    return items


def _keyset_ready(items: List[OrderItem]) -> bool:
    # A row comparison (a, b) > (x, y) needs one direction and no NULLs.
    return (len({i.descending for i in items}) == 1
            and all(not i.column.nullable and i.nulls is None for i in items))


def _cursor_value(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_cursor(items: List[OrderItem], row: Mapping[str, Any]) -> str:
    payload = {"o": ",".join(i.text() for i in items), "v": [_cursor_value(row[i.column.name]) for i in items]}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode_cursor(items: List[OrderItem], cursor: str) -> List[Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = payload["v"]
        ok = isinstance(values, list) and len(values) == len(items) and all(isinstance(v, str) for v in values)
    except (binascii.Error, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise ApiError(400, "invalid_cursor", "cursor is not one this service made", hint="pass next_cursor as it came")
    expected = ",".join(i.text() for i in items)
    if payload.get("o") != expected:
        raise ApiError(400, "invalid_cursor", f"cursor was made for order {payload.get('o')!r}, not {expected!r}",
                       hint="keep the same order while paging with a cursor")
    return values


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d+", raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"invalid_{name}", f"{name} must be an integer from {low} to {high}, not {raw!r}")
    return int(raw)


@dataclass
class ListQuery:
    statement: sql.Composable
    args: List[Any]
    items: List[OrderItem]
    limit: int
    offset: int
    keyset: bool


def list_query(table: Table, params) -> ListQuery:
    """params: the request's query parameters (a multi-dict)."""
    pairs = list(params.multi_items())
    for name in CONTROL:
        if len(params.getlist(name)) > 1:
            raise ApiError(400, f"invalid_{name}", f"{name} is given more than once")
    where, args = filters(table, pairs)
    items = order(table, params.get("order"))
    limit = _int_param(params, "limit", settings.default_limit, 1, settings.max_limit)
    offset = _int_param(params, "offset", 0, 0, 2**62)
    keyset = _keyset_ready(items)
    cursor = params.get("cursor")
    if cursor is not None:
        if "offset" in params:
            raise ApiError(400, "invalid_cursor", "give cursor or offset, not both")
        if not keyset:
            raise ApiError(400, "invalid_cursor",
                           "a cursor needs an order in one direction over NOT NULL columns",
                           hint="order by NOT NULL columns, all asc or all desc, or page with offset")
        values = _decode_cursor(items, cursor)
        left = sql.SQL(", ").join(sql.Identifier(i.column.name) for i in items)
        right = sql.SQL(", ").join(sql.SQL("CAST(%s AS {})").format(i.column.cast()) for i in items)
        op = sql.SQL("<" if items[0].descending else ">")
        where.append(sql.SQL("({}) {} ({})").format(left, op, right))
        args.extend(values)
    order_sql = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(sql.Identifier(i.column.name), sql.SQL("DESC" if i.descending else "ASC"),
                                  sql.SQL(f" NULLS {i.nulls}" if i.nulls else ""))
        for i in items)
    statement = sql.SQL("SELECT {} FROM {}{} ORDER BY {} LIMIT {} OFFSET {}").format(
        table.select_list(), table.ident,
        sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
        order_sql, sql.Literal(limit), sql.Literal(offset))
    return ListQuery(statement, args, items, limit, offset, keyset)


def key_condition(table: Table, key_values: Sequence[str]) -> Tuple[sql.Composable, List[Any]]:
    conds, args = [], []
    for name, text in zip(table.key, key_values):
        column = table.columns[name]
        conds.append(sql.SQL("{} = CAST(%s AS {})").format(sql.Identifier(name), column.cast()))
        args.append(convert(column, text))
    return sql.SQL(" AND ").join(conds), args


def db_value(column: Column, value: Any) -> Any:
    """A validated body value as psycopg should send it."""
    if value is None:
        return None
    if column.kind == "json":
        return Jsonb(value)
    if column.kind == "bytes" and not column.array:
        return base64.b64decode(value)
    return value


def to_json(value: Any) -> Any:
    """A value read from PostgreSQL as JSON."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return str(value)


def row_json(row: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: to_json(v) for k, v in row.items()}

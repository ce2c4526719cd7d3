"""OData v2 literals for ``$filter``, typed by the column's Edm type, and the SQL constants they come from.

``render_literal`` turns a Python value (from a SQL constant, or a key the executor read) into the
literal Exact expects for a column: ``'O''Brien'``, ``guid'…'``, ``datetime'2024-01-31T00:00:00'``,
``123L``, ``12.5``, ``true``. It returns None whenever it cannot render the value faithfully for that
type; the caller then keeps the predicate local (DuckDB checks it) instead of sending a guess.

``sql_constant`` reads a sqlglot constant expression (string, number, boolean, NULL, ``date '…'``,
``timestamp '…'``, ``to_date``/``to_timestamp`` of literals, ``CAST('…' AS TIMESTAMP)``) as that value,
with the meaning DuckDB gives it when it re-checks the predicate.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlglot import exp

__all__ = ["SQLValue", "literal_to_odata", "render_literal", "sql_constant"]

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_INTEGER = re.compile(r"[+-]?\d+")
_INT_RANGES = {
    "Edm.Byte": (0, 255),
    "Edm.SByte": (-128, 127),
    "Edm.Int16": (-(2**15), 2**15 - 1),
    "Edm.Int32": (-(2**31), 2**31 - 1),
    "Edm.Int64": (-(2**63), 2**63 - 1),
}
_FLOAT_TYPES = ("Edm.Double", "Edm.Single", "Edm.Decimal")
# The format sqlglot gives Oracle's ``timestamp '…'`` literal; the text itself is ISO-like.
_ORACLE_TIMESTAMP_LITERAL = "%Y-%m-%d %H:%M:%S.%f"
_TIME_DIRECTIVES = re.compile(r"%[HIMSfpXcT]")


def render_literal(value: object, edm: str) -> str | None:
    """The OData literal of ``value`` for a column of type ``edm``, or None when it has none.

    ``None`` renders as ``null``. Strings are quoted with ``''`` escaping; guids must have the
    8-4-4-4-12 form; DateTime takes naive ``datetime``/``date`` values or ISO text (whole milliseconds);
    integer types take integral values within their range (``L`` suffix for Int64); Double takes
    finite numbers as plain decimals; Boolean takes ``True``/``False`` (and 0/1).
    """
    if value is None:
        return "null"
    if edm == "Edm.String":
        return _quote(value) if isinstance(value, str) else None
    if edm == "Edm.Guid":
        if isinstance(value, uuid.UUID):
            value = str(value)
        if isinstance(value, str) and _GUID.fullmatch(value):
            return f"guid'{value.lower()}'"
        return None
    if edm == "Edm.DateTime":
        moment = _as_datetime(value)
        return None if moment is None else _render_datetime(moment)
    if edm in _INT_RANGES:
        number = _as_integer(value)
        if number is None:
            return None
        low, high = _INT_RANGES[edm]
        if not low <= number <= high:
            return None
        return f"{number}L" if edm == "Edm.Int64" else str(number)
    if edm in _FLOAT_TYPES:
        decimal = _as_decimal(value)
        if decimal is None:
            return None
        text = format(decimal, "f")
        return f"{text}M" if edm == "Edm.Decimal" else text
    if edm == "Edm.Boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int) and value in (0, 1):
            return "true" if value else "false"
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower()
        return None
    return None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _as_datetime(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment_or_none = _parse_iso(value)
        if moment_or_none is None:
            return None
        moment = moment_or_none
    else:
        return None
    if moment.tzinfo is not None:
        return None  # Exact's datetimes are CET wall-clock without a zone; an offset has no faithful form
    return moment


def _parse_iso(text: str) -> dt.datetime | None:
    text = text.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?", text):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _render_datetime(moment: dt.datetime) -> str | None:
    if moment.microsecond % 1000:
        return None  # Exact keeps milliseconds: a finer bound cannot be sent without moving it
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if len(text) != 19:
        return None  # years before 1000 are not rendered with four digits everywhere
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return f"datetime'{text}'"


def _as_integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() else None
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
        decimal = _as_decimal(text)
        return _as_integer(decimal) if decimal is not None else None
    return None


def _as_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        try:
            decimal = Decimal(value.strip())
        except InvalidOperation:
            return None
        return decimal if decimal.is_finite() else None
    return None


# -- the SQL side ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SQLValue:
    """A SQL constant's value: str, int, Decimal, bool, datetime, date, or None for NULL."""

    value: object


def sql_constant(node: exp.Expr) -> SQLValue | None:
    """The value of a constant SQL expression, or None when ``node`` is not one the planner can read."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Null):
        return SQLValue(None)
    if isinstance(node, exp.Boolean):
        return SQLValue(bool(node.this))
    if isinstance(node, exp.Literal):
        if node.is_string:
            return SQLValue(str(node.this))
        return _number(str(node.this))
    if isinstance(node, exp.National) and isinstance(node.this, str):
        return SQLValue(node.this)
    if isinstance(node, exp.Neg):
        inner = sql_constant(node.this)
        if inner is not None and isinstance(inner.value, int | Decimal) and not isinstance(inner.value, bool):
            return SQLValue(-inner.value)
        return None
    if isinstance(node, exp.DateStrToDate | exp.TsOrDsToDate) and not node.args.get("format"):
        text = _string(node.this)
        moment = _parse_iso(text) if text is not None else None
        if moment is None or moment.time() != dt.time():
            return None
        return SQLValue(moment.date())
    if isinstance(node, exp.TimeStrToTime):
        text = _string(node.this)
        moment = _parse_iso(text) if text is not None else None
        return SQLValue(moment) if moment is not None else None
    if isinstance(node, exp.StrToTime | exp.StrToDate):
        return _parsed(node)
    if isinstance(node, exp.Cast | exp.TryCast):
        return _cast(node)
    return None


def literal_to_odata(node: exp.Expr, edm: str) -> str | None:
    """The OData literal of a constant SQL expression for a column of type ``edm``, or None."""
    constant = sql_constant(node)
    if constant is None or constant.value is None:
        return None
    return render_literal(constant.value, edm)


def _number(text: str) -> SQLValue | None:
    if _INTEGER.fullmatch(text):
        return SQLValue(int(text))
    try:
        decimal = Decimal(text)
    except InvalidOperation:
        return None
    return SQLValue(decimal) if decimal.is_finite() else None


def _string(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    return None


def _parsed(node: exp.StrToTime | exp.StrToDate) -> SQLValue | None:
    text = _string(node.this)
    fmt = _string(node.args.get("format"))
    if text is None or fmt is None:
        return None
    if fmt == _ORACLE_TIMESTAMP_LITERAL and isinstance(node, exp.StrToTime):
        moment = _parse_iso(text)  # ``timestamp '2024-01-31 10:00:00'``: the fraction is optional
        return SQLValue(moment) if moment is not None else None
    if isinstance(node, exp.StrToDate) and _TIME_DIRECTIVES.search(fmt):
        return None  # to_date with a time part: DuckDB casts it to a DATE; too easy to get wrong
    try:
        moment = dt.datetime.strptime(text, fmt)
    except ValueError:
        return None
    return SQLValue(moment.date() if isinstance(node, exp.StrToDate) else moment)


def _cast(node: exp.Cast | exp.TryCast) -> SQLValue | None:
    to = node.to
    inner = sql_constant(node.this)
    if inner is None or inner.value is None:
        return inner
    value = inner.value
    if to.is_type(exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMP_MS):
        if isinstance(value, str):
            moment = _parse_iso(value)
            return SQLValue(moment) if moment is not None else None
        if isinstance(value, dt.datetime):
            return SQLValue(value)
        if isinstance(value, dt.date):
            return SQLValue(dt.datetime(value.year, value.month, value.day))
        return None
    if to.is_type(exp.DataType.Type.DATE):
        if isinstance(value, str):
            moment = _parse_iso(value)
            if moment is None or moment.time() != dt.time():
                return None
            return SQLValue(moment.date())
        if isinstance(value, dt.datetime):
            return SQLValue(value.date())
        if isinstance(value, dt.date):
            return SQLValue(value)
        return None
    if to.is_type(*exp.DataType.TEXT_TYPES):
        return SQLValue(value) if isinstance(value, str) else None
    if to.is_type(*exp.DataType.INTEGER_TYPES):
        number = _as_integer(value)
        return SQLValue(number) if number is not None else None
    if to.is_type(exp.DataType.Type.DECIMAL):
        return _decimal_cast(value, to)
    if to.is_type(exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT):
        decimal = _as_decimal(value)
        return SQLValue(decimal) if decimal is not None else None
    return None


def _decimal_cast(value: object, to: exp.DataType) -> SQLValue | None:
    """``CAST(x AS DECIMAL(p, s))`` of a value that fits it unrounded (else None: DuckDB would round it)."""
    decimal = _as_decimal(value)
    params = [p.this for p in to.expressions if isinstance(p, exp.DataTypeParam)]
    try:
        precision, scale = (
            (int(str(params[0].this)) if params else 18),
            (int(str(params[1].this)) if len(params) > 1 else 3),
        )
    except (ValueError, AttributeError):
        return None
    if decimal is None or -int(decimal.as_tuple().exponent) > scale:
        return None
    if decimal.adjusted() + 1 > precision - scale:
        return None
    return SQLValue(decimal)

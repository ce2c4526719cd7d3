"""Bind variables: ``:name`` and ``?`` placeholders replaced by typed literals in the parsed statements.

A value never becomes SQL text: it becomes a sqlglot literal node (a string literal, a number, ``true``,
``NULL``, ``CAST('…' AS TIMESTAMP)`` …), so that the planner can push it to ``$filter`` as a typed OData
literal and DuckDB reads it as a constant; quotes inside a value stay inside the literal.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlglot import exp

from exactsql.sql.dialect import SQLError, Statement, UseStatement

Params = Mapping[str, object] | Sequence[object] | None


@dataclass
class Bound:
    """The statements with their placeholders replaced, and the named values no statement used."""

    statements: list[Statement]
    unused: list[str]


def _trees(statements: list[Statement]) -> list[exp.Expression]:
    out = []
    for statement in statements:
        tree = statement.query if isinstance(statement, UseStatement) else statement
        if tree is not None:
            out.append(tree)
    return out


def bind(statements: list[Statement], params: Params, timezone: str = "Europe/Amsterdam") -> Bound:
    """``statements`` with every placeholder replaced by the literal of its value.

    Named placeholders (``:code``, case-insensitive) take values from a mapping, ``?`` placeholders from a
    sequence, in the order they are written across the script. SQLError when a placeholder has no value,
    the styles are mixed, the number of positional values differs, or a value has no SQL literal.
    """
    placeholders = [p for tree in _trees(statements) for p in tree.find_all(exp.Placeholder)]
    named = [p for p in placeholders if p.this]
    positional = [p for p in placeholders if not p.this]
    if named and positional:
        raise SQLError(
            "The SQL uses both :name and ? parameters.", "Use one style: :name with a mapping, ? with a list."
        )
    given: dict[str, object] = {}
    if isinstance(params, Mapping):
        if positional:
            raise SQLError(
                f"The SQL has {len(positional)} positional parameter(s) (?), but the values are named.",
                "Give a list of values, one per ?, or write :name placeholders.",
            )
        given = {str(k).lower().lstrip(":"): v for k, v in params.items()}
    elif params is not None and not isinstance(params, str | bytes):
        values = list(params)
        if named:
            raise SQLError(
                "The SQL uses :name parameters, but the values are a list.",
                "Give a mapping of name to value.",
            )
        if len(values) != len(positional):
            raise SQLError(
                f"The SQL has {len(positional)} positional parameters (?), but {len(values)} value(s) were given."
            )
        for node, value in zip(positional, values, strict=True):
            node.replace(literal(value, "?", timezone))
        return Bound(statements, [])
    elif params is not None:
        raise SQLError("Parameters must be a mapping (for :name) or a list (for ?), not a string.")
    if positional:
        raise SQLError(f"The SQL has {len(positional)} positional parameter(s) (?) without values.")
    for node in named:
        name = node.name.lower()
        if name not in given:
            raise SQLError(
                f"The parameter :{node.name} has no value.",
                f"Give it: --param {node.name}=VALUE, or in the parameters of execute().",
            )
        node.replace(literal(given[name], f":{node.name}", timezone))
    used = {node.name.lower() for node in named}
    return Bound(statements, sorted(n for n in given if n not in used))


def literal(value: object, name: str, timezone: str = "Europe/Amsterdam") -> exp.Expression:
    """The SQL literal of a parameter's value; SQLError for a value of a type SQL cannot hold."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SQLError(f"The parameter {name} is not a finite number ({value}).")
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.build("double"))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise SQLError(f"The parameter {name} is not a finite number ({value}).")
        digits = len(value.as_tuple().digits)
        scale = max(0, -int(value.as_tuple().exponent))
        precision = min(38, max(digits, scale, 1))
        if scale > 38 or digits > 38:
            raise SQLError(f"The parameter {name} has more than 38 digits.")
        return exp.cast(
            exp.Literal.string(format(value, "f")),
            exp.DataType.build(f"decimal({max(precision, scale)}, {scale})"),
        )
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise SQLError(f"The parameter {name} holds a character that is not valid Unicode.") from None
        return exp.Literal.string(value)
    if isinstance(value, uuid.UUID):
        return exp.Literal.string(str(value))
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)  # Exact's wall clock
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("timestamp"))
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("date"))
    if isinstance(value, dt.time):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("time"))
    raise SQLError(
        f"The parameter {name} has a value of type {type(value).__name__}, which SQL cannot hold.",
        "Give a string, number, bool, None, date, datetime, time, Decimal or UUID.",
    )

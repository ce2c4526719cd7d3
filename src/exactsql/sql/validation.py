"""Checks of writes against the catalog before any call: the method, the columns (known, writable, not
lines), required fields, value types, and the balance of journal entries. Every problem is collected with
the row it belongs to, so that one error message names them all."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from exactsql.catalog.writes import Field, WriteTarget

GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$")
INT_RANGES = {
    "Edm.Byte": (0, 255),
    "Edm.Int16": (-(2**15), 2**15 - 1),
    "Edm.Int32": (-(2**31), 2**31 - 1),
    "Edm.Int64": (-(2**63), 2**63 - 1),
}
NUMBER_TYPES = ("Edm.Double", "Edm.Decimal", "Edm.Single")
VERBS = {"POST": "insert into", "PUT": "update", "DELETE": "delete from"}
#: Journal-entry lines whose amounts must sum to zero per entry.
BALANCED = {"generaljournalentry/generaljournalentrylines": "AmountFC"}
BALANCE_TOLERANCE = 0.005


@dataclass(frozen=True)
class Problem:
    """One reason a row cannot be sent."""

    row: str  # "row 3", "'INV-7'", "line 2 of 'INV-7'"
    message: str

    def __str__(self) -> str:
        return f"{self.row}: {self.message}"


class Unconvertible(ValueError):
    """A value that does not fit its field's type."""


def check_columns(target: WriteTarget, method: str, columns: list[str], inline: bool = False) -> list[str]:
    """Statement-level problems: the method, unknown, read-only and line-collection columns. ``inline``: the
    rows are lines sent inside their header (``attach to``), so the line endpoint's own method is not used."""
    problems = []
    if not inline and not target.allows(method):
        allowed = ", ".join(VERBS[m] for m in target.methods if m in VERBS) or "reads only"
        problems.append(f"Exact Online takes no {VERBS[method]} on {target.endpoint} (it takes: {allowed})")
    seen: set[str] = set()
    for name in columns:
        if name.lower() == "division":
            continue
        found = target.field(name)
        if found is None:
            problems.append(f"{target.endpoint} has no field {name!r}")
        elif found.name.lower() in seen:
            problems.append(f"{found.name} is given twice")
        elif found.read_only and not (method == "POST" and found.name == target.key):
            problems.append(f"{found.name} is read-only: Exact Online sets it")
        elif found.collection is not None:
            problems.append(f"{found.name} holds lines: insert them with `attach to` (see `identified by`)")
        seen.add(found.name.lower() if found else name.lower())
    return problems


def missing_required(target: WriteTarget, columns: list[str], skip: tuple[str, ...] = ()) -> list[str]:
    """The required fields (not line collections, not ``skip``) that ``columns`` leave out."""
    given = {c.lower() for c in columns}
    return [
        f.name
        for f in target.fields
        if f.required and f.collection is None and f.name.lower() not in given and f.name not in skip
    ]


def to_json(field: Field, value: Any) -> Any:
    """``value`` as the JSON value Exact takes for ``field``; Unconvertible when it does not fit."""
    if value is None:
        return None
    edm = field.edm
    if edm == "Edm.Guid":
        text = str(value)
        if isinstance(value, uuid.UUID) or GUID.match(text):
            return str(uuid.UUID(text.strip("{}")))
        raise Unconvertible(f"{field.name} takes a GUID, not {text!r}")
    if edm in INT_RANGES:
        number = _integer(value, field.name)
        low, high = INT_RANGES[edm]
        if not low <= number <= high:
            raise Unconvertible(f"{field.name} ({edm[4:]}) takes {low}…{high}, not {number}")
        return number
    if edm in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal | str):
            raise Unconvertible(f"{field.name} takes a number, not {value!r}")
        try:
            real = float(value)
        except ValueError:
            raise Unconvertible(f"{field.name} takes a number, not {value!r}") from None
        if not math.isfinite(real):
            raise Unconvertible(f"{field.name} takes a finite number, not {value!r}")
        return real
    if edm == "Edm.Boolean":
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise Unconvertible(f"{field.name} takes true or false, not {value!r}")
    if edm == "Edm.DateTime":
        return _datetime(value, field.name)
    if edm == "Edm.String":
        if isinstance(value, str | int | decimal.Decimal) and not isinstance(value, bool):
            return str(value)
        raise Unconvertible(f"{field.name} takes text, not {value!r}")
    return value


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise Unconvertible(f"{name} takes a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float | decimal.Decimal) and value == int(value):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise Unconvertible(f"{name} takes a whole number, not {value!r}")


def _datetime(value: Any, name: str) -> str:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00"
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Unconvertible(f"{name} takes a date (YYYY-MM-DD), not {value!r}") from None
        return parsed.replace(tzinfo=None).isoformat(timespec="seconds")
    raise Unconvertible(f"{name} takes a date, not {value!r}")


def row_body(
    target: WriteTarget, values: dict[str, Any], row: str, required: list[str] | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """The JSON body of one row (field names as the catalog spells them) and its problems: values that do
    not fit, and ``required`` fields that are null."""
    body: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, value in values.items():
        found = target.field(name)
        if found is None:
            continue
        try:
            converted = to_json(found, value)
        except Unconvertible as exc:
            problems.append(Problem(row, str(exc)))
            continue
        if converted is not None:
            body[found.name] = converted
    for name in required or ():
        if body.get(name) in (None, ""):
            problems.append(Problem(row, f"{name} is required"))
    return body, problems


def balance_problems(line_endpoint: str, lines: list[dict[str, Any]], row: str) -> list[Problem]:
    """A journal entry whose lines do not sum to zero."""
    amount = BALANCED.get(line_endpoint.lower())
    if amount is None:
        return []
    total = sum(float(line.get(amount) or 0) for line in lines)
    if abs(total) > BALANCE_TOLERANCE:
        return [Problem(row, f"the lines' {amount} sum to {total:.2f}, not 0: a journal entry must balance")]
    return []

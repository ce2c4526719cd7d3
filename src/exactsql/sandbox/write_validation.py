"""Checks of a write's body, with Exact's answers: unknown, read-only, mistyped, mandatory, unknown references.

A body's values become the store's value conventions (``values.py``) here. The texts and their sources are
in docs/design/sandbox-writes.md; each check raises ``WriteError`` with the message Exact sends.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

import numpy as np

from exactsql.catalog import Table
from exactsql.sandbox.store import DivisionState
from exactsql.sandbox.values import cet_ms
from exactsql.sandbox.write_rules import write_fields

#: Exact's words for a body that is not one JSON object, not JSON at all (Exact's REST API FAQ) or whose
#: line collection is not a JSON array (picqer/exact-php-client issues #117 and #277).
NOT_AN_OBJECT = "Error processing request stream. The request should be a valid top-level resource object."
#: WCF Data Services' words for a property the entity type does not have (a live test against Exact).
UNKNOWN_PROPERTY = (
    "Error processing request stream. The property name '{}' specified for type '{}' is not valid."
)
#: WCF Data Services' words for a value that is not of the property's type (picqer #595 and #257).
WRONG_TYPE = (
    "Error processing request stream. Error encountered in converting the value from request payload for "
    "property '{}' to type '{}', which is the property's expected type. See inner exception for more detail."
)
#: The sandbox's words for a read-only property in a write (no public record of Exact's answer).
READ_ONLY = "Error processing request stream. The property '{}' is read-only and cannot be set."
#: Exact's words for a mandatory property left out: "Verplicht: Factuur voor" in Dutch (picqer #10),
#: "Mandatory: Account" in English (Exact's messages quoted by Streamtime and Coachview).
MANDATORY = "Mandatory: {}"
#: Exact's words for a key of something that does not exist: "Ongeldige referentie: Besteld door" (picqer #249).
INVALID_REFERENCE = "Invalid reference: {}"
#: Exact's words for a record whose key is taken: "Bestaat reeds: Mandaat referentie" (Informat's help page),
#: "Already exists - Entry number" (Streamtime's), in English.
ALREADY_EXISTS = "Already exists: {}"
#: The sandbox's words, in the form of Exact's "Invalid: Customer (Type)", for a text longer than it takes.
TOO_LONG = "Invalid: {} (too long: {} characters, at most {})"
#: Exact's words for an entry whose lines do not add up to zero: "De boeking is niet in evenwicht op: 2022 / 4
#: (Type: Inkoopboeking) - Verschil: EUR -0,01" (quoted by Spend Cloud), in English.
UNBALANCED = "The entry is not in balance on: {} / {} (Type: {}) - Difference: EUR {:.2f}"

#: The CLR type names WCF Data Services writes in its conversion errors.
CLR_TYPES = {
    "Edm.Guid": "Guid",
    "Edm.String": "String",
    "Edm.Boolean": "Boolean",
    "Edm.Byte": "Byte",
    "Edm.SByte": "SByte",
    "Edm.Int16": "Int16",
    "Edm.Int32": "Int32",
    "Edm.Int64": "Int64",
    "Edm.Double": "Double",
    "Edm.DateTime": "DateTime",
}

_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")
_JSON_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_SIGNED_BITS = {"Edm.SByte": 8, "Edm.Int16": 16, "Edm.Int32": 32, "Edm.Int64": 64}
_INT_RANGES = {
    "Edm.Byte": (0, 255),
    **{e: (-(1 << (b - 1)), (1 << (b - 1)) - 1) for e, b in _SIGNED_BITS.items()},
}
#: The longest text a property takes, by name (the sandbox's own limits: Exact's are not published).
MAX_LENGTHS = {"Code": 30, "Description": 255, "Name": 255, "YourRef": 30, "Journal": 20, "JournalCode": 20}
#: Codes Exact keeps right-aligned in a fixed width: an account's Code is 18 characters (API.md §6.6).
RIGHT_ALIGNED = {("crm/Accounts", "Code"): 18}
#: Any other text property.
MAX_TEXT = 4000


class WriteError(ValueError):
    """A write Exact refuses, with the message of its error body.

    ``validation`` marks Exact's own business rules (mandatory, references, balance): Exact answers those
    with its validation status (500 by default, the ``validation_error_status`` setting); a body the OData
    layer cannot read is a 400.
    """

    def __init__(self, message: str, *, validation: bool = False) -> None:
        super().__init__(message)
        self.validation = validation


@dataclass(frozen=True)
class Reference:
    """A property that names a record of another entity, by its key or by its code."""

    entity: str
    by: str = "ID"


#: Properties that name other records (a curated list: the ones the books of the sandbox hold).
REFERENCES: dict[str, Reference] = {
    **{
        name: Reference("crm/Accounts")
        for name in ("Account", "OrderedBy", "InvoiceTo", "DeliverTo", "Customer", "Supplier", "Creditor")
    },
    "GLAccount": Reference("financial/GLAccounts"),
    "Item": Reference("logistics/Items"),
    "Journal": Reference("financial/Journals", "Code"),
    "JournalCode": Reference("financial/Journals", "Code"),
    "Project": Reference("project/Projects"),
    "VATCode": Reference("vat/VATCodes", "Code"),
    "PaymentCondition": Reference("cashflow/PaymentConditions", "Code"),
}


def caption(name: str) -> str:
    """A property's caption as Exact's messages show it: ``OrderedBy`` -> ``Ordered by``."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name) or [name]
    return " ".join([words[0], *(w.lower() if not w.isupper() else w for w in words[1:])])


def convert(edm: str, value: object) -> object:
    """A JSON value as the store holds a value of ``edm``; ValueError when it is not of that type."""
    if value is None:
        return None
    if edm == "Edm.String":
        if not isinstance(value, str):
            raise ValueError(edm)
        return value
    if edm == "Edm.Guid":
        match = _GUID.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(edm)
        return match.group(1).lower()
    if edm == "Edm.Boolean":
        if not isinstance(value, bool):
            raise ValueError(edm)
        return value
    if edm in _INT_RANGES:
        return _integer(edm, value)
    if edm == "Edm.Double":
        return _double(value)
    if edm == "Edm.DateTime":
        return _date(value)
    raise ValueError(edm)


def _integer(edm: str, value: object) -> int:
    if isinstance(value, str) and edm == "Edm.Int64" and re.fullmatch(r"-?\d{1,19}", value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(edm)
    low, high = _INT_RANGES[edm]
    if not low <= value <= high:
        raise ValueError(edm)
    return value


def _double(value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError("Edm.Double") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("Edm.Double")
    return float(value)


def _date(value: object) -> int:
    """``/Date(ms)/`` (as is) or ISO 8601 (a naive one is wall-clock time, as Exact reads it)."""
    if not isinstance(value, str):
        raise ValueError("Edm.DateTime")
    match = _JSON_DATE.match(value)
    if match is not None:
        return int(match.group(1))
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("Edm.DateTime") from None
    return cet_ms(moment)


@dataclass
class Checked:
    """A body's plain values (converted) and its line collections (each line's values, converted)."""

    values: dict[str, object] = field(default_factory=dict)
    lines: dict[str, list[dict[str, object]]] = field(default_factory=dict)


def check_body(table: Table, endpoint: str, body: object, *, lines_allowed: bool = True) -> Checked:
    """The body of a POST or PUT to ``table``, checked property by property; WriteError for the first fault.

    Properties are matched as WCF matches them: by exact name. A line collection must be a JSON array of
    objects; its lines are checked against the line entity by the caller.
    """
    if not isinstance(body, dict):
        raise WriteError(NOT_AN_OBJECT)
    read_only = write_fields(endpoint).read_only
    checked = Checked()
    names = {c.name: c for c in table.columns}
    for name, value in body.items():
        if name == "__metadata":
            continue
        column = names.get(name)
        if column is None:
            raise WriteError(UNKNOWN_PROPERTY.format(name, table.entity_type))
        if column.edm.startswith("Collection("):
            if not lines_allowed or value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise WriteError(NOT_AN_OBJECT)
            checked.lines[name] = value
            continue
        if not column.edm.startswith("Edm."):
            continue  # a complex property: the sandbox keeps none
        if name in read_only and name != table.key:
            raise WriteError(READ_ONLY.format(name))
        try:
            converted = convert(column.edm, value)
        except ValueError:
            raise WriteError(WRONG_TYPE.format(name, CLR_TYPES.get(column.edm, column.edm))) from None
        if isinstance(converted, str) and column.edm == "Edm.String":
            width = RIGHT_ALIGNED.get((table.full_name, name))
            limit = width or MAX_LENGTHS.get(name, MAX_TEXT)
            if width:
                converted = converted.strip().rjust(width)
            if len(converted) > limit:
                raise WriteError(TOO_LONG.format(caption(name), len(converted), limit), validation=True)
        checked.values[name] = converted
    return checked


def missing(endpoint: str, values: dict[str, object], lines: dict[str, list], exempt: set[str]) -> list[str]:
    """The mandatory properties of ``endpoint`` a new record leaves out (nulls and empty line lists count)."""
    gone = []
    for name in sorted(write_fields(endpoint).required - exempt):
        if name in lines:
            if not lines[name]:
                gone.append(name)
        elif values.get(name) is None:
            gone.append(name)
    return gone


def mandatory_error(names: list[str]) -> WriteError:
    """Exact's answer to mandatory properties left out: one line per property."""
    return WriteError("\r\n".join(MANDATORY.format(caption(n)) for n in names), validation=True)


def find_reference(state: DivisionState, reference: Reference, value: object) -> int | None:
    """The live row a reference names, or None."""
    rows = state.rows(reference.entity)
    if rows is None or value is None:
        return None
    if reference.by == "ID":
        row = rows.index_of_key(str(value))
    else:
        codes = rows.column(reference.by)
        wanted = str(value).strip()
        hits = np.flatnonzero(np.array([str(c).strip() if c is not None else None for c in codes]) == wanted)
        row = int(hits[0]) if len(hits) else None
    if row is None or not rows.alive_mask()[row]:
        return None
    return row


def check_references(state: DivisionState, values: dict[str, object], extra: dict[str, Reference]) -> None:
    """WriteError naming every reference of ``values`` to a record that does not exist."""
    bad = []
    for name, value in values.items():
        reference = extra.get(name) or REFERENCES.get(name)
        if reference is None or value is None:
            continue
        if find_reference(state, reference, value) is None:
            bad.append(name)
    if bad:
        raise WriteError("\r\n".join(INVALID_REFERENCE.format(caption(n)) for n in bad), validation=True)

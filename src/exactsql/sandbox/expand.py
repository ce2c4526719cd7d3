"""Navigation properties: ``$expand=SalesInvoiceLines`` and ``…SalesInvoices(guid'…')/SalesInvoiceLines``.

A collection property (``Collection(SalesInvoiceLines)``) names the entity set of its lines; the lines hold
their header's key in a column named after that key (``InvoiceID``, ``EntryID``) or after the header's
entity (``Account``, ``Project``). Evidence: sandbox-fidelity.md §7.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from exactsql.catalog import AccessPath, Catalog, Table
from exactsql.sandbox.odata import ODataError
from exactsql.sandbox.store import RowSource

#: ``base(key)/Navigation``: a deferred link.
DEFERRED = re.compile(r"^(?P<base>.+)\((?P<key>[^()]*)\)/(?P<nav>[A-Za-z_][A-Za-z0-9_]*)$")
#: WCF's words when ``$select`` names a path through a property not expanded.
NOT_EXPANDED = "Only properties specified in $expand can be traversed in $select query options."


@dataclass(frozen=True)
class Navigation:
    """A line collection of a header: the lines' table and path, and the line column holding the header key."""

    name: str
    table: Table
    path: AccessPath
    link: str
    parent_key: str


_found: dict[tuple[str, str], Navigation | None] = {}

#: Lines whose header key (``ID``) sits in a column the naming rule does not find: Exact's reference pages
#: name the link of purchase invoice lines ``InvoiceID`` and of purchase return lines ``EntryID``.
LINKS = {
    ("purchase/PurchaseInvoices", "PurchaseInvoiceLines"): "InvoiceID",
    ("purchaseorder/PurchaseReturns", "PurchaseReturnLines"): "EntryID",
}


def navigation(catalog: Catalog, table: Table, name: str) -> Navigation | None:
    """The navigation property ``name`` of ``table``, or None when it is none or its lines are unknown."""
    cache_key = (table.full_name, name)
    if cache_key not in _found:
        _found[cache_key] = _resolve(catalog, table, name)
    return _found[cache_key]


def _resolve(catalog: Catalog, table: Table, name: str) -> Navigation | None:
    column = table.column(name)
    if column is None or not column.edm.startswith("Collection(") or not isinstance(table.key, str):
        return None
    target = column.edm[len("Collection(") : -1]
    tables = [t for t in catalog.tables if t.name == target and t.path("regular") is not None]
    tables.sort(key=lambda t: t.schema != table.schema)
    if not tables:
        return None
    child = tables[0]
    single = table.entity_type.rsplit(".", 1)[-1]
    names = {c.name for c in child.columns}
    links = ([table.key] if table.key != "ID" else []) + [single, single + "ID"]
    link = LINKS.get((table.full_name, column.name)) or next((n for n in links if n in names), None)
    path = child.path("regular")
    if link is None or path is None:
        return None
    return Navigation(column.name, child, path, link, table.key)


def parse_expand(text: str, table: Table) -> list[str]:
    """The navigation properties ``$expand`` names (canonical spelling); ODataError for anything else."""
    chosen: list[str] = []
    for part in text.split(","):
        item = part.strip()
        if "/" in item:
            raise ODataError(f"The sandbox does not expand nested navigation properties: '{item}'.")
        column = table.column(item) if item else None
        if column is None or not column.edm.startswith("Collection("):
            raise ODataError(
                f"Could not find a navigation property named '{item}' on type '{table.entity_type}'."
            )
        if column.name not in chosen:
            chosen.append(column.name)
    return chosen


def split_select(text: str, expand: list[str]) -> tuple[str, dict[str, list[str]]]:
    """``$select`` with each ``Nav/Prop`` item as ``Nav``, and the props chosen by navigation property.

    A navigation property selected whole as well has no entry (all its props are shown).
    """
    plain: list[str] = []
    paths: dict[str, list[str]] = {}
    for part in text.split(","):
        nav, slash, prop = part.strip().partition("/")
        if not slash:
            plain.append(part)
            continue
        canonical = next((e for e in expand if e.lower() == nav.lower()), None)
        if canonical is None:
            raise ODataError(NOT_EXPANDED)
        paths.setdefault(canonical, []).append(prop.strip())
    whole = {p.strip().lower() for p in plain}
    for nav in list(paths):
        if nav.lower() in whole:
            del paths[nav]  # the whole line is selected too
        else:
            plain.append(nav)
    return ",".join(plain), paths


def children(lines: RowSource, link: str, keys: list[object]) -> list[np.ndarray]:
    """For each header key, the live line rows that hold it, in row order."""
    column = lines.column(link)
    wanted = np.array(keys, dtype=column.dtype if column.dtype != object else object)
    rows = np.flatnonzero(lines.alive_mask() & np.isin(column, wanted))
    held = column[rows]
    return [rows[held == key] for key in keys]

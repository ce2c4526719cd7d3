"""Catalog model: tables (service as schema, entity as name), columns with Edm types, access paths."""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass, field
from importlib import resources

PATH_KINDS = ("regular", "bulk", "sync")


@dataclass(frozen=True)
class Column:
    """A column of a logical table or of one access path."""

    name: str
    edm: str


@dataclass(frozen=True)
class AccessPath:
    """One endpoint through which a logical table can be read.

    Attributes:
        kind: "regular" (60 rows a page), "bulk" or "sync" (1,000 rows a page).
        uri: the URI template, e.g. ``/api/v1/{division}/sync/Financial/TransactionLines``.
        filterable: the columns ``$filter`` may name; None means every column.
        mandatory_filter: when set, a GET must carry a ``$filter`` naming one of these columns.
    """

    kind: str
    uri: str
    division_in_url: bool
    key: str | None
    page_size: int
    select_mandatory: bool
    filterable: frozenset[str] | None
    mandatory_filter: tuple[str, ...] | None
    methods: tuple[str, ...]
    function: bool
    beta: bool
    columns: tuple[Column, ...]
    _by_name: dict[str, Column] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({c.name.lower(): c for c in self.columns})

    @property
    def endpoint(self) -> str:
        """The URI after ``/api/v1/{division}/``, e.g. ``sync/Financial/TransactionLines``."""
        parts = [p for p in self.uri.split("/")[3:] if p not in ("{division}",)]
        return "/".join(parts)

    def column(self, name: str) -> Column | None:
        """The column called ``name`` (case-insensitive), or None."""
        return self._by_name.get(name.lower())

    def can_filter(self, name: str) -> bool:
        """Whether ``$filter`` may name this column on this path."""
        return self.filterable is None or name in self.filterable


@dataclass(frozen=True)
class Table:
    """A logical table: one Exact entity, readable through one or more access paths."""

    schema: str
    name: str
    key: str | None
    partitioned: bool
    entity_type: str
    columns: tuple[Column, ...]
    paths: tuple[AccessPath, ...]

    @property
    def full_name(self) -> str:
        """``schema/name``, e.g. ``crm/Accounts``."""
        return f"{self.schema}/{self.name}"

    def path(self, kind: str) -> AccessPath | None:
        """The access path of ``kind`` ("regular", "bulk" or "sync"), or None."""
        return next((p for p in self.paths if p.kind == kind), None)

    def column(self, name: str) -> Column | None:
        """The column called ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)


class Catalog:
    """All logical tables, with look-ups by name and by request path."""

    def __init__(self, tables: list[Table]) -> None:
        self.tables = tables
        self._by_name = {t.full_name.lower(): t for t in tables}
        self._by_endpoint: dict[tuple[bool, str], tuple[Table, AccessPath]] = {}
        for table in tables:
            for path in table.paths:
                self._by_endpoint.setdefault((path.division_in_url, path.endpoint.lower()), (table, path))

    def table(self, full_name: str) -> Table:
        """The table ``schema/name`` (case-insensitive); KeyError when unknown."""
        try:
            return self._by_name[full_name.lower()]
        except KeyError:
            raise KeyError(f"no table {full_name!r} in the catalog") from None

    def find_endpoint(self, endpoint: str, division_in_url: bool = True) -> tuple[Table, AccessPath] | None:
        """The table and path served at ``endpoint`` (e.g. ``crm/Accounts``), case-insensitive."""
        return self._by_endpoint.get((division_in_url, endpoint.strip("/").lower()))


def _path_from_json(raw: dict) -> AccessPath:
    return AccessPath(
        kind=raw["kind"],
        uri=raw["uri"],
        division_in_url=raw["division_in_url"],
        key=raw["key"],
        page_size=raw["page_size"],
        select_mandatory=raw["select_mandatory"],
        filterable=frozenset(raw["filterable"]) if raw["filterable"] else None,
        mandatory_filter=tuple(raw["mandatory_filter"]) if raw["mandatory_filter"] else None,
        methods=tuple(raw["methods"]),
        function=raw["function"],
        beta=raw["beta"],
        columns=tuple(Column(n, t) for n, t in raw["columns"]),
    )


@functools.cache
def load_catalog() -> Catalog:
    """The catalog shipped with the package (built by ``scripts/build_catalog.py``)."""
    blob = resources.files("exactsql.catalog").joinpath("catalog.json.gz").read_bytes()
    data = json.loads(gzip.decompress(blob))
    tables = [
        Table(
            schema=t["schema"],
            name=t["name"],
            key=t["key"],
            partitioned=t["partitioned"],
            entity_type=t["entity_type"],
            columns=tuple(Column(n, e) for n, e in t["columns"]),
            paths=tuple(_path_from_json(p) for p in t["paths"]),
        )
        for t in data["tables"]
    ]
    return Catalog(tables)

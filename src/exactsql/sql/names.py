"""Table names: ``ExactOnlineREST.crm.Accounts``, ``exactonlinerest..Accounts``, ``Accounts``, variants and
dictionary tables, resolved against the catalog.

A bare or ``..`` name that several services share resolves by priority: division-partitioned tables
before the others (so ``exactonlinerest..users`` is users/Users, not system/Users); what is still
ambiguous is an error that lists the candidates.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlglot import exp

from exactsql.catalog import Catalog, Table
from exactsql.sql.dialect import SQLError, connection_alias

CATALOG_NAME = "ExactOnlineREST"
DICTIONARY = {
    "systemtables": "SystemTables",
    "systemtablecolumns": "SystemTableColumns",
    "systemdivisions": "SystemDivisions",
    "sessionios": "SessionIOs",
    "ratelimits": "RateLimits",
}
VARIANTS = {"bulk": "bulk", "incremental": "sync"}


@dataclass(frozen=True)
class TableRef:
    """A resolved table reference.

    Attributes:
        table: the catalog table, or None for a dictionary table.
        forced_path: "bulk" or "sync" when a variant name (``TransactionLinesBulk``) asked for one.
        dictionary: the dictionary table's name (``SystemTables`` …), or None.
        alias: the connection alias (``eol``).
    """

    table: Table | None
    forced_path: str | None
    dictionary: str | None
    alias: str

    @property
    def display(self) -> str:
        """How explain shows the reference."""
        if self.dictionary:
            return self.dictionary
        assert self.table is not None
        suffix = {"bulk": "Bulk", "sync": "Incremental"}.get(self.forced_path or "", "")
        return f"{CATALOG_NAME}.{self.table.schema}.{self.table.name}{suffix}"


class NameResolver:
    """Resolves table references against one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._by_name: dict[str, list[Table]] = {}
        for table in catalog.tables:
            self._by_name.setdefault(table.name.lower(), []).append(table)

    def resolve(self, node: exp.Table) -> TableRef:
        """The table a FROM/JOIN reference names; SQLError with candidates when unknown or ambiguous."""
        alias = connection_alias(node)
        name, schema, catalog = node.name, node.db, node.catalog
        written = (
            f"{catalog}..{name}"
            if catalog and not schema
            else ".".join(p for p in (catalog, schema, name) if p)
        )
        if catalog and catalog.lower() != CATALOG_NAME.lower():
            raise SQLError(f"Unknown catalog {catalog!r} in {written!r}.", f"The catalog is {CATALOG_NAME}.")
        lowered = name.lower()
        if not schema and lowered in DICTIONARY:
            return TableRef(None, None, DICTIONARY[lowered], alias)
        found = self._candidates(lowered, schema)
        forced = None
        if not found:
            for suffix, path in VARIANTS.items():
                if lowered.endswith(suffix) and len(lowered) > len(suffix):
                    found = [t for t in self._candidates(lowered[: -len(suffix)], schema) if t.path(path)]
                    if found:
                        forced = path
                        break
        if not found:
            raise SQLError(
                f"Unknown table {written!r}.",
                self._suggest(lowered),
                node.meta.get("line"),
                node.meta.get("col"),
            )
        if len(found) > 1:
            partitioned = [t for t in found if t.partitioned]
            found = partitioned if partitioned else found
        if len(found) > 1:
            names = ", ".join(f"{CATALOG_NAME}.{t.schema}.{t.name}" for t in found)
            raise SQLError(
                f"The table name {written!r} is ambiguous.",
                f"Name the service: one of {names}.",
                node.meta.get("line"),
                node.meta.get("col"),
            )
        return TableRef(found[0], forced, None, alias)

    def _candidates(self, lowered: str, schema: str) -> list[Table]:
        tables = self._by_name.get(lowered, [])
        if schema:
            tables = [t for t in tables if t.schema.lower() == schema.lower()]
        return tables

    def _suggest(self, lowered: str) -> str:
        names = sorted({*self._by_name, *DICTIONARY})
        close = difflib.get_close_matches(lowered, names, n=5, cutoff=0.6)
        if close:
            shown = [f"{t.schema}.{t.name}" for c in close for t in self._by_name.get(c, [])]
            shown += [DICTIONARY[c] for c in close if c in DICTIONARY]
            return f"Did you mean {', '.join(shown)}? `select * from systemtables@eol` lists them all."
        return "`select * from systemtables@eol` lists the tables."

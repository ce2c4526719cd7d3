"""Table names as Invantive users write them, resolved against the catalog.

``ExactOnlineREST.crm.Accounts``, ``exactonlinerest..Accounts``, ``Accounts``, ``Accounts@eol`` and
``[Accounts]``; Invantive's variants: ``ExactOnlineREST.FinancialTransaction.TransactionLinesBulk`` (a
…Bulk table in its service's schema), ``ExactOnlineREST.Incremental.TransactionLinesIncremental`` (every
…Incremental table in schema Incremental) and ``ExactOnlineREST.Sync.SyncTransactionLines`` (the raw
sync tables), which force that endpoint; a service-prefixed name where services share an entity name
(``SystemUsers`` is system/Users); the dictionary tables (also as ``SystemTables@DataDictionary``) and
the in-memory tables of ``create table NAME@inmemorystorage``.

A bare or ``..`` name that several services share resolves by priority: division-partitioned tables
before the others (so ``exactonlinerest..users`` is users/Users, not system/Users); what is still
ambiguous is an error that lists the candidates. An unknown name is an error that suggests close names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlglot import exp

from exactsql.catalog import Catalog, Table
from exactsql.sql import memory
from exactsql.sql.dialect import DEFAULT_ALIAS, SQLError, connection_alias

CATALOG_NAME = "ExactOnlineREST"
DICTIONARY = {
    "systemtables": "SystemTables",
    "systemtablecolumns": "SystemTableColumns",
    "systemdivisions": "SystemDivisions",
    "sessionios": "SessionIOs",
    "ratelimits": "RateLimits",
    "sessionrowschanged": "SessionRowsChanged",
}
DATA_DICTIONARY = "datadictionary"
VARIANTS = {"bulk": "bulk", "incremental": "sync"}


@dataclass(frozen=True)
class TableRef:
    """A resolved table reference.

    Attributes:
        table: the catalog table, or None for a dictionary or in-memory table.
        forced_path: "bulk" or "sync" when a variant name (``TransactionLinesBulk``) asked for one.
        dictionary: the dictionary table's name (``SystemTables`` …, or an in-memory table's key), or None.
        alias: the connection alias (``eol``).
        memory: the name of a script's table (``create table NAME@inmemorystorage``, or NAME@a replica's
            alias), or None.
    """

    table: Table | None
    forced_path: str | None
    dictionary: str | None
    alias: str
    memory: str | None = None

    @property
    def display(self) -> str:
        """How explain shows the reference."""
        if self.memory:
            return f"{self.memory}@{self.alias}"
        if self.dictionary:
            return self.dictionary
        assert self.table is not None
        suffix = {"bulk": "Bulk", "sync": "Incremental"}.get(self.forced_path or "", "")
        return f"{CATALOG_NAME}.{self.table.schema}.{self.table.name}{suffix}"


class NameResolver:
    """Resolves table references against one catalog and the tables of one engine's scripts (in memory, and in
    the replicas it may write to, by alias)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.storages: dict[str, memory.TableStorage] = {memory.ALIAS: memory.InMemoryStorage()}
        self._by_name: dict[str, list[Table]] = {}
        for table in catalog.tables:
            self._by_name.setdefault(table.name.lower(), []).append(table)
        self._schemas = sorted({t.schema.lower() for t in catalog.tables}, key=len, reverse=True)
        self._suggestions = self._suggestion_names()

    def resolve(self, node: exp.Table) -> TableRef:
        """The table a FROM/JOIN reference names; SQLError with candidates when unknown or ambiguous."""
        alias = connection_alias(node)
        name, schema, catalog = node.name, node.db, node.catalog
        written = (
            f"{catalog}..{name}"
            if catalog and not schema
            else ".".join(p for p in (catalog, schema, name) if p)
        )
        where = (node.meta.get("line"), node.meta.get("col"))
        if alias in self.storages:
            return self._stored(self.storages[alias], name, bool(schema or catalog), where)
        if catalog and catalog.lower() != CATALOG_NAME.lower():
            raise SQLError(
                f"Unknown catalog {catalog!r} in {written!r}.", f"The catalog is {CATALOG_NAME}.", *where
            )
        lowered, lschema = name.lower(), schema.lower()
        if lowered in DICTIONARY and lschema in ("", "system"):
            return TableRef(
                None, None, DICTIONARY[lowered], DEFAULT_ALIAS if alias == DATA_DICTIONARY else alias
            )
        if alias == DATA_DICTIONARY:
            raise SQLError(
                f"{written}@DataDictionary is not a dictionary table.",
                f"The dictionary tables are {', '.join(DICTIONARY.values())}.",
                *where,
            )
        found, forced = self._find(lowered, lschema)
        if not found:
            raise SQLError(f"Unknown table {written!r}.", self._suggest(lowered, lschema), *where)
        if len(found) > 1:
            partitioned = [t for t in found if t.partitioned]
            found = partitioned if partitioned else found
        if len(found) > 1:
            names = ", ".join(f"{CATALOG_NAME}.{t.schema}.{t.name}" for t in found)
            raise SQLError(
                f"The table name {written!r} is ambiguous.", f"Name the service: one of {names}.", *where
            )
        return TableRef(found[0], forced, None, alias)

    @staticmethod
    def _stored(storage: memory.TableStorage, name: str, qualified: bool, where: tuple) -> TableRef:
        try:
            stored = storage.check_exists("" if qualified else name)
        except SQLError as exc:
            raise SQLError(exc.message, exc.hint, *where) from None
        return TableRef(None, None, storage.key(name), storage.alias, stored.name)

    def _find(self, lowered: str, lschema: str) -> tuple[list[Table], str | None]:
        """The tables a name may mean, and the endpoint kind its variant forces (or None)."""
        if lschema == "incremental":  # Invantive keeps every …Incremental table in schema Incremental
            return self._variant(lowered, "incremental", ""), "sync"
        found = self._candidates(lowered, lschema)
        if found:
            return found, None
        if lschema == "sync" and lowered.startswith("sync"):  # Invantive's Sync.SyncTransactionLines
            base = lowered[len("sync") :]
            found = self._candidates(base, "sync") or [
                t for t in self._candidates(base, "") if t.path("sync")
            ]
            return found, None if base == "deleted" else "sync"
        for suffix, path in VARIANTS.items():
            found = self._variant(lowered, suffix, lschema)
            if found:
                return found, path
        for prefix in self._schemas:  # SystemUsers: system/Users
            if lowered.startswith(prefix) and len(lowered) > len(prefix) and lschema in ("", prefix):
                found = self._candidates(lowered[len(prefix) :], prefix)
                if found:
                    return found, None
        return [], None

    def _variant(self, lowered: str, suffix: str, lschema: str) -> list[Table]:
        if not lowered.endswith(suffix) or len(lowered) == len(suffix):
            return []
        return [t for t in self._candidates(lowered[: -len(suffix)], lschema) if t.path(VARIANTS[suffix])]

    def _candidates(self, lowered: str, schema: str) -> list[Table]:
        tables = self._by_name.get(lowered, [])
        if schema:
            tables = [t for t in tables if t.schema.lower() == schema.lower()]
        return tables

    def _suggestion_names(self) -> dict[str, list[str]]:
        """Every name a table can be written as (lower case) → how to show it, and in which schema."""
        names: dict[str, list[str]] = {}
        for t in self.catalog.tables:
            names.setdefault(t.name.lower(), []).append(f"{t.schema}.{t.name}")
            if t.path("bulk"):
                names.setdefault(f"{t.name.lower()}bulk", []).append(f"{t.schema}.{t.name}Bulk")
            if t.path("sync") and t.full_name != "sync/Deleted":
                names.setdefault(f"{t.name.lower()}incremental", []).append(
                    f"Incremental.{t.name}Incremental"
                )
        for lowered, shown in DICTIONARY.items():
            names.setdefault(lowered, []).append(shown)
        return names

    def _suggest(self, lowered: str, lschema: str) -> str:
        pool = self._suggestions
        if lschema == "incremental":
            pool = {n: s for n, s in pool.items() if n.endswith("incremental")}
            if not lowered.endswith("incremental"):
                lowered += "incremental"
        elif lschema:
            pool = {n: [x for x in s if x.lower().startswith(lschema + ".")] for n, s in pool.items()}
            pool = {n: s for n, s in pool.items() if s}
        close = difflib.get_close_matches(lowered, list(pool), n=5, cutoff=0.6)
        if close:
            shown = [s for c in close for s in pool[c]]
            return f"Did you mean {', '.join(shown)}? `select * from systemtables@eol` lists them all."
        return "`select * from systemtables@eol` lists the tables."

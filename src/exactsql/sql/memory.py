"""Tables of ``create table NAME@inmemorystorage as select …``: they live as long as their engine (one
``exactsql query`` run, or one DB-API connection) and are read like dictionary tables, without API calls.

A table keeps the rows its query returned, as Arrow in DuckDB's types (amounts stay exact decimals).
Statements over it are checked before they run with its columns described as Exact's types (whole
numbers, doubles, text, booleans, timestamps; anything else as text).
"""

from __future__ import annotations

import itertools
import re
import weakref
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from exactsql.catalog import Column
from exactsql.sql.dialect import SQLError

ALIAS = "inmemorystorage"
_KEY = re.compile(rf"^(?P<name>.+)@{ALIAS}#(?P<storage>\d+)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$#]*$")
_storages: weakref.WeakValueDictionary[int, InMemoryStorage] = weakref.WeakValueDictionary()
_ids = itertools.count(1)


def _edm(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "Edm.Boolean"
    if pa.types.is_integer(t):
        return "Edm.Int32" if pa.types.is_signed_integer(t) and t.bit_width <= 32 else "Edm.Int64"
    if pa.types.is_decimal(t) and t.scale == 0 and t.precision <= 18:
        return "Edm.Int64"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "Edm.Double"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "Edm.DateTime"
    return "Edm.String"


def describe(table: pa.Table) -> list[Column]:
    """The columns of ``table`` as Exact's types, for checking statements over it before they run."""
    return [Column(f.name, _edm(f.type)) for f in table.schema]


@dataclass
class _Stored:
    name: str  # as written first
    table: pa.Table
    columns: list[Column]


class InMemoryStorage:
    """The in-memory tables of one engine, by lower-case name: those created, and those a statement about
    to run will create (declared with their columns, so that later statements can be checked first)."""

    def __init__(self) -> None:
        self.id = next(_ids)
        self._tables: dict[str, _Stored] = {}
        self._declared: dict[str, _Stored] = {}
        _storages[self.id] = self

    def key(self, name: str) -> str:
        """The dictionary name the planner and the engine know the table ``name`` by."""
        return f"{name.lower()}@{ALIAS}#{self.id}"

    def names(self) -> list[str]:
        """The tables there are, as first written."""
        return sorted(s.name for s in self._tables.values())

    def find(self, name: str) -> _Stored | None:
        """The table called ``name`` (case-insensitive), created or declared; or None."""
        return self._tables.get(name.lower()) or self._declared.get(name.lower())

    def declare(self, name: str, empty: pa.Table, replace: bool) -> None:
        """Notes that ``name`` will hold rows like ``empty``; SQLError when it cannot be created."""
        self._created(name, empty, replace)
        self._declared[name.lower()] = _Stored(name, empty, describe(empty))

    def create(self, name: str, table: pa.Table, replace: bool) -> int:
        """Stores ``table`` as ``name``; returns its row count. SQLError when it exists and not ``replace``."""
        self._created(name, table, replace)
        self._tables[name.lower()] = _Stored(name, table, describe(table))
        self._declared.pop(name.lower(), None)
        return table.num_rows

    def _created(self, name: str, table: pa.Table, replace: bool) -> None:
        if not _NAME.match(name):
            raise SQLError(f"{name!r} is not a name for an in-memory table.", "Use letters, digits and _.")
        if name.lower() in self._tables and not replace:
            raise SQLError(
                f"The table {name}@{ALIAS} already exists.",
                f"Write `create or replace table {name}@{ALIAS}`.",
            )
        names = [n.lower() for n in table.column_names]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise SQLError(
                f"The query for {name}@{ALIAS} returns the column name(s) {', '.join(doubled)} more than once.",
                "Give each column a name of its own with `as`.",
            )

    def check_insert(self, name: str, count: int, into: list[str] | None) -> list[Column]:
        """The columns ``count`` values go into; SQLError when the table or a column is missing."""
        stored = self.check_exists(name)
        targets = [c.name for c in stored.columns] if into is None else into
        if count != len(targets):
            raise SQLError(
                f"The query returns {count} column(s); {name}@{ALIAS} takes {len(targets)} here.",
                "Select one value per column, or name the columns: insert into t@inmemorystorage (a, b) select …",
            )
        by_name = {c.name.lower(): c for c in stored.columns}
        unknown = [t for t in targets if t.lower() not in by_name]
        if unknown:
            raise SQLError(f"{name}@{ALIAS} has no column {unknown[0]!r}.", f"It has {', '.join(by_name)}.")
        return [by_name[t.lower()] for t in targets]

    def insert(self, name: str, table: pa.Table, into: list[str] | None) -> int:
        """Appends the rows of ``table`` to ``name`` (positionally, or into the columns ``into``)."""
        targets = self.check_insert(name, table.num_columns, into)
        stored = self._tables.get(name.lower())
        if stored is None:
            raise SQLError(f"The table {name}@{ALIAS} was not created: a statement before failed.")
        given = {c.name.lower(): table.column(i) for i, c in enumerate(targets)}
        arrays = []
        for field in stored.table.schema:
            values = given.get(field.name.lower())
            if values is None:
                arrays.append(pa.chunked_array([pa.nulls(table.num_rows, field.type)]))
                continue
            try:
                arrays.append(pc.cast(values, field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SQLError(f"The values for {field.name} do not fit {name}@{ALIAS}: {exc}.") from None
        added = pa.table(arrays, schema=stored.table.schema)
        stored.table = pa.concat_tables([stored.table, added])
        return added.num_rows

    def drop(self, name: str, if_exists: bool) -> bool:
        """Forgets ``name``; whether it existed. SQLError when it does not and not ``if_exists``."""
        self._declared.pop(name.lower(), None)
        if name.lower() not in self._tables:
            if not if_exists:
                self.check_exists(name)
            return False
        del self._tables[name.lower()]
        return True

    def check_exists(self, name: str) -> _Stored:
        """The table ``name``; SQLError when there is none."""
        stored = self.find(name)
        if stored is None:
            there = ", ".join(f"{n}@{ALIAS}" for n in self.names()) or "none yet"
            raise SQLError(
                f"There is no table {name}@{ALIAS}.",
                f"Create it first with `create table {name}@{ALIAS} as select …` (there are: {there}).",
            )
        return stored

    def rows(self, name: str) -> pa.Table:
        """The rows of ``name``; SQLError when it was declared but its ``create`` did not run."""
        stored = self._tables.get(name.lower())
        if stored is None:
            raise SQLError(f"The table {name}@{ALIAS} was not created: a statement before failed.")
        return stored.table


def _storage(key: str) -> tuple[InMemoryStorage, str]:
    match = _KEY.match(key)
    storage = _storages.get(int(match.group("storage"))) if match else None
    if storage is None or match is None:
        raise KeyError(key)
    return storage, match.group("name")


def is_key(name: str) -> bool:
    """Whether a dictionary name is that of an in-memory table."""
    return _KEY.match(name) is not None


def columns(key: str) -> list[Column]:
    """The columns of the in-memory table with dictionary name ``key``; KeyError when gone."""
    storage, name = _storage(key)
    stored = storage.find(name)
    if stored is None:
        raise KeyError(key)
    return stored.columns


def rows(key: str) -> pa.Table:
    """The rows of the in-memory table with dictionary name ``key``."""
    storage, name = _storage(key)
    return storage.rows(name)

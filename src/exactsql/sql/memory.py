"""Tables a script creates: ``create table NAME@ALIAS as select …``, ``insert into NAME@ALIAS …``, ``drop``.

A storage keeps them under one alias: ``inmemorystorage`` (``InMemoryStorage``: they live as long as their
engine — one ``exactsql query`` run, or one DB-API connection — as Arrow in DuckDB's types, amounts exact
decimals), or a replica named in the config (``exactsql.replicate.saved_tables``: they stay). Either is read
like a dictionary table, without API calls. Statements over a table are checked before they run with its
columns described as Exact's types (whole numbers, doubles, text, booleans, timestamps; else text).
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
_KEY = re.compile(r"^(?P<name>.+)@(?P<alias>[^@#]+)#(?P<storage>\d+)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$#]*$")
_storages: weakref.WeakValueDictionary[int, TableStorage] = weakref.WeakValueDictionary()
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


def edm(t: pa.DataType) -> str:
    """The Exact type a column of Arrow type ``t`` is described as."""
    return _edm(t)


@dataclass
class Stored:
    """A table of a storage: its name as first written, its Arrow schema and its columns as Exact's types."""

    name: str
    schema: pa.Schema
    columns: list[Column]

    @classmethod
    def of(cls, name: str, table: pa.Table | pa.Schema) -> Stored:
        """The description of ``table`` kept as ``name``."""
        schema = table if isinstance(table, pa.Schema) else table.schema
        return cls(name, schema, [Column(f.name, edm(f.type)) for f in schema])


class TableStorage:
    """The tables a script keeps under one alias, by lower-case name: those there are, and those a statement
    about to run will create (declared with their columns, so that later statements can be checked first).

    The checks live here; where the rows live is up to a subclass (``_get``, ``_names``, ``_put``, ``_add``,
    ``_delete``, ``_read``)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.id = next(_ids)
        self._declared: dict[str, Stored] = {}
        _storages[self.id] = self

    # -- where the rows live ----------------------------------------------------------------------------

    def _get(self, name: str) -> Stored | None:
        raise NotImplementedError

    def _names(self) -> list[str]:
        raise NotImplementedError

    def _put(self, name: str, table: pa.Table) -> None:
        """Stores ``table`` as ``name``, replacing a table of that name."""
        raise NotImplementedError

    def _add(self, stored: Stored, added: pa.Table) -> None:
        raise NotImplementedError

    def _delete(self, stored: Stored) -> None:
        raise NotImplementedError

    def _read(self, stored: Stored) -> pa.Table:
        raise NotImplementedError

    def close(self) -> None:
        """Releases what the storage holds open."""

    # -- the tables -------------------------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The dictionary name the planner and the engine know the table ``name`` by."""
        return f"{name.lower()}@{self.alias}#{self.id}"

    def names(self) -> list[str]:
        """The tables there are, as first written."""
        return sorted(self._names())

    def find(self, name: str) -> Stored | None:
        """The table called ``name`` (case-insensitive), created or declared; or None."""
        return self._get(name) or self._declared.get(name.lower())

    def declare(self, name: str, empty: pa.Table, replace: bool) -> None:
        """Notes that ``name`` will hold rows like ``empty``; SQLError when it cannot be created."""
        self._check_create(name, empty, replace)
        self._declared[name.lower()] = Stored.of(name, empty)

    def create(self, name: str, table: pa.Table, replace: bool) -> int:
        """Stores ``table`` as ``name``; returns its row count. SQLError when it exists and not ``replace``."""
        self._check_create(name, table, replace)
        self._put(name, table)
        self._declared.pop(name.lower(), None)
        return table.num_rows

    def _check_create(self, name: str, table: pa.Table, replace: bool) -> None:
        if not _NAME.match(name):
            raise SQLError(
                f"{name!r} is not a name for a table of {self.alias}.", "Use letters, digits and _."
            )
        if self._get(name) is not None and not replace:
            raise SQLError(
                f"The table {name}@{self.alias} already exists.",
                f"Write `create or replace table {name}@{self.alias}`.",
            )
        names = [n.lower() for n in table.column_names]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise SQLError(
                f"The query for {name}@{self.alias} returns the column name(s) {', '.join(doubled)} more than "
                "once.",
                "Give each column a name of its own with `as`.",
            )

    def check_insert(self, name: str, count: int, into: list[str] | None) -> list[Column]:
        """The columns ``count`` values go into; SQLError when the table or a column is missing."""
        stored = self.check_exists(name)
        targets = [c.name for c in stored.columns] if into is None else into
        if count != len(targets):
            raise SQLError(
                f"The query returns {count} column(s); {name}@{self.alias} takes {len(targets)} here.",
                f"Select one value per column, or name the columns: insert into t@{self.alias} (a, b) select …",
            )
        by_name = {c.name.lower(): c for c in stored.columns}
        unknown = [t for t in targets if t.lower() not in by_name]
        if unknown:
            raise SQLError(
                f"{name}@{self.alias} has no column {unknown[0]!r}.", f"It has {', '.join(by_name)}."
            )
        return [by_name[t.lower()] for t in targets]

    def insert(self, name: str, table: pa.Table, into: list[str] | None) -> int:
        """Appends the rows of ``table`` to ``name`` (positionally, or into the columns ``into``)."""
        targets = self.check_insert(name, table.num_columns, into)
        stored = self._get(name)
        if stored is None:
            raise SQLError(f"The table {name}@{self.alias} was not created: a statement before failed.")
        given = {c.name.lower(): table.column(i) for i, c in enumerate(targets)}
        arrays = []
        for field in stored.schema:
            values = given.get(field.name.lower())
            if values is None:
                arrays.append(pa.chunked_array([pa.nulls(table.num_rows, field.type)]))
                continue
            try:
                arrays.append(pc.cast(values, field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SQLError(
                    f"The values for {field.name} do not fit {name}@{self.alias}: {exc}."
                ) from None
        added = pa.table(arrays, schema=stored.schema)
        self._add(stored, added)
        return added.num_rows

    def drop(self, name: str, if_exists: bool) -> bool:
        """Forgets ``name``; whether it existed. SQLError when it does not and not ``if_exists``."""
        self._declared.pop(name.lower(), None)
        stored = self._get(name)
        if stored is None:
            if not if_exists:
                self.check_exists(name)
            return False
        self._delete(stored)
        return True

    def check_exists(self, name: str) -> Stored:
        """The table ``name``; SQLError when there is none."""
        stored = self.find(name)
        if stored is None:
            there = ", ".join(f"{n}@{self.alias}" for n in self.names()) or "none yet"
            raise SQLError(
                f"There is no table {name}@{self.alias}.",
                f"Create it first with `create table {name}@{self.alias} as select …` (there are: {there}).",
            )
        return stored

    def rows(self, name: str) -> pa.Table:
        """The rows of ``name``; SQLError when it was declared but its ``create`` did not run."""
        stored = self._get(name)
        if stored is None:
            raise SQLError(f"The table {name}@{self.alias} was not created: a statement before failed.")
        return self._read(stored)


class InMemoryStorage(TableStorage):
    """Tables that live as long as their engine, as Arrow."""

    def __init__(self) -> None:
        super().__init__(ALIAS)
        self._tables: dict[str, tuple[Stored, pa.Table]] = {}

    def _get(self, name: str) -> Stored | None:
        found = self._tables.get(name.lower())
        return found[0] if found else None

    def _names(self) -> list[str]:
        return [s.name for s, _ in self._tables.values()]

    def _put(self, name: str, table: pa.Table) -> None:
        self._tables[name.lower()] = (Stored.of(name, table), table)

    def _add(self, stored: Stored, added: pa.Table) -> None:
        _, table = self._tables[stored.name.lower()]
        self._tables[stored.name.lower()] = (stored, pa.concat_tables([table, added]))

    def _delete(self, stored: Stored) -> None:
        del self._tables[stored.name.lower()]

    def _read(self, stored: Stored) -> pa.Table:
        return self._tables[stored.name.lower()][1]


def _storage(key: str) -> tuple[TableStorage, str]:
    match = _KEY.match(key)
    storage = _storages.get(int(match.group("storage"))) if match else None
    if storage is None or match is None:
        raise KeyError(key)
    return storage, match.group("name")


def is_key(name: str) -> bool:
    """Whether a dictionary name is that of a script's table (in memory or in a replica)."""
    return _KEY.match(name) is not None


def columns(key: str) -> list[Column]:
    """The columns of the script's table with dictionary name ``key``; KeyError when gone."""
    storage, name = _storage(key)
    stored = storage.find(name)
    if stored is None:
        raise KeyError(key)
    return stored.columns


def rows(key: str) -> pa.Table:
    """The rows of the script's table with dictionary name ``key``."""
    storage, name = _storage(key)
    return storage.rows(name)

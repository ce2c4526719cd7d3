"""SQLite target (``sqlite:///file.db``): one file, WAL, one writer at a time.

Types: integers INTEGER, numbers REAL, booleans 0/1 (declared BOOLEAN), dates as ISO text
``YYYY-MM-DD HH:MM:SS.fff`` (declared TIMESTAMP: SQLite's date functions read them).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from exactsql.catalog import Column
from exactsql.replicate.generations import marker
from exactsql.replicate.plan import TableSpec
from exactsql.replicate.targets.base import Target, TargetConnection, arrow_for


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///`` (or ``duckdb:///``) URL: ``sqlite:///a.db`` relative, ``sqlite:////a.db`` absolute."""
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    if not rest:
        raise ValueError(f"{url!r} names no file; use e.g. sqlite:///replica.db or sqlite:////abs/replica.db")
    return rest.split("?", 1)[0]


def python_rows(batch: pa.Table, dates_as_text: bool) -> list[tuple]:
    """The rows of an Arrow table as tuples (dates as ISO text when asked)."""
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type) and dates_as_text:
            column = pc.cast(column, pa.string())
        columns.append(column.to_pylist())
    return list(zip(*columns, strict=True)) if columns else []


class SQLiteConnection(TargetConnection):
    """A connection to the SQLite file."""

    placeholder = "?"
    same = "IS"
    types: ClassVar[dict[str, str]] = {
        "Edm.String": "TEXT", "Edm.Guid": "TEXT", "Edm.Int16": "INTEGER", "Edm.Int32": "INTEGER",
        "Edm.Int64": "INTEGER", "Edm.Byte": "INTEGER", "Edm.SByte": "INTEGER", "Edm.Double": "REAL",
        "Edm.Single": "REAL", "Edm.Decimal": "REAL", "Edm.Boolean": "BOOLEAN", "Edm.DateTime": "TIMESTAMP",
        "Edm.Binary": "BLOB",
    }  # fmt: skip

    def __init__(self, target: SQLiteTarget) -> None:
        super().__init__(target)
        self.db = sqlite3.connect(target.path, timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=60000")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, list(params))

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.db.execute(sql, list(params)).rowcount)

    def _begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def ts(self, value: dt.datetime) -> Any:
        return value.isoformat(sep=" ", timespec="microseconds")

    def column_types(self, table: str) -> dict[str, str] | None:
        rows = self.db.execute(f"PRAGMA table_info({self.q(table)})").fetchall()
        return {r[1]: r[2] for r in rows} if rows else None

    def tables(self) -> list[str]:
        rows = self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
        return [r[0] for r in rows]

    def table_note(self, table: str) -> str | None:
        rows = self.db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
        ).fetchall()
        return rows[0][0] if rows else None

    def mark_table(self, table: str, generation: str) -> str:
        """SQLite keeps no comments but those in a table's ``CREATE`` statement: a table made before
        generations were kept stays unmarked ("")."""
        return ""

    def create_table(self, table: str, body: str, generation: str) -> None:
        note = f"/* {marker(generation)} */ " if generation else ""
        self.db.execute(f"CREATE TABLE {self.q(table)} ({note}{body})")

    def _upsert(self, name: str, spec: TableSpec, batch: pa.Table) -> None:
        names = spec.column_names
        cols = ", ".join(self.q(c) for c in names)
        keys = {"division", spec.key.lower()}
        updates = ", ".join(f"{self.q(c)} = excluded.{self.q(c)}" for c in names if c.lower() not in keys)
        conflict = f"ON CONFLICT ({self.q('Division')}, {self.q(spec.key)}) DO " + (
            f"UPDATE SET {updates}" if updates else "NOTHING"
        )
        self.db.executemany(
            f"INSERT INTO {self.q(name)} ({cols}) VALUES ({self.p(len(names))}) {conflict}",
            python_rows(batch.select(names), dates_as_text=True),
        )

    def _append(self, table: str, batch: pa.Table) -> None:
        cols = ", ".join(self.q(c) for c in batch.column_names)
        self.db.executemany(
            f"INSERT INTO {self.q(table)} ({cols}) VALUES ({self.p(batch.num_columns)})",
            python_rows(batch, dates_as_text=True),
        )

    def _delete_keys(self, spec: TableSpec, division: int, keys: list, stamps: list[int] | None) -> int:
        table, div, key = self.q(spec.name), self.q("Division"), self.q(spec.key)
        before = self.db.total_changes
        if stamps is None:
            self.db.executemany(
                f"DELETE FROM {table} WHERE {div} = ? AND {key} = ?", [(division, k) for k in keys]
            )
        else:
            ts = self.q("Timestamp")
            self.db.executemany(
                f"DELETE FROM {table} WHERE {div} = ? AND {key} = ? AND ({ts} IS NULL OR {ts} <= ?)",
                [(division, k, s) for k, s in zip(keys, stamps, strict=True)],
            )
        return self.db.total_changes - before

    def read(self, table: str, columns: Sequence[Column], divisions: Sequence[int] | None = None) -> pa.Table:
        cols = ", ".join(self.q(c.name) for c in columns)
        sql = f"SELECT {cols} FROM {self.q(table)}"
        params: list[Any] = []
        if divisions is not None:
            sql += f" WHERE {self.q('Division')} IN ({self.p(len(divisions))})"
            params = list(divisions)
        rows = self.db.execute(sql, params).fetchall()
        data: list = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        return pa.table({c.name: arrow_for(list(v), c.edm) for c, v in zip(columns, data, strict=True)})

    def close(self) -> None:
        self.db.close()


class SQLiteTarget(Target):
    """A SQLite file."""

    dialect = "sqlite"
    connection_class = SQLiteConnection

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = sqlite_path(url)
        Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)

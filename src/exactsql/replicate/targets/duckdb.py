"""DuckDB target (``duckdb:///file.duckdb``): one process at a time (DuckDB locks the file), native types,
Arrow pages inserted as they are."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from exactsql.api.convert import schema_for
from exactsql.catalog import Column
from exactsql.replicate.plan import TableSpec
from exactsql.replicate.targets.base import Target, TargetConnection
from exactsql.replicate.targets.sqlite import sqlite_path

_names = itertools.count()


class DuckDBConnection(TargetConnection):
    """A cursor on the target's database (connections of one process share it)."""

    placeholder = "?"
    types: ClassVar[dict[str, str]] = {
        "Edm.String": "VARCHAR", "Edm.Guid": "VARCHAR", "Edm.Int16": "SMALLINT", "Edm.Int32": "INTEGER",
        "Edm.Int64": "BIGINT", "Edm.Byte": "SMALLINT", "Edm.SByte": "SMALLINT", "Edm.Double": "DOUBLE",
        "Edm.Single": "DOUBLE", "Edm.Decimal": "DOUBLE", "Edm.Boolean": "BOOLEAN", "Edm.DateTime": "TIMESTAMP",
        "Edm.Binary": "BLOB",
    }  # fmt: skip

    def __init__(self, target: DuckDBTarget) -> None:
        super().__init__(target)
        self.con = target.database().cursor()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.con.execute(sql, list(params))

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        rows = self.con.execute(sql, list(params)).fetchall()
        return int(rows[0][0]) if rows else 0

    def column_types(self, table: str) -> dict[str, str] | None:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = 'main' ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return {r[0]: r[1] for r in rows} if rows else None

    def tables(self) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def table_note(self, table: str) -> str | None:
        rows = self.con.execute(
            "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ?",
            [table],
        ).fetchall()
        return rows[0][0] if rows else None

    def _with_view(self, table: pa.Table) -> str:
        name = f"exactsql_batch_{next(_names)}"
        self.con.register(name, table)
        return name

    def _upsert(self, name: str, spec: TableSpec, batch: pa.Table) -> None:
        cols = ", ".join(self.q(c) for c in spec.column_names)
        view = self._with_view(batch.select(spec.column_names))
        try:
            self.con.execute(f"INSERT OR REPLACE INTO {self.q(name)} ({cols}) SELECT {cols} FROM {view}")
        finally:
            self.con.unregister(view)

    def _append(self, table: str, batch: pa.Table) -> None:
        cols = ", ".join(self.q(c) for c in batch.column_names)
        view = self._with_view(batch)
        try:
            self.con.execute(f"INSERT INTO {self.q(table)} ({cols}) SELECT {cols} FROM {view}")
        finally:
            self.con.unregister(view)

    def _delete_keys(self, spec: TableSpec, division: int, keys: list, stamps: list[int] | None) -> int:
        table, div, key = self.q(spec.name), self.q("Division"), self.q(spec.key)
        batch = pa.table(
            {"k": keys, "ts": pa.array(stamps if stamps is not None else [None] * len(keys), pa.int64())}
        )
        view = self._with_view(batch)
        newer = (
            ""
            if stamps is None
            else f" AND (t.{self.q('Timestamp')} IS NULL OR t.{self.q('Timestamp')} <= d.ts)"
        )
        try:
            return self.execute_count(
                f"DELETE FROM {table} t USING {view} d WHERE t.{div} = ? AND t.{key} = d.k{newer}", [division]
            )
        finally:
            self.con.unregister(view)

    def read(self, table: str, columns: Sequence[Column], divisions: Sequence[int] | None = None) -> pa.Table:
        cols = ", ".join(self.q(c.name) for c in columns)
        sql = f"SELECT {cols} FROM {self.q(table)}"
        if divisions is not None:
            sql += f" WHERE {self.q('Division')} IN ({', '.join(str(int(d)) for d in divisions)})"
        result = self.con.sql(sql).to_arrow_table()
        return result.cast(schema_for(list(columns)))

    def close(self) -> None:
        self.con.close()


class DuckDBTarget(Target):
    """A DuckDB file."""

    dialect = "duckdb"
    connection_class = DuckDBConnection

    def __init__(self, url: str, read_only: bool = False) -> None:
        super().__init__(url)
        self.path = sqlite_path(url)
        self.read_only = read_only
        self._db: duckdb.DuckDBPyConnection | None = None

    def database(self) -> duckdb.DuckDBPyConnection:
        """The process's connection to the file (opened once)."""
        if self._db is None:
            if not self.read_only:
                Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._db = duckdb.connect(self.path, read_only=self.read_only)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

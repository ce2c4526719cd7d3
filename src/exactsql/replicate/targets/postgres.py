"""PostgreSQL target (``postgresql://…``): shared by any number of processes and machines; pages arrive by
COPY into a temporary table and are upserted from it; ``--worker`` processes claim work with
``FOR UPDATE SKIP LOCKED``."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from exactsql.catalog import Column
from exactsql.replicate.plan import TableSpec
from exactsql.replicate.targets.base import CURSORS, CursorRow, Target, TargetConnection, arrow_for
from exactsql.replicate.targets.sqlite import python_rows

_names = itertools.count()
DDL_LOCK = 0x65786163  # "exac": one advisory lock for every schema change of exactsql's tables


def csv_bytes(batch: pa.Table) -> bytes:
    """The rows of ``batch`` as CSV for ``COPY … (FORMAT csv)``, written by Arrow in bulk: text quoted (an
    empty text stays empty), nulls unquoted empty (NULL), timestamps ``YYYY-MM-DD HH:MM:SS.fff``, doubles
    in their shortest exact form. Binary columns (never read: null) go as nulls."""
    columns = [
        pa.nulls(batch.num_rows, pa.string()) if pa.types.is_binary(c.type) else c for c in batch.columns
    ]
    out = io.BytesIO()
    pacsv.write_csv(
        pa.table(columns, names=batch.column_names), out, pacsv.WriteOptions(include_header=False)
    )
    return out.getvalue()


class PostgresConnection(TargetConnection):
    """A psycopg connection in autocommit mode; transactions are explicit."""

    placeholder = "%s"
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    types: ClassVar[dict[str, str]] = {
        "Edm.String": "text", "Edm.Guid": "text", "Edm.Int16": "smallint", "Edm.Int32": "integer",
        "Edm.Int64": "bigint", "Edm.Byte": "smallint", "Edm.SByte": "smallint", "Edm.Double": "double precision",
        "Edm.Single": "double precision", "Edm.Decimal": "double precision", "Edm.Boolean": "boolean",
        "Edm.DateTime": "timestamp", "Edm.Binary": "bytea",
    }  # fmt: skip

    def __init__(self, target: PostgresTarget) -> None:
        super().__init__(target)
        self.db = psycopg.connect(
            target.url,
            autocommit=True,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, list(params))

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.db.execute(sql, list(params)).rowcount)

    def now(self) -> float:
        row = self.db.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
        assert row is not None
        return float(row[0])

    def ddl_lock(self) -> None:
        self.db.execute("SELECT pg_advisory_xact_lock(%s)", [DDL_LOCK])

    def column_types(self, table: str) -> dict[str, str] | None:
        rows = self.db.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return {r[0]: r[1] for r in rows} if rows else None

    def tables(self) -> list[str]:
        rows = self.db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def table_note(self, table: str) -> str | None:
        row = self.db.execute(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = %s",
            [table],
        ).fetchone()
        return row[0] if row else None

    def _upsert(self, name: str, spec: TableSpec, batch: pa.Table) -> None:
        names = spec.column_names
        cols = ", ".join(self.q(c) for c in names)
        incoming = f"exactsql_in_{next(_names)}"
        with self.transaction():
            self.db.execute(
                f"CREATE TEMP TABLE {incoming} ON COMMIT DROP AS SELECT {cols} FROM {self.q(name)} WITH NO DATA"
            )
            with self.db.cursor().copy(f"COPY {incoming} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(csv_bytes(batch.select(names)))
            keys = {"division", spec.key.lower()}
            updates = ", ".join(f"{self.q(c)} = EXCLUDED.{self.q(c)}" for c in names if c.lower() not in keys)
            action = f"UPDATE SET {updates}" if updates else "NOTHING"
            self.db.execute(
                f"INSERT INTO {self.q(name)} ({cols}) SELECT {cols} FROM {incoming} "
                f"ON CONFLICT ({self.q('Division')}, {self.q(spec.key)}) DO {action}"
            )
            self.db.execute(f"DROP TABLE {incoming}")

    def _append(self, table: str, batch: pa.Table) -> None:
        cols = ", ".join(self.q(c) for c in batch.column_names)
        with self.db.cursor().copy(f"COPY {self.q(table)} ({cols}) FROM STDIN") as copy:
            for row in python_rows(batch, dates_as_text=False):
                copy.write_row(row)

    def _delete_keys(self, spec: TableSpec, division: int, keys: list, stamps: list[int] | None) -> int:
        table, div, key = self.q(spec.name), self.q("Division"), self.q(spec.key)
        key_type = self.sql_type(spec.edm(spec.key))
        if stamps is None:
            return self.execute_count(
                f"DELETE FROM {table} t USING unnest(%s::{key_type}[]) AS d(k) WHERE t.{div} = %s AND t.{key} = d.k",
                [keys, division],
            )
        ts = self.q("Timestamp")
        return self.execute_count(
            f"DELETE FROM {table} t USING unnest(%s::{key_type}[], %s::bigint[]) AS d(k, ts) "
            f"WHERE t.{div} = %s AND t.{key} = d.k AND (t.{ts} IS NULL OR t.{ts} <= d.ts)",
            [keys, stamps, division],
        )

    def read(self, table: str, columns: Sequence[Column], divisions: Sequence[int] | None = None) -> pa.Table:
        cols = ", ".join(self.q(c.name) for c in columns)
        sql = f"SELECT {cols} FROM {self.q(table)}"
        params: list[Any] = []
        if divisions is not None:
            sql += f" WHERE {self.q('Division')} = ANY(%s::bigint[])"
            params = [list(divisions)]
        rows = self.db.execute(sql, params).fetchall()
        data: list = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        return pa.table({c.name: arrow_for(list(v), c.edm) for c, v in zip(columns, data, strict=True)})

    def claim_next(
        self,
        tables: Sequence[str],
        divisions: Sequence[int],
        due_before: float,
        owner: str,
        ttl: float,
        busy: set[int],
        stealable: Callable[[str], bool],
    ) -> tuple[CursorRow | None, int, list[CursorRow]]:
        """The next free due item, taken with ``FOR UPDATE SKIP LOCKED`` (other workers skip the row while
        this transaction decides); items of dead processes on this host go through the generic path."""
        with self.transaction():
            now = self.now()
            row = self.db.execute(
                f"SELECT table_name, division FROM {CURSORS} WHERE table_name = ANY(%s::text[]) AND division = ANY(%s::bigint[]) "
                "AND (done_at IS NULL OR done_at < %s) AND (owner IS NULL OR lease_until < %s) "
                "AND NOT (division = ANY(%s::bigint[])) "
                "ORDER BY CASE WHEN table_name = 'sync/Deleted' THEN 0 ELSE 1 END, division, table_name "
                "LIMIT 1 FOR UPDATE SKIP LOCKED",
                [list(tables), list(divisions), due_before, now, list(busy)],
            ).fetchone()
            if row is not None:
                self.db.execute(
                    f"UPDATE {CURSORS} SET owner = %s, lease_until = %s WHERE table_name = %s AND division = %s",
                    [owner, now + ttl, row[0], row[1]],
                )
        if row is not None:
            claimed = self.cursor(row[0], row[1])
            return claimed, 0, []
        return super().claim_next(tables, divisions, due_before, owner, ttl, busy, stealable)

    def close(self) -> None:
        self.db.close()


class PostgresTarget(Target):
    """A PostgreSQL database (the tables go to the connection's current schema)."""

    dialect = "postgresql"
    connection_class = PostgresConnection
    shared = True

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.write_lock = _NoLock()


class _NoLock:
    """PostgreSQL serialises what needs it; threads need no lock of their own."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

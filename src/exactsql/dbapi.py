"""DB-API 2.0 over the SQL engine: ``exactsql.connect()``, cursors, ``fetch*``, ``description``; plus Arrow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from exactsql.errors import ExactSQLError

apilevel = "2.0"
threadsafety = 1
paramstyle = "qmark"


class Error(Exception):
    """DB-API base error."""


class DatabaseError(Error):
    """An error from the statement or from Exact Online."""


class ProgrammingError(DatabaseError):
    """A statement that cannot run as written."""


class Cursor:
    """Runs statements and fetches the rows of the last one."""

    arraysize = 100

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._table: pa.Table | None = None
        self._rows: list[tuple] = []
        self._pos = 0
        self.rowcount = -1

    @property
    def description(self) -> list[tuple] | None:
        """(name, type_code, None, None, None, None, None) per column of the last result."""
        if self._table is None:
            return None
        return [(f.name, str(f.type), None, None, None, None, None) for f in self._table.schema]

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Cursor:
        """Runs ``sql`` (several statements allowed; the last result is kept)."""
        if parameters:
            raise ProgrammingError("Parameters are not supported yet; put literals in the SQL.")
        try:
            results = self.connection.engine.run(sql, self.connection.max_calls)
        except ExactSQLError as exc:
            raise ProgrammingError(str(exc)) from exc
        last = results[-1]
        self._table = last.table
        self._rows = [tuple(r.values()) for r in last.table.to_pylist()] if last.table is not None else []
        self._pos = 0
        self.rowcount = len(self._rows)
        return self

    def fetchone(self) -> tuple | None:
        """The next row, or None."""
        if self._pos >= len(self._rows):
            return None
        row = self._rows[self._pos]
        self._pos += 1
        return row

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        """Up to ``size`` (default ``arraysize``) more rows."""
        size = size or self.arraysize
        rows = self._rows[self._pos : self._pos + size]
        self._pos += len(rows)
        return rows

    def fetchall(self) -> list[tuple]:
        """All remaining rows."""
        rows = self._rows[self._pos :]
        self._pos = len(self._rows)
        return rows

    def arrow(self) -> pa.Table:
        """The last result as an Arrow table."""
        if self._table is None:
            raise ProgrammingError("No statement has produced rows yet.")
        return self._table

    def df(self) -> Any:
        """The last result as a pandas DataFrame (needs pandas)."""
        try:
            return self.arrow().to_pandas()
        except ImportError:
            raise ProgrammingError("`.df()` needs pandas: pip install pandas.") from None

    def close(self) -> None:
        """Forgets the result."""
        self._table, self._rows = None, []

    def __iter__(self) -> Cursor:
        return self

    def __next__(self) -> tuple:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row


class Connection:
    """A DB-API connection: one SQL engine over one or more Exact Online connections."""

    def __init__(self, engine: Any, max_calls: int | None) -> None:
        self.engine = engine
        self.max_calls = max_calls

    def cursor(self) -> Cursor:
        """A new cursor."""
        return Cursor(self)

    def execute(self, sql: str) -> Cursor:
        """Shortcut: a new cursor that has run ``sql``."""
        return self.cursor().execute(sql)

    def arrow(self, sql: str) -> pa.Table:
        """The result of ``sql`` as Arrow."""
        return self.execute(sql).arrow()

    def df(self, sql: str) -> Any:
        """The result of ``sql`` as a pandas DataFrame."""
        return self.execute(sql).df()

    def commit(self) -> None:
        """Nothing to commit: reads only."""

    def rollback(self) -> None:
        """Nothing to roll back: reads only."""

    def close(self) -> None:
        """Closes the engine's DuckDB connection."""
        self.engine.duck.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    connection: str = "sandbox",
    aliases: Mapping[str, str] | None = None,
    max_calls: int | None = None,
    cache_max_age: float | None = None,
) -> Connection:
    """A DB-API connection running SQL on connection ``connection`` (alias ``eol``).

    Args:
        aliases: more connections by alias, e.g. ``{"prod": "eol-prod"}`` for ``table@prod``.
        max_calls: refuse statements whose plan needs more API calls than this.
        cache_max_age: serve a repeated fetch from memory while it is younger than this (seconds).
    """
    from exactsql.connect import open_session
    from exactsql.sql.engine import Engine

    names = {"eol": connection, **(aliases or {})}
    sessions = {alias: open_session(name) for alias, name in names.items()}
    return Connection(Engine(sessions, cache_max_age=cache_max_age), max_calls)

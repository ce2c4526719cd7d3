"""DB-API 2.0 over the SQL engine: ``exactsql.connect()``, cursors, ``fetch*``, ``description``; plus Arrow.

Parameters: ``:name`` placeholders with a mapping (``paramstyle = "named"``) and ``?`` placeholders with a
sequence (qmark) both work; values become typed literals, never SQL text. ``connect(replica=URL)`` answers
from a replica without any API call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from exactsql.config import MAX_WORKERS
from exactsql.errors import ExactSQLError

if TYPE_CHECKING:
    from exactsql.sql.engine import StatementResult
    from exactsql.sql.params import Params

apilevel = "2.0"
threadsafety = 1
paramstyle = "named"


class Error(Exception):
    """DB-API base error."""


class Warning(Exception):  # the name PEP 249 gives it
    """DB-API warning (never raised)."""


class InterfaceError(Error):
    """A misuse of the DB-API itself (a closed cursor)."""


class DatabaseError(Error):
    """An error from the statement or from Exact Online."""


class ProgrammingError(DatabaseError):
    """A statement that cannot run as written."""


class OperationalError(DatabaseError):
    """Exact Online or the replica could not answer."""


class NotSupportedError(DatabaseError):
    """Something exactsql does not do (transactions: it only reads)."""


class Runner(Protocol):
    """What a connection runs statements on: the engine, or a replica."""

    def run(self, sql: str, max_calls: int | None, params: Params) -> list[StatementResult]: ...

    def close(self) -> None: ...


def rows_of(table: pa.Table) -> list[tuple]:
    """The rows of ``table`` as tuples, every column kept (same-named ones too)."""
    columns = [column.to_pylist() for column in table.columns]
    if not columns:
        return [() for _ in range(table.num_rows)]
    return list(zip(*columns, strict=True))


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

    def execute(self, sql: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> Cursor:
        """Runs ``sql`` (several statements allowed; the last result is kept) with ``parameters``: a mapping
        for ``:name`` placeholders or a sequence for ``?`` placeholders."""
        try:
            results = self.connection.runner.run(sql, self.connection.max_calls, parameters)
        except ExactSQLError as exc:
            raise ProgrammingError(str(exc)) from exc
        last = results[-1]
        self._table = last.table
        self._rows = rows_of(last.table) if last.table is not None else []
        self._pos = 0
        self.rowcount = len(self._rows)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Mapping[str, Any] | Sequence[Any]]) -> Cursor:
        """Runs ``sql`` once per set of parameters; the last result is kept."""
        for parameters in seq_of_parameters:
            self.execute(sql, parameters)
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

    def setinputsizes(self, sizes: object) -> None:
        """Nothing to prepare."""

    def setoutputsize(self, size: object, column: object = None) -> None:
        """Nothing to prepare."""

    def arrow(self) -> pa.Table:
        """The last result as an Arrow table."""
        if self._table is None:
            raise ProgrammingError("No statement has produced rows yet.")
        return self._table

    def df(self) -> Any:
        """The last result as a pandas DataFrame (needs the ``pandas`` extra: pip install 'exactsql[pandas]')."""
        try:
            return self.arrow().to_pandas()
        except ImportError:
            raise ProgrammingError("`.df()` needs pandas: pip install 'exactsql[pandas]'.") from None

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
    """A DB-API connection: one SQL engine over one or more Exact Online connections, or over a replica."""

    def __init__(self, runner: Runner, max_calls: int | None) -> None:
        self.runner = runner
        self.max_calls = max_calls

    @property
    def engine(self) -> Any:
        """The engine statements run on (an ``Engine``, or the replica's)."""
        return getattr(self.runner, "engine", self.runner)

    def cursor(self) -> Cursor:
        """A new cursor."""
        return Cursor(self)

    def execute(self, sql: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> Cursor:
        """Shortcut: a new cursor that has run ``sql``."""
        return self.cursor().execute(sql, parameters)

    def arrow(self, sql: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> pa.Table:
        """The result of ``sql`` as Arrow."""
        return self.execute(sql, parameters).arrow()

    def df(self, sql: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> Any:
        """The result of ``sql`` as a pandas DataFrame."""
        return self.execute(sql, parameters).df()

    def commit(self) -> None:
        """Sends what an open transaction holds (``begin transaction``, inserts ``identified by`` / ``attach
        to``), as the statement ``commit`` does; other writes were sent by their own statement."""
        if self._in_transaction():
            self.execute("commit")

    def rollback(self) -> None:
        """Drops what an open transaction holds (nothing of it was sent)."""
        if self._in_transaction():
            self.execute("rollback")

    def _in_transaction(self) -> bool:
        writes = getattr(self.engine, "writes", None)
        return writes is not None and (writes.transaction.explicit or writes.transaction.held())

    def close(self) -> None:
        """Releases the engine (or the replica)."""
        self.runner.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Live:
    """Statements on Exact Online through the engine."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def run(self, sql: str, max_calls: int | None, params: Params) -> list[StatementResult]:
        return list(self.engine.run(sql, max_calls, params))

    def close(self) -> None:
        self.engine.close()


class ReplicaRunner:
    """Statements on a replica (``exactsql query --replica``, ``connect(replica=…)``): no API call; its
    DuckDB connection has no file or network access beyond the replica itself."""

    def __init__(self, url: str, file_access: bool = False) -> None:
        from exactsql.replicate.query import ReplicaEngine
        from exactsql.sql import types

        self.engine = ReplicaEngine(url)
        self.file_access = file_access
        if not file_access:
            try:
                types.lock(self.engine.duck)
            except BaseException:
                self.engine.close()
                raise

    def run(self, sql: str, max_calls: int | None = None, params: Params = None) -> list[StatementResult]:
        """Runs every statement of ``sql`` with ``params`` bound (see ``exactsql.sql.params``)."""
        from exactsql.sql import reach
        from exactsql.sql.dialect import UseStatement, parse_script
        from exactsql.sql.engine import StatementResult, check_text
        from exactsql.sql.params import bind

        check_text(sql)
        statements = bind(parse_script(sql), params).statements
        for statement in statements:
            tree = statement.query if isinstance(statement, UseStatement) else statement
            if tree is not None:
                reach.check(tree, self.file_access)
        if params is None:
            return list(self.engine.run(sql))
        self.engine._source = sql  # the replica engine runs parsed statements as its run() does
        return [
            StatementResult("use", None, message=self.engine._use(s))
            if isinstance(s, UseStatement)
            else self.engine._query(s)
            for s in statements
        ]

    def close(self) -> None:
        self.engine.close()


def connect(
    connection: str = "sandbox",
    aliases: Mapping[str, str] | None = None,
    max_calls: int | None = None,
    cache_max_age: float | None = None,
    replica: str | None = None,
    file_access: bool = False,
    send_valid_rows: bool = False,
    workers: int | None = None,
    divisions_max_age: float | None = None,
) -> Connection:
    """A DB-API connection running SQL on connection ``connection`` (alias ``eol``), or on a replica.

    Args:
        aliases: more connections by alias, e.g. ``{"prod": "eol-prod"}`` for ``table@prod``.
        max_calls: the most API calls one ``execute`` may make; it stops before the next one.
        cache_max_age: serve a repeated fetch from memory while it is younger than this (seconds).
        replica: a replica's URL (``sqlite:///books.db``, ``duckdb:///…``, ``postgresql://…``): statements are
            answered from it, with no API call.
        file_access: let statements read local files and URLs (DuckDB's ``read_csv`` …); off by default.
        send_valid_rows: writes send the valid rows of a batch that has invalid ones (by default, nothing).
        workers: divisions read at once by a query over several (default: the connection's ``workers``, 8).
        divisions_max_age: seconds the division list and ``current/Me`` kept in the state store are used
            (default: the connection's ``divisions_max_age``, 3600; 0 reads them again).
    """
    if replica is not None:
        return Connection(ReplicaRunner(replica, file_access), None)
    from exactsql.config import Config
    from exactsql.connect import attach_replicas, open_session
    from exactsql.sql.engine import Engine

    config = Config.load()
    names = {"eol": connection, **(aliases or {})}
    sessions = {alias: open_session(name, config) for alias, name in names.items()}
    if workers is not None and not (isinstance(workers, int) and 1 <= workers <= MAX_WORKERS):
        raise ProgrammingError(f"workers must be a whole number from 1 to {MAX_WORKERS}, not {workers!r}.")
    engine = Engine(
        sessions,
        cache_max_age=cache_max_age,
        file_access=file_access,
        workers=workers,
        divisions_max_age=divisions_max_age,
    )
    attach_replicas(engine, config)
    engine.writes.send_valid_rows = send_valid_rows
    return Connection(_Live(engine), max_calls)

"""One client's session: its settings and transaction state, prepared statements and portals, and the
statements it runs (in a worker thread) with a timeout, call caps and cancellation between pages.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

import pyarrow as pa

from exactsql.errors import (
    ApiError,
    ChainBrokenError,
    ConfigError,
    ErrorBudgetError,
    ExactSQLError,
    LoginError,
    NetworkError,
    RateLimitError,
    ReplicaError,
    StoreError,
    TokenBudgetError,
)
from exactsql.serve import statements as st
from exactsql.serve.backend import CallCapError, SessionEngine, Shared
from exactsql.serve.catalog import DICTIONARY_SCHEMA, Introspection
from exactsql.serve.pgtypes import PgType, arrow_type
from exactsql.serve.rewrite import SERVER_VERSION, Context, output_names, rewrite

#: Settings a session starts with (``SHOW`` answers them; ``SET`` changes them for the session).
DEFAULT_SETTINGS = {
    "server_version": SERVER_VERSION,
    "server_version_num": "160000",
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "datestyle": "ISO, MDY",
    "intervalstyle": "postgres",
    "timezone": "Europe/Amsterdam",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "search_path": '"$user", public',
    "transaction_isolation": "read committed",
    "default_transaction_isolation": "read committed",
    "transaction_read_only": "on",
    "default_transaction_read_only": "on",
    "statement_timeout": "0",
    "lc_collate": "C.UTF-8",
    "lc_ctype": "C.UTF-8",
    "lc_messages": "C",
    "lc_monetary": "C",
    "lc_numeric": "C",
    "max_identifier_length": "63",
    "max_index_keys": "32",
    "extra_float_digits": "1",
    "application_name": "",
    "is_superuser": "off",
    "in_hot_standby": "off",
    "bytea_output": "hex",
    "block_size": "8192",
    "max_connections": "100",
}
#: Settings whose change a client is told of (ParameterStatus), as PostgreSQL does.
REPORTED = {
    "application_name": "application_name",
    "client_encoding": "client_encoding",
    "datestyle": "DateStyle",
    "intervalstyle": "IntervalStyle",
    "timezone": "TimeZone",
    "standard_conforming_strings": "standard_conforming_strings",
    "is_superuser": "is_superuser",
    "server_version": "server_version",
    "server_encoding": "server_encoding",
    "integer_datetimes": "integer_datetimes",
    "in_hot_standby": "in_hot_standby",
    "default_transaction_read_only": "default_transaction_read_only",
}
#: SQLSTATEs of exactsql's errors.
SQLSTATES: list[tuple[type[Exception], str]] = [
    (CallCapError, "54000"),
    (ErrorBudgetError, "53400"),
    (RateLimitError, "53400"),
    (TokenBudgetError, "53400"),
    (ChainBrokenError, "28000"),
    (LoginError, "28000"),
    (ConfigError, "F0000"),
    (NetworkError, "58030"),
    (ApiError, "58000"),
    (StoreError, "58000"),
    (ReplicaError, "58000"),
]
_DICTIONARY_PREFIX = re.compile(
    rf"""(?:"{DICTIONARY_SCHEMA}"|\b{DICTIONARY_SCHEMA})\s*\.\s*(?=("?)(?:systemtables|systemtablecolumns|"""
    r"""systemdivisions|sessionios|ratelimits)\1)""",
    re.IGNORECASE,
)


class QueryCanceled(ExactSQLError):
    """The statement was canceled: by the client or by the statement timeout."""

    sqlstate = "57014"


class SessionError(ExactSQLError):
    """An error with its SQLSTATE."""

    def __init__(self, message: str, sqlstate: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.sqlstate = sqlstate


def sqlstate_of(exc: BaseException) -> str:
    """The SQLSTATE a client sees for an error."""
    code = getattr(exc, "sqlstate", None)
    if isinstance(code, str):
        return code
    for kind, state in SQLSTATES:
        if isinstance(exc, kind):
            return state
    message = str(exc)
    if message.startswith("Unknown table"):
        return "42P01"
    if message.startswith("Syntax error") or message.startswith("Cannot read the SQL"):
        return "42601"
    if "--max-calls" in message:
        return "54000"
    if isinstance(exc, ExactSQLError):
        return "42000"
    return "XX000"


@dataclass
class Result:
    """The outcome of one statement: rows (an Arrow table) or a command tag; settings to report."""

    tag: str
    table: pa.Table | None = None
    reported: dict[str, str] = field(default_factory=dict)


@dataclass
class Prepared:
    """A prepared statement (the unnamed one too)."""

    sql: str
    param_types: list[int]
    statement: st.Statement


@dataclass
class Portal:
    """A bound statement; its result once run, and how far it was sent."""

    prepared: Prepared
    values: list[object]
    result_formats: list[int]
    result: Result | None = None
    sent: int = 0


class ServerLimits:
    """Per-session limits: the statement timeout (seconds, 0 for none) and the session's call cap."""

    def __init__(self, statement_timeout: float, session_max_calls: int | None) -> None:
        self.statement_timeout = statement_timeout
        self.session_max_calls = session_max_calls


class ClientSession:
    """A client's session on the server."""

    def __init__(
        self,
        user: str,
        database: str,
        startup: dict[str, str],
        introspection: Introspection,
        shared: Shared | None,
        replica: str | None,
        limits: ServerLimits,
    ) -> None:
        self.user = user
        self.database = database
        self.pid = secrets.randbelow(2**31 - 1) + 1
        self.secret = secrets.token_bytes(4)
        self.settings = dict(DEFAULT_SETTINGS)
        for name, value in startup.items():
            if name.lower() not in ("user", "database", "options", "replication"):
                self.settings[name.lower()] = value
        self.introspection = introspection
        self.shared = shared
        self.replica = replica
        self.limits = limits
        self.transaction = "I"
        self.prepared: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self._engine: SessionEngine | None = None
        self._cancel = threading.Event()
        self._cancel_reason = ""
        self._deadline: float | None = None
        self._seen_calls = 0
        self.calls = 0

    # -- the engine, and stopping it -------------------------------------------------------------------

    @property
    def engine(self) -> SessionEngine:
        if self._engine is None:
            self._engine = SessionEngine(self.shared, self.replica, self._on_page, self._on_wait)
        return self._engine

    def cancel(self, reason: str = "user request") -> None:
        """Stops the running statement at its next page (and interrupts DuckDB)."""
        self._cancel_reason = reason
        self._cancel.set()
        if self._engine is not None:
            self._engine.duck.interrupt()

    def _check(self) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline and not self._cancel.is_set():
            self._cancel_reason = "statement timeout"
            self._cancel.set()
        if self._cancel.is_set():
            raise QueryCanceled(f"canceling statement due to {self._cancel_reason}")
        self._count_calls()

    def _count_calls(self) -> None:
        if self._engine is None:
            return
        now = self._engine.calls()
        delta, self._seen_calls = now - self._seen_calls, now
        if delta <= 0:
            return
        self.calls += delta
        if self.shared is not None:
            self.shared.budget.add(delta)
        cap = self.limits.session_max_calls
        if cap is not None and self.calls > cap:
            raise CallCapError(
                f"This session's call cap of {cap} API calls is reached.",
                "Open a new session, or ask for a higher --session-max-calls.",
            )

    def _on_page(self, endpoint: str, division: int | None, rows: int, expected: int | None) -> None:
        self._check()

    def _on_wait(self, seconds: float, what: str) -> None:
        self._check()

    def _remaining_calls(self) -> int | None:
        left = [c for c in (self.shared.budget.remaining() if self.shared else None,) if c is not None]
        if self.limits.session_max_calls is not None:
            left.append(max(0, self.limits.session_max_calls - self.calls))
        return min(left) if left else None

    def timeout(self) -> float:
        """The statement timeout in seconds (the session's ``statement_timeout`` or the server's)."""
        own = _milliseconds(self.settings.get("statement_timeout", "0")) / 1000
        limits = [t for t in (own, self.limits.statement_timeout) if t > 0]
        return min(limits) if limits else 0.0

    # -- statements ---------------------------------------------------------------------------------------

    def prepare(self, name: str, sql: str, param_types: list[int]) -> Prepared:
        """Parses a statement for the extended protocol."""
        from exactsql.sql.dialect import split_statements

        if len(split_statements(sql)) > 1:
            raise SessionError("cannot insert multiple commands into a prepared statement", "42601")
        statement = st.classify(sql)
        count = st.count_parameters(sql)
        types = list(param_types) + [0] * max(0, count - len(param_types))
        prepared = Prepared(sql, types, statement)
        self.prepared[name] = prepared
        return prepared

    def run(self, statement: st.Statement, values: list[object] | None = None) -> Result:
        """Runs one statement (in a worker thread): within the timeout, the call caps and the transaction."""
        self._cancel.clear()
        timeout = self.timeout()
        self._deadline = time.monotonic() + timeout if timeout else None
        if self.transaction == "E" and not (
            statement.kind == "session" and statement.keyword in ("rollback", "abort", "commit", "end")
        ):
            raise SessionError(
                "current transaction is aborted, commands ignored until end of transaction block", "25P02"
            )
        try:
            self._check()
            result = self._run(statement, values or [])
            self._check()
            return result
        except BaseException:
            if self.transaction == "T":
                self.transaction = "E"
            raise
        finally:
            self._deadline = None
            if self._engine is not None:
                self._count_calls_quietly()

    def _count_calls_quietly(self) -> None:
        with contextlib.suppress(CallCapError):
            self._count_calls()

    def _run(self, statement: st.Statement, values: list[object]) -> Result:
        if statement.kind == "empty":
            return Result("")
        if statement.kind == "session":
            return self._session_command(statement)
        sql = st.bind(statement.text, values)
        if statement.kind == "catalog":
            tree = st.classify(sql).tree if values else statement.tree
            assert tree is not None
            return Result("SELECT", self.introspection.query(rewrite(tree, self.context())))
        sql = _DICTIONARY_PREFIX.sub("", sql)
        results = self.engine.run(sql, self._remaining_calls())
        last = results[-1]
        if last.table is None:
            return Result("SET")
        return Result("SELECT", _pg_names(statement, last.table))

    def describe(self, prepared: Prepared) -> pa.Schema | None:
        """The columns a prepared statement returns, without running it (parameters as NULL)."""
        statement = prepared.statement
        if statement.kind in ("empty", "session"):
            if statement.keyword == "show":
                return pa.schema([(st.parse_show(statement.text) or "setting", pa.string())])
            return None
        values: list[object] = [None] * len(prepared.param_types)
        sql = st.bind(statement.text, values)
        if statement.kind == "catalog":
            tree = st.classify(sql).tree
            assert tree is not None
            return self.introspection.query(rewrite(tree, self.context())).schema
        schema = self.engine.describe(_DICTIONARY_PREFIX.sub("", sql))
        return _pg_names(statement, schema.empty_table()).schema if schema is not None else None

    def context(self) -> Context:
        """What catalog queries may ask about this session."""
        return Context(self.user, self.database, self.pid, self.settings, version_string())

    def _session_command(self, statement: st.Statement) -> Result:
        keyword = statement.keyword
        if keyword in ("begin", "start"):
            self.transaction = "T"
            return Result("BEGIN")
        if keyword in ("commit", "end", "rollback", "abort"):
            failed = self.transaction == "E"
            self.transaction = "I"
            return Result("ROLLBACK" if failed or keyword in ("rollback", "abort") else "COMMIT")
        if keyword == "set":
            found = st.parse_set(statement.text)
            if found is None:
                return Result("SET")
            name, value = found
            self.settings[name] = value or DEFAULT_SETTINGS.get(name, "")
            reported = {REPORTED[name]: self.settings[name]} if name in REPORTED else {}
            return Result("SET", reported=reported)
        if keyword == "reset":
            name = st.strip_comments(statement.text).split()[-1].rstrip(";").lower()
            if name == "all":
                self.settings.update(DEFAULT_SETTINGS)
            elif name in DEFAULT_SETTINGS:
                self.settings[name] = DEFAULT_SETTINGS[name]
            return Result("RESET")
        if keyword == "show":
            name = st.parse_show(statement.text) or ""
            if name == "all":
                rows = sorted(self.settings.items())
                table = pa.table({"name": [r[0] for r in rows], "setting": [r[1] for r in rows]})
                return Result("SHOW", table)
            if name not in self.settings:
                raise SessionError(f'unrecognized configuration parameter "{name}"', "42704")
            return Result("SHOW", pa.table({name: [self.settings[name]]}))
        if keyword == "deallocate":
            name = st.strip_comments(statement.text).split()[-1].rstrip(";").strip('"')
            if name.lower() == "all":
                self.prepared.clear()
            else:
                self.prepared.pop(name, None)
            return Result("DEALLOCATE")
        if keyword == "discard":
            self.prepared.clear()
            self.portals.clear()
            return Result("DISCARD ALL")
        return Result(st.SESSION_COMMANDS[keyword])

    def close(self) -> None:
        """Ends the session: stops what runs and releases its engine."""
        self.cancel("session end")
        if self._engine is not None:
            self._engine.close()


def _pg_names(statement: st.Statement, table: pa.Table) -> pa.Table:
    """The result with its columns named as PostgreSQL names them (``select code`` gives ``code``)."""
    names = output_names(statement.tree) if statement.tree is not None else None
    if names is None or len(names) != table.num_columns:
        return table
    return table.rename_columns(names)


def version_string() -> str:
    """What ``version()`` answers."""
    from importlib.metadata import version

    return f"PostgreSQL {SERVER_VERSION} (exactsql {version('exactsql')}, Exact Online over the PostgreSQL protocol)"


def _milliseconds(value: str) -> float:
    """A duration setting (``5s``, ``200ms``, ``1min``, ``3000``) in milliseconds."""
    found = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$", value or "0")
    if not found:
        return 0.0
    scale = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}.get(found.group(2) or "ms", 1)
    return float(found.group(1)) * scale


def column_types(schema: pa.Schema) -> list[PgType]:
    """The PostgreSQL type of each column of a result."""
    return [arrow_type(f.type) for f in schema]

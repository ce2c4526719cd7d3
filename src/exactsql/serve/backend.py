"""What every session of a server shares: the connection's sessions (one token chain, one set of budgets),
fetches made once for all sessions while fresh, the server's call cap; and each session's engine over them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

import duckdb
import pyarrow as pa

from exactsql.api.session import Session
from exactsql.errors import ExactSQLError
from exactsql.sql import dictionary
from exactsql.sql.dialect import UseStatement, parse_script, to_duckdb
from exactsql.sql.engine import Engine, StatementResult


class CallCapError(ExactSQLError):
    """A call cap of the server or of a session is reached."""


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file, network or extension through this DuckDB connection, and no setting that reopens them."""
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_external_access = false")
    with contextlib.suppress(duckdb.Error):
        con.execute("SET lock_configuration = true")
    if con.execute("SELECT current_setting('enable_external_access')").fetchall() != [(False,)]:
        raise ExactSQLError("Cannot lock down the SQL engine's file and network access.")


class SharedFetches:
    """Fetches shared by every session: one in flight per key, served again while younger than ``max_age``."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._done: dict[tuple, tuple[float, pa.Table]] = {}
        self._running: dict[tuple, Future[pa.Table]] = {}
        self.made = 0
        self.shared = 0

    def get(self, key: tuple, fetch: Callable[[], pa.Table]) -> tuple[pa.Table, bool]:
        """The table for ``key`` and whether it came from another fetch (made, or waited for)."""
        with self._lock:
            now = time.monotonic()
            for old in [k for k, (at, _) in self._done.items() if now - at > self.max_age]:
                del self._done[old]
            if key in self._done:
                self.shared += 1
                return self._done[key][1], True
            running = self._running.get(key)
            if running is None:
                mine: Future[pa.Table] = Future()
                self._running[key] = mine
        if running is not None:
            table = running.result()
            with self._lock:
                self.shared += 1
            return table, True
        try:
            table = fetch()
        except BaseException as exc:
            with self._lock:
                del self._running[key]
            mine.set_exception(exc)
            raise
        with self._lock:
            del self._running[key]
            self.made += 1
            if self.max_age > 0:
                self._done[key] = (time.monotonic(), table)
        mine.set_result(table)
        return table, False


class CallBudget:
    """The server's API calls per UTC day, refused beyond ``limit`` (None: no cap of its own)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._day = dt.datetime.now(dt.UTC).date()
        self.used = 0

    def _roll(self) -> None:
        today = dt.datetime.now(dt.UTC).date()
        if today != self._day:
            self._day, self.used = today, 0

    def remaining(self) -> int | None:
        """Calls left today (None: no cap)."""
        with self._lock:
            self._roll()
            return None if self.limit is None else max(0, self.limit - self.used)

    def add(self, calls: int) -> None:
        """Counts calls made; CallCapError once the day's cap is passed."""
        with self._lock:
            self._roll()
            self.used += calls
            if self.limit is not None and self.used > self.limit:
                raise CallCapError(
                    f"The server's call cap of {self.limit} API calls a day is reached.",
                    "Try again tomorrow, or restart the server with a higher --max-calls.",
                )


class Shared:
    """State shared by the sessions of one server running live on Exact Online."""

    def __init__(self, sessions: Mapping[str, Session], cache_max_age: float, max_calls: int | None) -> None:
        self.sessions = dict(sessions)
        self.fetches = SharedFetches(cache_max_age)
        self.budget = CallBudget(max_calls)
        self._divisions: dict[str, int] = {}
        self._lock = threading.Lock()

    def current_division(self, alias: str, ask: Callable[[str], int]) -> int:
        """The user's current division, asked once for all sessions."""
        with self._lock:
            if alias not in self._divisions:
                self._divisions[alias] = ask(alias)
            return self._divisions[alias]


class ServeEngine(Engine):
    """The engine of one session: its fetches shared with the other sessions."""

    def __init__(self, shared: Shared, **kwargs: Any) -> None:
        super().__init__(shared.sessions, shared_fetches=shared.fetches, **kwargs)
        self.shared = shared
        lock_down(self.duck)

    def current_division(self, alias: str) -> int:
        """The user's current division (asked once for the whole server)."""
        return self.shared.current_division(alias, super().current_division)

    def calls(self) -> int:
        """API calls this engine's clients made."""
        return sum(c.calls for c in self.clients.values())

    def describe(self, sql: str) -> pa.Schema | None:
        """The columns the last statement of ``sql`` returns, from its plan over empty tables (no fetch)."""
        last = parse_script(sql)[-1]
        if isinstance(last, UseStatement):
            return None
        plan = self.plan(last)
        probe = duckdb.connect()
        try:
            lock_down(probe)
            dictionary.install_macros(probe)
            for spec in plan.fetches:
                probe.register(spec.name, self._empty(spec, every_column=True))
            return probe.sql(to_duckdb(plan.tree)).to_arrow_table().schema
        finally:
            probe.close()


class SessionEngine:
    """The engine a session runs statements on: live (a ServeEngine) or over a replica (no API call)."""

    def __init__(
        self,
        shared: Shared | None,
        replica: str | None,
        on_page: Callable[[str, int | None, int, int | None], None],
        on_wait: Callable[[float, str], None],
    ) -> None:
        self.live: ServeEngine | None = None
        self.replica: Any = None
        if replica is not None:
            from exactsql.replicate.query import ReplicaEngine

            self.replica = ReplicaEngine(replica)
            lock_down(self.replica.duck)
        else:
            assert shared is not None
            self.live = ServeEngine(shared, on_wait=on_wait, on_page=on_page)

    @property
    def duck(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection statements run on (to interrupt it)."""
        return self.live.duck if self.live is not None else self.replica.duck

    def run(self, sql: str, max_calls: int | None) -> list[StatementResult]:
        """Runs ``sql``; the plan is refused when it needs more than ``max_calls`` calls."""
        if self.live is not None:
            return self.live.run(sql, max_calls)
        return list(self.replica.run(sql))

    def describe(self, sql: str) -> pa.Schema | None:
        """The result columns of the last statement of ``sql``, without reading Exact Online."""
        if self.live is not None:
            return self.live.describe(sql)
        text = sql.strip().rstrip(";")
        if isinstance(parse_script(text)[-1], UseStatement):
            return None
        last = self.replica.run(f"select * from ({text}) as exactsql_describe limit 0")[-1]
        return last.table.schema if last.table is not None else None

    def calls(self) -> int:
        """API calls made so far (always 0 over a replica)."""
        return self.live.calls() if self.live is not None else 0

    def close(self) -> None:
        """Releases the engine's DuckDB connection and replica."""
        with contextlib.suppress(Exception):
            if self.live is not None:
                self.live.duck.close()
            else:
                self.replica.close()

"""The PostgreSQL state store: shared by processes on many machines.

``exactsql_kv(key text primary key, value bytea)`` (created if missing, in the first schema of the search
path). ``update`` inserts missing rows (``ON CONFLICT DO NOTHING``) so that every key has a row to lock, then
``SELECT … ORDER BY key FOR UPDATE`` (a fixed lock order, so several ``update_many`` calls cannot deadlock
each other), applies the function and writes, all in one transaction. Locks are session-level advisory locks
on a connection checked out for the time they are held: the server releases them when that connection
drops, so a killed holder frees its locks at once (a vanished machine, once TCP keepalives give up).
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from exactsql.state.base import StoreBase
from exactsql.state.pool import ConnectionPool
from exactsql.state.protocol import LockTimeout, check_new_values, lock_digest, redact_url

T = TypeVar("T")

TABLE = "exactsql_kv"
MAX_RETRIES = 50
# The server notices a vanished client (a machine gone, a cable cut) after idle + interval * count seconds,
# and frees the advisory locks that client held.
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


def lock_key(name: str) -> int:
    """The advisory lock key of ``name``: a stable signed 64-bit hash (blake2b), the same on every machine."""
    return int.from_bytes(lock_digest("exactsql:" + name), "big", signed=True)


def _connect(url: str, kwargs: dict[str, Any]) -> psycopg.Connection[Any]:
    """A new connection to ``url`` that keeps its TCP connection alive."""
    conn = psycopg.connect(url, **kwargs)
    for setting, value in KEEPALIVE_SETTINGS.items():
        with contextlib.suppress(psycopg.Error):  # e.g. a server without the setting
            conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
    return conn


def _alive(conn: psycopg.Connection[Any]) -> bool:
    return not conn.closed and not conn.broken


def _reusable(conn: psycopg.Connection[Any]) -> bool:
    return _alive(conn) and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


class PostgresStore(StoreBase):
    """A ``StateStore`` in a PostgreSQL table (many processes on many machines; many threads)."""

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        self.url = url
        params = conninfo_to_dict(url)  # a ProgrammingError for a malformed URL
        self._connect_kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params:
            self._connect_kwargs["connect_timeout"] = connect_timeout
        # A small pool of autocommit connections, one checked out per operation or held lock; the parent's
        # connections share its sockets, so a forked child never uses or closes them.
        self._pool = ConnectionPool(
            functools.partial(_connect, url, self._connect_kwargs),
            label=redact_url(url),
            reusable=_reusable,
            usable=_alive,
        )
        self._ensure_table()

    def _ensure_table(self) -> None:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
            if row and row[0]:
                return
            with conn.transaction():
                # Serialise concurrent first runs: CREATE TABLE IF NOT EXISTS alone can still collide.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("\0create-table"),))
                conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key text PRIMARY KEY, value bytea)")

    # -- the protocol

    def get(self, key: str) -> bytes | None:
        with self._pool.connection() as conn:
            row = conn.execute(f"SELECT value FROM {TABLE} WHERE key = %s", (key,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def _update_many(
        self, keys: list[str], fn: Callable[[list[bytes | None]], tuple[list[bytes | None], T]]
    ) -> T:
        ordered = sorted(keys)
        for attempt in range(MAX_RETRIES):
            try:
                with self._pool.connection() as conn, conn.transaction():
                    conn.execute(
                        f"INSERT INTO {TABLE} (key) SELECT k FROM unnest(%s::text[]) AS k ORDER BY k "
                        "ON CONFLICT (key) DO NOTHING",
                        (ordered,),
                    )
                    rows = conn.execute(
                        f"SELECT key, value FROM {TABLE} WHERE key = ANY(%s) ORDER BY key FOR UPDATE",
                        (ordered,),
                    ).fetchall()
                    current = {k: None if v is None else bytes(v) for k, v in rows}
                    old = [current.get(k) for k in keys]
                    new_values, result = fn(list(old))
                    new = check_new_values(keys, new_values)
                    with conn.cursor() as cur:
                        deleted = [k for k, v in zip(keys, new, strict=True) if v is None]
                        if deleted:
                            cur.execute(f"DELETE FROM {TABLE} WHERE key = ANY(%s)", (deleted,))
                        changed = [
                            (v, k) for k, v, o in zip(keys, new, old, strict=True) if v is not None and v != o
                        ]
                        if changed:
                            cur.executemany(f"UPDATE {TABLE} SET value = %s WHERE key = %s", changed)
                return result
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == MAX_RETRIES - 1:
                    raise
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 30.0) -> Iterator[None]:
        key = lock_key(name)
        conn = self._pool.checkout()
        try:
            if timeout <= 0:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                acquired = bool(row and row[0])
            else:
                # lock_timeout bounds the wait of pg_advisory_lock; 0 would mean "no limit", hence >= 1 ms.
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, false)", (f"{max(1, round(timeout * 1000))}ms",)
                )
                try:
                    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                    acquired = True
                except errors.LockNotAvailable:
                    acquired = False
                conn.execute("SELECT set_config('lock_timeout', '0', false)")
        except BaseException:
            conn.close()
            raise
        if not acquired:
            self._pool.checkin(conn)
            raise LockTimeout(name, timeout, self.url)
        try:
            yield
        finally:
            try:
                row = conn.execute("SELECT pg_advisory_unlock(%s)", (key,)).fetchone()
                released = bool(row and row[0])
            except psycopg.Error:
                released = False
            if released:
                self._pool.checkin(conn)
            else:
                conn.close()  # the server drops whatever this session still holds

    def now(self) -> float:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        assert row is not None
        return float(row[0])

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore({redact_url(self.url)!r})"

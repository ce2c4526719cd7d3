"""The SQLite state store: one file shared by the processes of one host.

``kv(key TEXT PRIMARY KEY, value BLOB)`` in WAL mode; ``update`` runs in ``BEGIN IMMEDIATE`` (the write lock
is taken before reading, so read-modify-write is atomic across processes). Locks are ``flock`` on files in
``<database>.locks/``, which the OS releases when the holder dies. The database, its WAL and SHM files and
the lock files are created owner-only (0600), directories 0700.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from exactsql.errors import StoreError
from exactsql.state.base import StoreBase
from exactsql.state.pool import ConnectionPool
from exactsql.state.protocol import LockTimeout, check_new_values, lock_file_stem, redact_url

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
SCHEME = "sqlite://"


def path_from_url(url: str) -> Path:
    """The database path of ``sqlite:///<path>``: ``sqlite:///state.db`` is relative, ``sqlite:////abs/state.db`` absolute."""
    if not url.startswith(SCHEME + "/"):
        raise ValueError(f"not a SQLite state URL (expected sqlite:///<path>): {url!r}")
    raw = url[len(SCHEME) + 1 :]
    raw = raw.split("?", 1)[0]
    if not raw or raw.endswith("/"):
        raise ValueError(f"SQLite state URL without a file name: {url!r}")
    if raw == ":memory:" or raw.startswith("file:"):
        raise ValueError(f"the state store must be a file shared by processes, not {raw!r}: {url!r}")
    return Path(raw).expanduser()


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700 (existing ones are left alone)."""
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)


def _touch_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


def _connect(path: Path) -> sqlite3.Connection:
    """A new connection to the database at ``path``, in WAL mode."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"cannot put {path} in WAL mode (got {mode!r})")
        # FULL: a committed token rotation must survive a power cut, or the token chain is lost.
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def _store_error(exc: sqlite3.DatabaseError, url: str) -> StoreError:
    """A failure of the database file in use (damaged, disk full, locked too long) as a StoreError."""
    from exactsql.state import sqlite_hint

    return StoreError(f"The state store {redact_url(url)} failed: {exc}.", sqlite_hint(exc))


class SQLiteStore(StoreBase):
    """A ``StateStore`` in one SQLite file (many processes on one host; many threads)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = path_from_url(url).absolute()
        self.lock_dir = self.path.with_name(self.path.name + ".locks")
        _make_private_dirs(self.path.parent)
        _touch_private(self.path)  # SQLite gives its -wal and -shm files the database file's mode
        # A small pool, one connection checked out per operation (so any number of threads); SQLite
        # connections must not cross a fork, which the pool sees to.
        self._pool = ConnectionPool(
            functools.partial(_connect, self.path), label=url, reusable=lambda conn: not conn.in_transaction
        )
        with self._pool.connection() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
            conn.execute("SELECT key, value FROM kv LIMIT 0")  # a table kv of another shape: not ours

    # -- the protocol

    def get(self, key: str) -> bytes | None:
        try:
            with self._pool.connection() as conn:
                row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.url) from None
        return None if row is None else bytes(row[0])

    def _update_many(
        self, keys: list[str], fn: Callable[[list[bytes | None]], tuple[list[bytes | None], T]]
    ) -> T:
        try:
            return self._update_many_in(keys, fn)
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.url) from None

    def _update_many_in(
        self, keys: list[str], fn: Callable[[list[bytes | None]], tuple[list[bytes | None], T]]
    ) -> T:
        with self._pool.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")  # the write lock before reading: no one changes what we read
            try:
                old: list[bytes | None] = []
                for key in keys:
                    row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
                    old.append(None if row is None else bytes(row[0]))
                new_values, result = fn(list(old))
                new = check_new_values(keys, new_values)
                for key, before, after in zip(keys, old, new, strict=True):
                    if after == before:
                        continue
                    if after is None:
                        conn.execute("DELETE FROM kv WHERE key = ?", (key,))
                    else:
                        conn.execute(
                            "INSERT INTO kv (key, value) VALUES (?, ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (key, after),
                        )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return result

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 30.0) -> Iterator[None]:
        self._pool.check_open()
        path = self.lock_dir / (lock_file_stem(name) + ".lock")
        # A fresh open file description per acquisition: flock locks conflict between descriptions, so
        # threads of one process exclude each other too. The file is never deleted (that would race).
        try:
            _make_private_dirs(self.lock_dir)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StoreError(
                f"The lock file {path} of the state store {redact_url(self.url)} cannot be opened: {exc.strerror or exc}.",
                f"{self.lock_dir} must be a directory that this user can write: move away what is there.",
            ) from None
        try:
            deadline = time.monotonic() + timeout
            pause = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise LockTimeout(name, timeout, self.url) from None
                    time.sleep(min(pause, remaining))
                    pause = min(pause * 2, 0.025)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def now(self) -> float:
        return time.time()

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({redact_url(self.url)!r})"

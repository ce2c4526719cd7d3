"""Replica databases behind one small protocol: ``open_target(url)`` for SQLite, DuckDB or PostgreSQL.

``open_target`` checks what it opens: a URL it cannot use is a ConfigError, a file that is a directory, not
a database of the URL's kind, or held by another process, and a server that cannot be reached, a
ReplicaError; each says what to do next and never shows a password. Files exactsql creates are owner-only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from exactsql.errors import ConfigError, ReplicaError, os_error_hint
from exactsql.paths import file_problem
from exactsql.replicate.targets.base import CURSORS, RUNS, CursorRow, LeaseLost, Target, TargetConnection
from exactsql.state.protocol import redact_url

__all__ = [
    "CURSORS",
    "RUNS",
    "CursorRow",
    "LeaseLost",
    "Target",
    "TargetConnection",
    "check_file_url",
    "open_target",
    "replica_failure",
]

SUPPORTED = (
    "Use sqlite:///file.db, duckdb:///file.duckdb or postgresql://user@host/db "
    "(three slashes then a relative path, four for an absolute one)."
)
SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # at offset 8 of a DuckDB file


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].lower().strip() if ":" in url else ""


def check_file_url(url: str, must_exist: bool = False) -> Path:
    """The file of a ``sqlite:///`` or ``duckdb:///`` replica URL, checked before any database opens it.

    ConfigError for a URL without a file (or an in-memory one); ReplicaError for a directory, a path under
    something that is not a directory, a missing file when ``must_exist``, or a file of another kind.
    """
    from exactsql.replicate.targets.sqlite import sqlite_path

    kind = _scheme(url)
    try:
        raw = sqlite_path(url)
    except ValueError as exc:
        raise ConfigError(str(exc), SUPPORTED) from None
    if raw in (":memory:", "") or raw.startswith("file:") or raw.endswith("/"):
        raise ConfigError(f"The replica {url!r} names no file: a replica must be a file.", SUPPORTED)
    path = Path(raw).expanduser()
    problem = file_problem(path)
    if problem is not None:
        raise ReplicaError(
            f"The replica cannot be used: {problem}.", "Give a file name, e.g. sqlite:///books.db."
        )
    if not path.exists():
        if must_exist:
            raise ReplicaError(
                f"There is no replica at {path}.",
                f"Make it first: exactsql replicate --to {url} (or check the path).",
            )
        return path
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ReplicaError(
            f"The replica {path} cannot be read: {exc.strerror or exc}.", os_error_hint(exc)
        ) from None
    if not head:
        return path
    is_sqlite, is_duckdb = head.startswith(SQLITE_MAGIC), head[8:12] == DUCKDB_MAGIC
    if kind == "sqlite" and not is_sqlite:
        other = " It is a DuckDB file: use duckdb:///…" if is_duckdb else ""
        raise ReplicaError(f"The replica {path} is not a SQLite database.{other}", "Give another file name.")
    if kind == "duckdb" and not is_duckdb:
        other = " It is a SQLite file: use sqlite:///…" if is_sqlite else ""
        raise ReplicaError(f"The replica {path} is not a DuckDB database.{other}", "Give another file name.")
    return path


def make_private_dirs(directory: Path) -> None:
    """Creates ``directory`` and its missing parents owner-only (0700); existing ones are left alone."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            each.mkdir(mode=0o700)


def create_private(path: Path) -> None:
    """Creates the empty file ``path`` owner-only (0600), never through a symbolic link, and its missing
    directories (0700), before a database opens it: the database keeps that mode."""
    make_private_dirs(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))


def open_target(url: str, read_only: bool = False) -> Target:
    """The target at ``url``: ``sqlite:///file.db``, ``duckdb:///file.duckdb`` or ``postgresql://…``, opened
    and checked (``read_only``: an existing replica, for queries)."""
    scheme = _scheme(url)
    shown = redact_url(url)
    if scheme not in ("sqlite", "duckdb", "postgresql", "postgres"):
        raise ConfigError(f"Unsupported replica URL {shown!r}.", SUPPORTED)
    try:
        if scheme in ("sqlite", "duckdb"):
            return _open_file(url, scheme, read_only)
        return _open_postgres(url)
    except OSError as exc:
        raise ReplicaError(
            f"The replica {shown} cannot be opened: {exc.strerror or exc}"
            + (f" ({exc.filename})." if exc.filename else "."),
            os_error_hint(exc),
        ) from None


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files and directories created in the block are owner-only (the process's umask, for a moment)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _open_file(url: str, scheme: str, read_only: bool) -> Target:
    path = check_file_url(url, must_exist=read_only)
    if scheme == "sqlite":
        from exactsql.replicate.targets.sqlite import SQLiteTarget

        if not read_only and not path.exists():
            create_private(path)  # SQLite gives its journal and WAL files the database file's mode
        _check_sqlite(path)
        return SQLiteTarget(url)
    import duckdb

    from exactsql.replicate.targets.duckdb import DuckDBTarget

    target = DuckDBTarget(url, read_only=read_only)
    new = not path.exists()
    try:
        if new:  # DuckDB makes the file itself (it refuses an empty one): under an owner-only umask
            make_private_dirs(path.parent)
            with private_umask():
                target.database()
            os.chmod(path, 0o600)
        else:
            target.database()
    except duckdb.Error as exc:
        raise duckdb_error(exc, path) from None
    return target


def duckdb_error(exc: Exception, path: Path) -> ReplicaError:
    """A DuckDB failure to open ``path`` as a ReplicaError: held by another process, or not usable."""
    text = str(exc)
    if "lock" in text.lower():
        return ReplicaError(
            f"The replica {path} is in use by another process (DuckDB lets one process at a time open a file).",
            "Wait for the other run to end (or stop it), or replicate to PostgreSQL to share a replica.",
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return ReplicaError(f"The replica {path} cannot be opened: {first}", "Check the file, or give another.")


def _check_sqlite(path: Path) -> None:
    """ReplicaError when ``path`` cannot be used as a SQLite database (damaged, on a full disk)."""
    try:
        db = sqlite3.connect(path, timeout=10)
        try:
            db.execute("PRAGMA schema_version").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise ReplicaError(
            f"The replica {path} cannot be opened: {exc}.", "Check the file, or give another."
        ) from None


def _open_postgres(url: str) -> Target:
    import psycopg

    from exactsql.replicate.targets.postgres import PostgresTarget

    shown = redact_url(url)
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True):
            pass
    except psycopg.ProgrammingError as exc:
        raise ConfigError(
            f"The replica URL {shown!r} cannot be used: {_first_line(exc)}.", SUPPORTED
        ) from None
    except psycopg.Error as exc:
        raise ReplicaError(
            f"The replica {shown} cannot be reached: {_first_line(exc)}.",
            "Check that the server runs and accepts this user, and the URL.",
        ) from None
    return PostgresTarget(url)


def _first_line(exc: Exception) -> str:
    text = redact_url(str(exc)).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


#: What a database says when it fails for an outside reason: the disk, the file, a lock, the server.
_OUTSIDE = (
    "disk is full", "disk i/o error", "no space left", "could not write", "file too large", "quota",
    "unable to open", "read-only", "readonly", "database is locked", "could not set lock", "conflicting lock",
)  # fmt: skip


def replica_failure(exc: BaseException, url: str) -> ReplicaError | None:
    """A ReplicaError for a replica database that failed for an outside reason (a full disk, a size limit,
    I/O, a lock, a server gone); None for anything else, which is a bug to be seen as one."""
    import duckdb
    import psycopg

    text = str(exc)
    lowered = text.lower()
    outside = isinstance(exc, psycopg.OperationalError) or (
        isinstance(exc, sqlite3.Error | duckdb.Error) and any(word in lowered for word in _OUTSIDE)
    )
    if not outside:
        return None
    first = redact_url(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)
    if any(word in lowered for word in ("disk is full", "no space left", "file too large", "quota", "i/o")):
        hint = (
            "The disk is full (or the file at the size limit of this process, ulimit -f): free some space and "
            "run again; what was committed stays and the next run goes on from there."
        )
    elif "lock" in lowered:
        hint = "Another process holds the replica: wait for it to end, then run again."
    else:
        hint = "Check the replica (the file, or the server and its URL), then run again."
    return ReplicaError(f"The replica {redact_url(url)} failed: {first}", hint)

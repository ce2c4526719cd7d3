"""Shared state for every exactsql process and machine: the OAuth token chain and the rate/error budgets.

``open_store(url)`` opens one of three backends behind the ``StateStore`` protocol:

- ``sqlite:///<path>`` — one file for the processes of one host (``sqlite:///state.db`` is relative to the
  working directory, ``sqlite:////var/lib/exactsql/state.db`` absolute: the path follows ``sqlite:///``);
- ``postgresql://…`` or ``postgres://…`` — any libpq URL;
- ``redis://…`` or ``rediss://…`` — any redis-py URL, plus ``lock_lease=<seconds>`` (default 2);
- ``memory://`` — this process only (the built-in in-process sandbox connection).

A URL that cannot be used raises ``StoreURLError`` (a ValueError too); a store that cannot be opened or
reached, or a file that is not a state store, raises ``StoreError``: both say what to do next and never show
a password.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from exactsql.errors import StoreError, StoreURLError, os_error_hint
from exactsql.paths import file_problem
from exactsql.state.protocol import LockTimeout, StateStore, redact_url

__all__ = ["SCHEMES", "LockTimeout", "StateStore", "open_store"]

SCHEMES = ("sqlite:///", "postgresql://", "postgres://", "redis://", "rediss://", "memory://")
SUPPORTED = (
    "Use sqlite:///<path> (sqlite:////abs/path.db or sqlite:///relative.db), postgresql://… (or postgres://…), "
    "or redis://… (or rediss://…)."
)
#: What to do about a SQLite store's file, by what SQLite said.
_DAMAGED = (
    "It is not an exactsql state store, or it is damaged: point EXACTSQL_STATE elsewhere, or move the file "
    "away (the next login starts a new one)."
)
_FULL = "The disk is full, or the file at the size limit of this process (ulimit -f): free some space."


def open_store(url: str) -> StateStore:
    """The state store at ``url``, opened and checked; StoreURLError or StoreError say what is wrong."""
    if not isinstance(url, str):
        raise TypeError(f"state store URL must be a str, not {type(url).__name__}")
    shown = redact_url(url)
    scheme = url.split(":", 1)[0].lower().strip() if ":" in url else ""
    try:
        return _open(scheme, url)
    except StoreError:
        raise
    except ValueError as exc:
        raise StoreURLError(
            f"The state store URL {shown!r} cannot be used: {redact_url(str(exc))}.", SUPPORTED
        ) from None
    except sqlite3.Error as exc:
        raise StoreError(f"The state store {shown} cannot be opened: {exc}.", sqlite_hint(exc)) from None
    except OSError as exc:
        raise StoreError(
            f"The state store {shown} cannot be opened: {exc.strerror or exc}"
            + (f" ({exc.filename})." if exc.filename else "."),
            os_error_hint(exc),
        ) from None
    except Exception as exc:
        raise _server_error(exc, shown) from None


def _open(scheme: str, url: str) -> StateStore:
    if scheme == "sqlite":
        from exactsql.state.sqlite import SQLiteStore, path_from_url

        _check_file(path_from_url(url), url)
        return SQLiteStore(url)
    if scheme in ("postgresql", "postgres"):
        from exactsql.state.postgres import PostgresStore

        return PostgresStore(url)
    if scheme in ("redis", "rediss"):
        from exactsql.state.redis_store import RedisStore

        store = RedisStore(url)
        try:
            store.now()  # Redis connects on first use: reach it now, so that a wrong URL is named here
        except BaseException:
            store.close()
            raise
        return store
    if scheme == "memory":
        from exactsql.state.memory import MemoryStore

        return MemoryStore(url)
    raise StoreURLError(f"Unsupported state store URL {redact_url(url)!r}.", SUPPORTED)


def sqlite_hint(exc: Exception) -> str:
    """What to do about a SQLite state store that failed with ``exc``."""
    text = str(exc).lower()
    if any(word in text for word in ("disk is full", "i/o error", "too large")):
        return _FULL
    if "locked" in text or "busy" in text:
        return "Another process holds the store too long: find it, or try again."
    return _DAMAGED


def _check_file(path: Path, url: str) -> None:
    """StoreError when the SQLite store's file cannot be one: a directory, or under something not a directory."""
    problem = file_problem(path)
    if problem is not None:
        raise StoreError(
            f"The state store {url} cannot be used: {problem}.", "Give a file name, e.g. sqlite:///state.db."
        )


def _server_error(exc: Exception, shown: str) -> Exception:
    """A StoreError for a PostgreSQL or Redis server that cannot be used; anything else unchanged."""
    import psycopg
    import redis

    if isinstance(exc, psycopg.ProgrammingError):
        return StoreURLError(f"The state store URL {shown!r} cannot be used: {_first_line(exc)}.", SUPPORTED)
    if isinstance(exc, psycopg.Error | redis.RedisError):
        return StoreError(
            f"The state store {shown} cannot be reached: {_first_line(exc)}.",
            "Check that the server runs and accepts this user, and the URL in EXACTSQL_STATE or config.toml.",
        )
    return exc


def _first_line(exc: Exception) -> str:
    text = redact_url(str(exc)).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__

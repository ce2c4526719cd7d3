"""Shared state for every exactsql process and machine: the OAuth token chain and the rate/error budgets.

``open_store(url)`` opens one of three backends behind the ``StateStore`` protocol:

- ``sqlite:///<path>`` — one file for the processes of one host (``sqlite:///state.db`` is relative to the
  working directory, ``sqlite:////var/lib/exactsql/state.db`` absolute: the path follows ``sqlite:///``);
- ``postgresql://…`` or ``postgres://…`` — any libpq URL;
- ``redis://…`` or ``rediss://…`` — any redis-py URL, plus ``lock_lease=<seconds>`` (default 2);
- ``memory://`` — this process only (the built-in in-process sandbox connection).
"""

from __future__ import annotations

from exactsql.state.protocol import LockTimeout, StateStore, redact_url

__all__ = ["SCHEMES", "LockTimeout", "StateStore", "open_store"]

SCHEMES = ("sqlite:///", "postgresql://", "postgres://", "redis://", "rediss://", "memory://")


def open_store(url: str) -> StateStore:
    """The state store at ``url``; a ValueError naming the supported schemes for anything else."""
    if not isinstance(url, str):
        raise TypeError(f"state store URL must be a str, not {type(url).__name__}")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from exactsql.state.sqlite import SQLiteStore

        return SQLiteStore(url)
    if scheme in ("postgresql", "postgres"):
        from exactsql.state.postgres import PostgresStore

        return PostgresStore(url)
    if scheme in ("redis", "rediss"):
        from exactsql.state.redis_store import RedisStore

        return RedisStore(url)
    if scheme == "memory":
        from exactsql.state.memory import MemoryStore

        return MemoryStore(url)
    raise ValueError(
        f"unsupported state store URL {redact_url(url)!r}: use sqlite:///<path> (sqlite:////abs/path.db or "
        "sqlite:///relative.db), postgresql://… (or postgres://…), or redis://… (or rediss://…), or memory:// (this process only)"
    )

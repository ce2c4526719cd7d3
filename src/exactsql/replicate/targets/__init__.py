"""Replica databases behind one small protocol: ``open_target(url)`` for SQLite, DuckDB or PostgreSQL."""

from __future__ import annotations

from exactsql.errors import ConfigError
from exactsql.replicate.targets.base import CURSORS, RUNS, CursorRow, LeaseLost, Target, TargetConnection
from exactsql.state.protocol import redact_url

__all__ = ["CURSORS", "RUNS", "CursorRow", "LeaseLost", "Target", "TargetConnection", "open_target"]


def open_target(url: str, read_only: bool = False) -> Target:
    """The target at ``url``: ``sqlite:///file.db``, ``duckdb:///file.duckdb`` or ``postgresql://…``."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    try:
        if scheme == "sqlite":
            from exactsql.replicate.targets.sqlite import SQLiteTarget

            return SQLiteTarget(url)
        if scheme == "duckdb":
            from exactsql.replicate.targets.duckdb import DuckDBTarget

            return DuckDBTarget(url, read_only=read_only)
        if scheme in ("postgresql", "postgres"):
            from exactsql.replicate.targets.postgres import PostgresTarget

            return PostgresTarget(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    raise ConfigError(
        f"Unsupported replica URL {redact_url(url)!r}.",
        "Use sqlite:///file.db, duckdb:///file.duckdb or postgresql://user@host/db "
        "(three slashes then a relative path, four for an absolute one).",
    )

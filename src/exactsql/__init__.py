"""exactsql: SQL over Exact Online within its API limits, with a faithful local sandbox."""

from __future__ import annotations

__version__ = "0.1.0"


def connect(*args: object, **kwargs: object) -> object:
    """A DB-API 2.0 connection; see :func:`exactsql.dbapi.connect`."""
    from exactsql.dbapi import connect as _connect

    return _connect(*args, **kwargs)  # type: ignore[arg-type]

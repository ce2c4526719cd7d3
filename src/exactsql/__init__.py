"""exactsql: SQL over Exact Online within its API limits, with a faithful local sandbox.

``exactsql.connect()`` opens a DB-API 2.0 connection (see :mod:`exactsql.dbapi`); the module globals of
PEP 249 (``apilevel``, ``paramstyle``, ``threadsafety``, the exception classes) are here too.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# The module ``exactsql.connect`` (sessions) is loaded first, so that loading it later never rebinds the
# name ``connect``: that name is the DB-API function below.
from exactsql import connect as _sessions  # noqa: F401

_DBAPI = (
    "apilevel", "paramstyle", "threadsafety", "Error", "Warning", "InterfaceError", "DatabaseError",
    "ProgrammingError", "OperationalError", "NotSupportedError",
)  # fmt: skip


def connect(*args: Any, **kwargs: Any) -> Any:
    """A DB-API 2.0 connection; see :func:`exactsql.dbapi.connect`."""
    from exactsql.dbapi import connect as _connect

    return _connect(*args, **kwargs)


def __getattr__(name: str) -> Any:
    """The DB-API names, imported on first use."""
    if name in _DBAPI:
        from exactsql import dbapi

        return getattr(dbapi, name)
    raise AttributeError(f"module 'exactsql' has no attribute {name!r}")

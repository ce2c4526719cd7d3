"""The built-in (in-process) sandbox for tests and benchmarks that run many statements: its limits lifted,
its API calls counted, its rows read as the truth."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

from exactsql.api.session import Session
from exactsql.sandbox.core import Sandbox

UNLIMITED = 10**9


@contextlib.contextmanager
def builtin_sandbox(home: Path) -> Iterator[None]:
    """An isolated EXACTSQL_HOME without connections (every command runs on the built-in sandbox), with
    the built-in sandbox's rate limits lifted so that no input waits for a window."""
    from exactsql.config import SANDBOX_NAME, Config
    from exactsql.connect import _builtin, _builtin_lock, _builtin_session

    saved = {k: os.environ.get(k) for k in ("EXACTSQL_HOME", "EXACTSQL_KEYRING", "EXACTSQL_STATE", "COLUMNS")}
    os.environ.update({"EXACTSQL_HOME": str(home), "EXACTSQL_KEYRING": "0", "COLUMNS": "120"})
    os.environ.pop("EXACTSQL_STATE", None)
    with _builtin_lock:
        previous = _builtin.pop("session", None)
    try:
        config = Config.load()
        connection = dataclasses.replace(
            config.connection(SANDBOX_NAME), minutely_limit=UNLIMITED, daily_limit=UNLIMITED
        )
        _builtin_session(connection, config)
        sandbox().settings.update({"minutely_limit": UNLIMITED, "daily_limit": UNLIMITED})
        yield
    finally:
        with _builtin_lock:
            _builtin.pop("session", None)
            if previous is not None:
                _builtin["session"] = previous
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def api_calls() -> int:
    """API calls the built-in sandbox has answered."""
    from exactsql.connect import _builtin

    return int(sandbox().stats.api_calls) if "session" in _builtin else 0


def session() -> Session:
    """The built-in sandbox's session (inside ``builtin_sandbox``)."""
    from exactsql.connect import _builtin

    return _builtin["session"]


def sandbox() -> Sandbox:
    """The built-in sandbox itself (inside ``builtin_sandbox``)."""
    return session().http._transport.sandbox  # type: ignore[attr-defined,no-any-return]

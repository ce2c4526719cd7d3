"""Fixtures of the SQL tests: the shared sandbox server, its control plane, a logged-in engine, the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest

from exactsql.api.session import Session, open_session
from exactsql.sql.engine import Engine
from tests.connections.helpers import make_connection


@pytest.fixture()
def server(sandbox_server: dict) -> dict:
    """The shared sandbox server's info (3 small divisions)."""
    return sandbox_server


@pytest.fixture()
def control(server: dict) -> Iterator[httpx.Client]:
    """The sandbox's control plane, after a reset of all its state."""
    with httpx.Client(base_url=server["base_url"], timeout=30) as http:
        http.post("/_sandbox/reset").raise_for_status()
        yield http


@pytest.fixture()
def session(sqlite_env: dict, server: dict, control: httpx.Client) -> Session:
    """Connection ``eol`` to the sandbox server, logged in, in an isolated home."""
    make_connection(server, "eol")
    logged_in = open_session("eol")
    logged_in.login()
    return logged_in


@pytest.fixture()
def engine(session: Session) -> Engine:
    """A new engine on connection ``eol``: it knows nothing yet (not even the current division)."""
    return Engine({"eol": session})


def api_calls(control: httpx.Client) -> int:
    """The API calls the sandbox has answered since its reset (token calls not included)."""
    return int(control.get("/_sandbox/stats").json()["api_calls"])


@pytest.fixture()
def cli(sqlite_env: dict) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs ``exactsql ARGS…`` in the isolated home; returns the finished process (text output)."""

    def run(
        *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exactsql", *args],
            env={**sqlite_env, "NO_COLOR": "1", **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
        )

    return run


@pytest.fixture()
def logged_in_cli(
    session: Session, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli`` with connection ``eol`` configured and logged in (the default connection of every command)."""
    return cli

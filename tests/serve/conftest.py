"""A sandbox server, a connection ``eol`` to it (logged in, on a SQLite store) and ``exactsql serve`` on it,
started once for the module; users are added with the command line, as a person would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import httpx
import pytest

from exactsql.connect import open_session
from exactsql.sandbox.process import SandboxProcess
from exactsql.serve.process import ServeProcess
from tests.connections.helpers import isolated_env, make_connection
from tests.replicate.helpers import UNLIMITED, lift_limits

USER = "analyst"
PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "examples" / "seed.sql").read_text().strip()


@dataclass
class Served:
    """The sandbox, the environment of exactsql processes on it, and a running server."""

    info: dict
    env: dict[str, str]
    server: ServeProcess
    control: httpx.Client

    def dsn(self, **extra: str) -> str:
        return self.server.dsn(USER, PASSWORD, **extra)

    def calls(self) -> int:
        """API calls the sandbox has answered so far."""
        return int(self.control.get("/_sandbox/stats").json()["api_calls"])


def add_user(env: dict[str, str], name: str = USER, password: str = PASSWORD) -> None:
    """``exactsql serve user add NAME`` with the password on standard input."""
    subprocess.run(
        [sys.executable, "-m", "exactsql", "serve", "user", "add", name],
        input=password + "\n", text=True, env=env, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict]:
    with (
        SandboxProcess("--divisions", "3") as process,
        httpx.Client(base_url=process.info["base_url"]) as http,
    ):
        lift_limits(http)
        yield process.info


@pytest.fixture(scope="module")
def serve_env(sandbox: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An exactsql home with connection ``eol`` to the sandbox, logged in, and the test user."""
    base = tmp_path_factory.mktemp("serve")
    env = isolated_env(base / "home", f"sqlite:///{base / 'state.db'}")
    with mock.patch.dict(os.environ, env):
        make_connection(sandbox, "eol", minutely_limit=UNLIMITED, daily_limit=UNLIMITED)
        session = open_session("eol")
        session.login()
        session.close()
    add_user(env)
    yield env


@pytest.fixture(scope="module")
def served(sandbox: dict, serve_env: dict[str, str]) -> Iterator[Served]:
    """``exactsql serve -c eol`` for the module."""
    with (
        httpx.Client(base_url=sandbox["base_url"], timeout=30) as control,
        ServeProcess("-c", "eol", env=serve_env) as server,
    ):
        yield Served(sandbox, serve_env, server, control)


def truth(control: httpx.Client, divisions: list[int]) -> list[str]:
    """The full names the seed query returns, from the sandbox's own rows."""
    from tests.sql.test_engine import _truth

    return _truth(control, divisions)


def current_division(info: dict) -> int:
    """The division the seed query reads: the logged-in (first) user's current one."""
    return int(info["users"][0]["divisions"][0])

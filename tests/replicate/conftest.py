"""A sandbox server for the replication tests, a logged-in connection to it, and a replica per target."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exactsql.api.session import Session, open_session
from exactsql.sandbox.process import SandboxProcess
from tests.connections.helpers import isolated_env, make_connection
from tests.replicate.helpers import UNLIMITED, lift_limits


@pytest.fixture(scope="session")
def replicate_server() -> Iterator[dict]:
    """A sandbox server of 3 small divisions for the replication tests (reset before each test)."""
    with SandboxProcess("--divisions", "3") as server:
        yield server.info


@pytest.fixture()
def control(replicate_server: dict) -> Iterator[httpx.Client]:
    """The sandbox's control plane, after a reset, with the rate limits lifted and 100-row sync/bulk pages
    (so that the small books take several pages)."""
    with httpx.Client(base_url=replicate_server["base_url"], timeout=60) as client:
        client.post("/_sandbox/reset").raise_for_status()
        lift_limits(client)
        client.post("/_sandbox/settings", json={"bulk_page_size": 100}).raise_for_status()
        yield client


@pytest.fixture()
def session(
    replicate_server: dict, control: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Session]:
    """A connection ``eol`` to the sandbox in an isolated home on a SQLite state store, logged in."""
    env = isolated_env(tmp_path / "home", f"sqlite:///{tmp_path / 'state' / 'state.db'}")
    for name in ("EXACTSQL_HOME", "EXACTSQL_STATE", "EXACTSQL_KEYRING", "EXACTSQL_SECRET_KEY"):
        monkeypatch.setenv(name, env[name])
    make_connection(replicate_server, "eol", minutely_limit=UNLIMITED, daily_limit=UNLIMITED)
    s = open_session("eol")
    s.login()
    yield s
    s.close()


_db_counter = itertools.count(1)


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty replica: a SQLite file, a DuckDB file, or a fresh database on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'replica.db'}"
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'replica.duckdb'}"
    return fresh_postgres(request.getfixturevalue("postgres_url"))


def fresh_postgres(base: str) -> str:
    """A new, empty database on the test PostgreSQL server."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"exactsql_replica_{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(base)._replace(path="/" + name))

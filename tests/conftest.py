"""Shared fixtures: a real sandbox server (a subprocess, as clients meet it) and an HTTP client for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exactsql.sandbox.process import SandboxProcess
from tests.sandbox_client import SandboxClient


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[dict]:
    """``exactsql sandbox`` on a free port, 3 small divisions; yields its info file's contents."""
    with SandboxProcess("--divisions", "3") as server:
        yield server.info


@pytest.fixture()
def eol(sandbox_server: dict) -> Iterator[SandboxClient]:
    """A client of the shared server, after a reset of all sandbox state."""
    with httpx.Client(base_url=sandbox_server["base_url"], timeout=30) as http:
        client = SandboxClient(http, sandbox_server)
        client.control("POST", "reset")
        yield client


def info_path(info: dict) -> Path:
    """The info file of a running sandbox."""
    return Path(info["info_file"])


# --- shared state store (exactsql.state): real PostgreSQL and Redis servers, started once per session ---


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server's superuser URL (``postgres`` database); EXACTSQL_TEST_POSTGRES_URL overrides."""
    from tests.servers import start_postgres

    if os.environ.get("EXACTSQL_TEST_POSTGRES_URL"):
        yield os.environ["EXACTSQL_TEST_POSTGRES_URL"]
        return
    server = start_postgres()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throw-away Redis server's URL (db 0); EXACTSQL_TEST_REDIS_URL overrides."""
    from tests.servers import start_redis

    if os.environ.get("EXACTSQL_TEST_REDIS_URL"):
        yield os.environ["EXACTSQL_TEST_REDIS_URL"]
        return
    server = start_redis()
    try:
        yield server.url
    finally:
        server.stop()


_state_db_counter = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty state store URL per test, for each backend (servers start only when a test needs them)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'state.db'}"  # sqlite:////abs/… (a directory to create)
    if request.param == "postgresql":
        from urllib.parse import urlsplit, urlunsplit

        import psycopg

        base = request.getfixturevalue("postgres_url")
        dbname = f"exactsql_test_{os.getpid()}_{next(_state_db_counter)}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return urlunsplit(urlsplit(base)._replace(path="/" + dbname))
    import redis

    base = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(base)
    try:
        client.flushdb()
    finally:
        client.close()
    return base


@pytest.fixture()
def exactsql_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> dict[str, str]:
    """An isolated EXACTSQL_HOME with a shared key, on each state store backend in turn."""
    from tests.connections.helpers import isolated_env

    env = isolated_env(tmp_path / "home", store_url)
    for name in ("EXACTSQL_HOME", "EXACTSQL_STATE", "EXACTSQL_KEYRING", "EXACTSQL_SECRET_KEY"):
        monkeypatch.setenv(name, env[name])
    return env


@pytest.fixture()
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An isolated EXACTSQL_HOME on the default SQLite store, with a key file (no keyring, no key variable)."""
    home = tmp_path / "home"
    monkeypatch.setenv("EXACTSQL_HOME", str(home))
    monkeypatch.setenv("EXACTSQL_KEYRING", "0")
    monkeypatch.delenv("EXACTSQL_STATE", raising=False)
    monkeypatch.delenv("EXACTSQL_SECRET_KEY", raising=False)
    return {**os.environ}

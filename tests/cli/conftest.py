"""A sandbox server and a home logged in to it, shared by the command-line input tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exactsql.sandbox.process import SandboxProcess
from tests.cli.harness import Ready, base_env

UNLIMITED = 1_000_000


@pytest.fixture(scope="session")
def cli_server() -> Iterator[dict]:
    """``exactsql sandbox`` with 2 divisions and no rate windows (cases must not wait for a minute)."""
    with SandboxProcess("--divisions", "2") as server:
        with httpx.Client(base_url=server.info["base_url"], timeout=30) as http:
            http.post(
                "/_sandbox/settings",
                json={
                    "minutely_limit": UNLIMITED,
                    "daily_limit": UNLIMITED,
                    "token_calls_per_day": UNLIMITED,
                    "error_limit": UNLIMITED,
                },
            ).raise_for_status()
        yield server.info


@pytest.fixture(scope="session")
def ready(cli_server: dict, tmp_path_factory: pytest.TempPathFactory) -> Ready:
    """A home with connection ``eol`` to the server, logged in, on a store shared by every case."""
    root = tmp_path_factory.mktemp("cli-ready")
    home, store = root / "home", root / "store" / "state.db"
    env = {
        **base_env(home),
        "EXACTSQL_STATE": f"sqlite:///{store}",
        "SANDBOX_SECRET": cli_server["client_secret"],
    }

    def run(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "exactsql", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr

    run(
        "connection", "add", "eol",
        "--client-id", cli_server["client_id"],
        "--redirect-uri", cli_server["redirect_uri"],
        "--base-url", cli_server["base_url"],
        "--client-secret-env", "SANDBOX_SECRET",
    )  # fmt: skip
    run("login", "eol")
    secrets = [cli_server["client_secret"], *(u["password"] for u in cli_server["users"])]
    return Ready(home, store, cli_server, tuple(secrets))


@pytest.fixture()
def case_dirs(ready: Ready, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the ready home for one case, and a scratch directory."""
    home = tmp_path / "home"
    shutil.copytree(ready.home, home)
    os.chmod(home, 0o700)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return home, scratch

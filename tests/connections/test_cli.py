"""The connection commands, `api` and `status` as a user runs them: clear errors, no secrets shown."""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exactsql.api.session import open_session
from exactsql.sandbox.process import SandboxProcess


@pytest.fixture(scope="module")
def server() -> Iterator[dict]:
    with SandboxProcess("--divisions", "2") as sandbox:
        yield sandbox.info


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exactsql", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def add(env: dict[str, str], info: dict, name: str = "eol") -> subprocess.CompletedProcess[str]:
    env = {**env, "SANDBOX_SECRET": info["client_secret"]}
    return run(
        env,
        "connection", "add", name,
        "--client-id", info["client_id"],
        "--redirect-uri", info["redirect_uri"],
        "--base-url", info["base_url"],
        "--client-secret-env", "SANDBOX_SECRET",
    )  # fmt: skip


def test_add_login_call_status_and_remove(sqlite_env: dict[str, str], server: dict) -> None:
    home = Path(sqlite_env["EXACTSQL_HOME"])
    added = add(sqlite_env, server)
    assert added.returncode == 0, added.stderr
    assert "exactsql login eol" in added.stdout
    listed = run(sqlite_env, "connection", "list")
    assert "eol" in listed.stdout and "sandbox" in listed.stdout
    assert run(sqlite_env, "login", "eol").returncode == 0
    me = run(sqlite_env, "api", "-c", "eol", "current/Me")
    assert me.returncode == 0 and '"UserID"' in me.stdout
    pages = run(
        sqlite_env,
        "api",
        "-c",
        "eol",
        "financial/GLAccounts",
        "-q",
        "$filter=Code ne ''",
        "-q",
        "$select=Code",
        "--all-pages",
    )
    assert pages.returncode == 0 and pages.stdout.count('"Code"') > 60  # more than one page followed
    status = run(sqlite_env, "status", "eol", "--json")
    assert status.returncode == 0 and '"broken": null' in status.stdout
    assert run(sqlite_env, "status", "eol").returncode == 0
    # secrets: encrypted in the store, never in files, output or the config
    session = open_session("eol")
    chain = session.broker.read()
    assert chain is not None
    secrets = [server["client_secret"], chain.access_token, chain.refresh_token]
    outputs = [added, listed, me, pages, status]
    for secret in secrets:
        assert all(secret not in p.stdout and secret not in p.stderr for p in outputs)
        for path in home.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    for path in home.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    removed = run(sqlite_env, "connection", "remove", "eol")
    assert removed.returncode == 0
    assert "eol" not in run(sqlite_env, "connection", "list").stdout.split()


def test_secret_from_standard_input(sqlite_env: dict[str, str], server: dict) -> None:
    done = run(
        sqlite_env,
        "connection", "add", "piped",
        "--client-id", server["client_id"], "--redirect-uri", server["redirect_uri"], "--base-url", server["base_url"],
        stdin=server["client_secret"] + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert run(sqlite_env, "login", "piped").returncode == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("api", "-c", "nope", "current/Me"), "There is no connection called 'nope'"),
        (("login", "nope"), "exactsql connection add nope"),
        (
            (
                "connection",
                "add",
                "x",
                "--client-id",
                "a",
                "--redirect-uri",
                "http://127.0.0.1:8765/callback",
                "--region",
                "xx",
                "--client-secret-env",
                "HOME",
            ),
            "Unknown region",
        ),
        (
            (
                "connection",
                "add",
                "x",
                "--client-id",
                "a",
                "--redirect-uri",
                "http://127.0.0.1:8765/callback",
                "--region",
                "nl",
                "--base-url",
                "http://h",
                "--client-secret-env",
                "HOME",
            ),
            "not both",
        ),
        (
            (
                "connection",
                "add",
                "x",
                "--client-id",
                "a",
                "--redirect-uri",
                "http://127.0.0.1:8765/callback",
                "--client-secret-env",
                "NO_SUCH_VARIABLE",
            ),
            "NO_SUCH_VARIABLE",
        ),
        (
            (
                "connection",
                "add",
                "sandbox",
                "--client-id",
                "a",
                "--redirect-uri",
                "http://127.0.0.1:8765/callback",
                "--client-secret-env",
                "HOME",
            ),
            "built-in",
        ),
        (("connection", "remove", "sandbox"), "cannot be removed"),
    ],
)
def test_user_mistakes_get_a_clear_message_and_no_traceback(
    sqlite_env: dict[str, str], args: tuple[str, ...], expected: str
) -> None:
    done = run(sqlite_env, *args)
    assert done.returncode != 0
    assert expected in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_unknown_state_store_scheme_is_explained(sqlite_env: dict[str, str], server: dict) -> None:
    assert add(sqlite_env, server).returncode == 0
    done = run({**sqlite_env, "EXACTSQL_STATE": "mysql://db/x"}, "status", "eol")
    assert done.returncode == 1
    assert "sqlite:///" in done.stderr and "Traceback" not in done.stderr


def test_the_built_in_sandbox_connection_needs_no_setup(sqlite_env: dict[str, str]) -> None:
    done = run(sqlite_env, "api", "current/Me")
    assert done.returncode == 0, done.stderr
    assert '"CurrentDivision"' in done.stdout
    assert not (Path(sqlite_env["EXACTSQL_HOME"]) / "config.toml").exists()


def test_a_machine_with_another_key_is_told_to_share_it(sqlite_env: dict[str, str], server: dict) -> None:
    assert add(sqlite_env, server).returncode == 0
    assert run(sqlite_env, "login", "eol").returncode == 0
    other = {**sqlite_env, "EXACTSQL_SECRET_KEY": "another machine's key"}
    done = run(other, "api", "-c", "eol", "current/Me")
    assert done.returncode == 1
    assert "EXACTSQL_SECRET_KEY" in done.stderr and "Traceback" not in done.stderr

"""Secrets at rest and in output: passwords never printed, exactsql's files owner-only from creation and never
written through a symbolic link, no core dumps, and the sandbox's secrets only for this machine."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exactsql.cli import _LogFormat
from exactsql.config import Config, Connection
from exactsql.replicate.targets import open_target
from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.messages import Request
from exactsql.sandbox.process import SandboxProcess
from exactsql.sandbox.server import BackgroundServer, write_info
from exactsql.state.protocol import redact_url
from tests.cli.harness import PASSWORD, Ready, base_env

URLS = [
    f"postgresql://user:{PASSWORD}@db.example.com:5432/books",
    f"postgres://user:{PASSWORD}@db/books?sslmode=require",
    f"postgresql://user:{PASSWORD}@x@db.example.com/books",
    f"redis://:{PASSWORD}@cache:6379/0",
    f"rediss://default:{PASSWORD}@cache:6380/0?lock_lease=3",
    f"postgresql://db.example.com/books?user=u&password={PASSWORD}&sslmode=require",
    f"postgresql://db.example.com/books?sslpassword={PASSWORD}",
    f"redis://cache/0?password={PASSWORD}",
    f"host=db.example.com port=5432 user=u password={PASSWORD} dbname=books",
    f"host=db.example.com password='{PASSWORD} with spaces' dbname=books",
    f"sqlite:///state.db?password={PASSWORD}",
    f"cannot reach postgresql://u:{PASSWORD}@db/books: connection refused",
]


@pytest.mark.parametrize("url", URLS)
def test_passwords_are_redacted_and_the_rest_is_kept(url: str) -> None:
    shown = redact_url(url)
    assert PASSWORD not in shown and "with spaces" not in shown
    assert "***" in shown
    for kept in ("db.example.com", "cache", "books", "state.db"):
        if kept in url:
            assert kept in shown


@pytest.mark.parametrize("url", ["postgresql://user@db/books", "redis://cache:6379/0", "sqlite:////a/b.db"])
def test_urls_without_a_password_are_unchanged(url: str) -> None:
    assert redact_url(url) == url


def test_log_lines_are_redacted_and_one_line() -> None:
    try:
        raise ConnectionError(f"postgresql://u:{PASSWORD}@db/books refused")
    except ConnectionError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "store %s", (f"redis://:{PASSWORD}@c/0",), None
        )
        record.exc_info = sys.exc_info()
    line = _LogFormat(debug=False).format(record)
    assert PASSWORD not in line and "\n" not in line
    assert "ConnectionError" in line and "redis://:***@c/0" in line


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exactsql", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_status_and_replication_never_show_a_password(ready: Ready, tmp_path: Path) -> None:
    env = {**base_env(ready.home), "EXACTSQL_STATE": f"sqlite:///{ready.store}?password={PASSWORD}"}
    for args in (("status", "eol"), ("status", "eol", "--json")):
        done = run(env, *args)
        assert done.returncode == 0, done.stderr
        assert PASSWORD not in done.stdout + done.stderr
        assert "password=***" in done.stdout
    replica = f"sqlite:///{tmp_path / 'r.db'}?password={PASSWORD}"
    done = run(env, "replicate", "-c", "eol", "--to", replica, "--tables", "crm/Accounts")
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_config_file_is_private_and_not_written_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    path = tmp_path / "home" / "config.toml"
    path.parent.mkdir()
    path.symlink_to(victim)
    config = Config(path)
    config.connections["eol"] = Connection(
        "eol", "https://start.exactonline.nl", "{id}", "http://127.0.0.1/cb"
    )
    with umask(0):
        config.save()
    assert victim.read_text() == "keep me"
    assert not path.is_symlink() and mode(path) == 0o600
    assert Config.load(path).connections["eol"].client_id == "{id}"
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary file left


def test_the_sandbox_info_file_is_private_and_not_written_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    info = tmp_path / "info.json"
    info.symlink_to(victim)
    with umask(0):
        write_info(info, {"client_secret": "x"})
        write_info(tmp_path / "new" / "info.json", {"client_secret": "x"})
    assert victim.read_text() == "keep me"
    assert not info.is_symlink() and mode(info) == 0o600
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "info.json") == 0o600


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_new_replica_files_are_private_from_creation(tmp_path: Path, kind: str) -> None:
    """The database file and its directory; SQLite's journal files take the file's mode, DuckDB's WAL the
    process's umask (which ``exactsql replicate`` sets owner-only: see the next test)."""
    path = tmp_path / "new" / f"replica.{kind}"
    with umask(0):
        target = open_target(f"{kind}:///{path}")
        conn = target.connect()
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
        modes = {p.name: mode(p) for p in path.parent.iterdir() if not p.name.endswith(".duckdb.wal")}
        conn.close()
        target.close()
    assert mode(path.parent) == 0o700
    assert modes == dict.fromkeys(modes, 0o600) and path.name in modes, modes


def test_a_replication_run_leaves_only_private_files(ready: Ready, tmp_path: Path) -> None:
    env = {**base_env(ready.home), "EXACTSQL_STATE": f"sqlite:///{ready.store}"}
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    done = run(
        env, "replicate", "-q", "-c", "eol", "--to", f"duckdb:///{folder / 'r.duckdb'}", "-t", "crm/Accounts"
    )
    assert done.returncode == 0, done.stderr
    files = list(folder.iterdir())
    assert files and all(mode(p) == 0o600 for p in files), {p.name: oct(mode(p)) for p in files}


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc/<pid>/limits")
def test_exactsql_processes_dump_no_core() -> None:
    with SandboxProcess("--divisions", "1") as server:
        assert server.proc is not None
        limits = Path(f"/proc/{server.proc.pid}/limits").read_text()
    line = next(x for x in limits.splitlines() if x.startswith("Max core file size"))
    assert line.split()[4:6] == ["0", "0"], line


@pytest.mark.parametrize("client", [None, "127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_sandbox_info_answers_this_machine(client: str | None) -> None:
    response = SANDBOX.handle(Request("GET", "/_sandbox/info", client=client))
    assert response.status == 200
    assert b"client_secret" in response.body


@pytest.mark.parametrize("client", ["203.0.113.5", "10.1.2.3", "2001:db8::1", "", "not an address"])
def test_sandbox_info_refuses_other_machines(client: str) -> None:
    response = SANDBOX.handle(Request("GET", "/_sandbox/info", client=client))
    assert response.status == 403
    assert b"loopback" in response.body and SANDBOX.default_app.client_secret.encode() not in response.body


SANDBOX = Sandbox(divisions=1)


def own_address() -> str | None:
    """An address of this machine that is not loopback (none when there is no network)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_over_the_network_info_is_refused_and_the_api_answers() -> None:
    address = own_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    with BackgroundServer(SANDBOX, host="0.0.0.0") as server:
        port = server.sock.getsockname()[1]
        remote = httpx.get(f"http://{address}:{port}/_sandbox/info", timeout=10)
        local = httpx.get(f"http://127.0.0.1:{port}/_sandbox/info", timeout=10)
        stats = httpx.get(f"http://{address}:{port}/_sandbox/stats", timeout=10)
    assert remote.status_code == 403 and "loopback" in remote.json()["error"]
    assert SANDBOX.default_app.client_secret not in remote.text
    assert local.status_code == 200 and local.json()["client_secret"] == SANDBOX.default_app.client_secret
    assert stats.status_code == 200

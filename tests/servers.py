"""Throw-away PostgreSQL and Redis servers for tests: started on a free 127.0.0.1 port, stopped at the end.

The binaries come from ``scripts/install_test_servers.sh`` (Debian packages); no system service is used.
PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` OS user (``runuser``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "run `bash scripts/install_test_servers.sh` (as root on Debian) to install it"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parent.parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def find_pg_bin(name: str) -> str:
    """The newest ``/usr/lib/postgresql/*/bin/<name>``, else ``<name>`` on PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise RuntimeError(f"PostgreSQL's {name} not found; {INSTALL_HINT}")


def _wait_for_port(
    port: int, proc: subprocess.Popen[bytes], log: Path, what: str, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} did not listen on port {port} within {timeout} s:\n{_tail(log)}"
                ) from None
            time.sleep(0.05)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes], pid: int | None, sig: int, timeout: float = 15.0) -> None:
    """Send ``sig`` to ``pid`` (or to ``proc``), wait for ``proc``, and SIGKILL both if that takes too long."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid if pid is not None else proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for p in (pid, proc.pid):
            if p is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
        proc.wait(timeout=timeout)


@dataclass
class PostgresServer:
    """A running throw-away PostgreSQL cluster."""

    port: int
    base_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path
    user: str = "postgres"
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """The URL of the ``postgres`` database as superuser ``postgres`` (trust auth)."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        postmaster_pid: int | None = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster_pid = int((self.base_dir / "data" / "postmaster.pid").read_text().splitlines()[0])
        _stop(self.proc, postmaster_pid, signal.SIGINT)  # SIGINT = "fast" shutdown
        shutil.rmtree(self.base_dir, ignore_errors=True)


def start_postgres(attempts: int = 3) -> PostgresServer:
    """initdb a new cluster in a temp dir and start it on a free 127.0.0.1 port (TCP only, trust auth)."""
    initdb, postgres = find_pg_bin("initdb"), find_pg_bin("postgres")
    base = Path(tempfile.mkdtemp(prefix="exactsql-pg-"))  # under /tmp, which the postgres user can reach
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                f"running as root, but there is no `postgres` OS user; {INSTALL_HINT}"
            ) from None
        os.chown(base, pw.pw_uid, pw.pw_gid)
        runuser = shutil.which("runuser")
        if runuser is None:
            raise RuntimeError("running as root, but `runuser` is missing (util-linux)")
        as_user = [runuser, "-u", "postgres", "--"]
    data, log = base / "data", base / "server.log"
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except subprocess.CalledProcessError as e:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {e.stderr.decode(errors='replace')}") from None
    last_error: Exception | None = None
    for _ in range(attempts):
        port = free_port()
        with open(log, "ab") as log_file:
            proc = subprocess.Popen(
                [
                    *as_user,
                    postgres,
                    "-D",
                    str(data),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"port={port}",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "fsync=off",  # a throw-away cluster: speed over durability
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "shared_buffers=32MB",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = PostgresServer(port=port, base_dir=base, proc=proc, log=log)
        try:
            _wait_for_port(port, proc, log, "postgres")
            _wait_for_postgres(server.url)
            return server
        except RuntimeError as e:
            last_error = e
            _stop(proc, None, signal.SIGKILL)
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"could not start PostgreSQL: {last_error}")


def _wait_for_postgres(url: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError as e:  # "the database system is starting up"
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL not ready within {timeout} s: {e}") from None
            time.sleep(0.05)


@dataclass
class RedisServer:
    """A running throw-away Redis (no persistence)."""

    port: int
    base_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _stop(self.proc, None, signal.SIGTERM)
        shutil.rmtree(self.base_dir, ignore_errors=True)


def start_redis(attempts: int = 3) -> RedisServer:
    """``redis-server`` on a free 127.0.0.1 port, without persistence."""
    server_bin = shutil.which("redis-server")
    if server_bin is None:
        raise RuntimeError(f"redis-server not found; {INSTALL_HINT}")
    base = Path(tempfile.mkdtemp(prefix="exactsql-redis-"))
    log = base / "server.log"
    last_error: Exception | None = None
    for _ in range(attempts):
        port = free_port()
        with open(log, "ab") as log_file:
            proc = subprocess.Popen(
                [
                    server_bin,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(base),
                    "--databases",
                    "16",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = RedisServer(port=port, base_dir=base, proc=proc, log=log)
        try:
            _wait_for_port(port, proc, log, "redis-server")
            _wait_for_redis(server.url)
            return server
        except RuntimeError as e:
            last_error = e
            _stop(proc, None, signal.SIGKILL)
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"could not start Redis: {last_error}")


def _wait_for_redis(url: str, timeout: float = 30.0) -> None:
    import redis

    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.exceptions.RedisError as e:  # "LOADING" while it starts
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Redis not ready within {timeout} s: {e}") from None
                time.sleep(0.05)
    finally:
        client.close()

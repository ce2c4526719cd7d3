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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

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


def _poll(probe: Callable[[], bool], errors: type[Exception], what: str, timeout: float) -> None:
    """Call ``probe`` until it returns True; past ``timeout`` seconds, ``errors`` it raised become a RuntimeError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except errors as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready within {timeout} s: {e}") from None
            time.sleep(0.05)


@dataclass
class _Server:
    """A running throw-away server: its process, and a temp dir that goes when it stops."""

    port: int
    base_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path
    command: list[str] = field(default_factory=list, kw_only=True)
    _stopped: bool = field(default=False, repr=False, kw_only=True)

    @property
    def url(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._terminate()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def _terminate(self) -> None:
        _stop(self.proc, None, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILLs the server and every process of it (an outage), and waits until all of them are gone (a
        restart must not find the old postmaster still exiting); its data stays for :meth:`restart`."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def restart(self, timeout: float = 60.0) -> None:
        """Starts the killed server again on the same port with the same data."""
        with open(self.log, "ab") as log_file:
            self.proc = subprocess.Popen(
                self.command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _wait_for_port(self.port, self.proc, self.log, "the restarted server", timeout)


@dataclass
class PostgresServer(_Server):
    """A running throw-away PostgreSQL cluster."""

    user: str = "postgres"

    @property
    def url(self) -> str:
        """The URL of the ``postgres`` database as superuser ``postgres`` (trust auth)."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def kill(self) -> None:
        """As :meth:`_Server.kill`, and the killed postmaster's lock file goes too (its process may linger
        as a zombie that nobody reaps, which PostgreSQL would take for a running server)."""
        super().kill()
        with contextlib.suppress(FileNotFoundError):
            (self.base_dir / "data" / "postmaster.pid").unlink()

    def _terminate(self) -> None:
        postmaster_pid: int | None = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster_pid = int((self.base_dir / "data" / "postmaster.pid").read_text().splitlines()[0])
        _stop(self.proc, postmaster_pid, signal.SIGINT)  # SIGINT = "fast" shutdown


@dataclass
class RedisServer(_Server):
    """A running throw-away Redis (no persistence)."""

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


S = TypeVar("S", bound=_Server)


def _start_on_free_port(
    server_class: type[S],
    name: str,
    what: str,
    command: Callable[[int], list[str]],
    wait_ready: Callable[[str], None],
    base: Path,
    log: Path,
    attempts: int,
) -> S:
    """Run ``command(port)`` on a free port until ``what`` listens there and ``wait_ready(url)`` returns.

    Up to ``attempts`` ports (another process may take a free port first); after that ``base`` is removed
    and a RuntimeError says that ``name`` could not be started.
    """
    last_error: Exception | None = None
    for _ in range(attempts):
        port = free_port()
        with open(log, "ab") as log_file:
            proc = subprocess.Popen(
                command(port),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = server_class(port=port, base_dir=base, proc=proc, log=log, command=command(port))
        try:
            _wait_for_port(port, proc, log, what)
            wait_ready(server.url)
            return server
        except RuntimeError as e:
            last_error = e
            _stop(proc, None, signal.SIGKILL)
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"could not start {name}: {last_error}")


POSTGRES_SETTINGS = (
    "listen_addresses=127.0.0.1",
    "port={port}",
    "unix_socket_directories=",
    "fsync=off",  # a throw-away cluster: speed over durability
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
    "shared_buffers=32MB",
)


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

    def command(port: int) -> list[str]:
        settings = [arg for s in POSTGRES_SETTINGS for arg in ("-c", s.format(port=port))]
        return [*as_user, postgres, "-D", str(data), *settings]

    return _start_on_free_port(
        PostgresServer, "PostgreSQL", "postgres", command, _wait_for_postgres, base, log, attempts
    )


def _wait_for_postgres(url: str, timeout: float = 30.0) -> None:
    import psycopg

    def probe() -> bool:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    # OperationalError: "the database system is starting up"
    _poll(probe, psycopg.OperationalError, "PostgreSQL", timeout)


def start_redis(attempts: int = 3, persistent: bool = False) -> RedisServer:
    """``redis-server`` on a free 127.0.0.1 port, without persistence (``persistent``: an append-only file
    synced on every write, so that its data survives a kill and :meth:`RedisServer.restart`)."""
    server_bin = shutil.which("redis-server")
    if server_bin is None:
        raise RuntimeError(f"redis-server not found; {INSTALL_HINT}")
    base = Path(tempfile.mkdtemp(prefix="exactsql-redis-"))

    def command(port: int) -> list[str]:
        options = {"port": str(port), "bind": "127.0.0.1", "save": "", "appendonly": "no", "dir": str(base)}
        if persistent:
            options.update(appendonly="yes", appendfsync="always")
        return [server_bin, *(arg for k, v in options.items() for arg in (f"--{k}", v)), "--databases", "16"]

    return _start_on_free_port(
        RedisServer, "Redis", "redis-server", command, _wait_for_redis, base, base / "server.log", attempts
    )


def _wait_for_redis(url: str, timeout: float = 30.0) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        # RedisError: "LOADING" while it starts
        _poll(lambda: bool(client.ping()), redis.exceptions.RedisError, "Redis", timeout)
    finally:
        client.close()

"""The harness of the cluster benchmarks: a sandbox server, a connection on one state store, worker processes.

Used by ``benchmarks/cluster_tokens.py`` (and ``tests/connections/test_cluster.py``); each worker runs
``benchmarks/cluster_worker.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run by path: tests.* (helpers, servers) live next to benchmarks/
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.connections.helpers import isolated_env, make_connection  # noqa: E402

from exactsql.sandbox.process import SandboxProcess  # noqa: E402

WORKER = ROOT / "benchmarks" / "cluster_worker.py"
CONNECTION = "eol"
ENV_NAMES = ("EXACTSQL_HOME", "EXACTSQL_STATE", "EXACTSQL_KEYRING", "EXACTSQL_SECRET_KEY")
TOKEN_LIFETIME = 600  # simulated seconds
BACKENDS = ("sqlite", "postgresql", "redis")


@contextlib.contextmanager
def using_env(env: dict[str, str]) -> Iterator[None]:
    """This process's exactsql variables set to ``env``'s for the block (config, store and key come from them)."""
    saved = {name: os.environ.get(name) for name in ENV_NAMES}
    os.environ.update({name: env[name] for name in ENV_NAMES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_time_scale(time_scale: float) -> None:
    """The sandbox reports ``expires_in`` in whole seconds: 600 / scale must be a whole number."""
    lifetime = TOKEN_LIFETIME / time_scale
    if lifetime != int(lifetime) or lifetime < 1:
        raise ValueError(f"time scale {time_scale:g} does not divide 600 (token lifetime {lifetime:g} s)")


@dataclass
class WorkerProcess:
    """One ``cluster_worker.py`` child: its files and process."""

    proc: subprocess.Popen[bytes]
    ready: Path
    go: Path
    status: Path
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def is_ready(self) -> bool:
        return self.ready.exists()

    def read_status(self) -> dict:
        try:
            return dict(json.loads(self.status.read_text()))
        except (OSError, ValueError):
            return {}

    def summary(self) -> dict:
        """The JSON summary the worker printed (``{"crashed": …}`` when there is none)."""
        lines = self.out.read_text().strip().splitlines() if self.out.exists() else []
        if lines:
            with contextlib.suppress(ValueError):
                return dict(json.loads(lines[-1]))
        err = self.err.read_text()[-2000:] if self.err.exists() else ""
        return {"crashed": self.proc.returncode, "stderr": err}


class Cluster:
    """A sandbox server, a connection to it on one state store, and worker processes.

    Use as a context manager; ``login`` signs in once (the sandbox completes its own login page).
    """

    def __init__(
        self,
        store_url: str,
        workdir: Path,
        time_scale: float = 120,
        sandbox_settings: dict | None = None,
        **connection: Any,
    ) -> None:
        self.store_url = store_url
        self.workdir = workdir
        self.time_scale = time_scale
        self.sandbox_settings = sandbox_settings or {}
        self.connection_overrides = connection
        self.env = isolated_env(workdir / "home", store_url)
        self.sandbox = SandboxProcess("--divisions", "1", "--time-scale", f"{time_scale:g}")
        self.session: Any = None
        self.http: httpx.Client | None = None
        self.workers: list[WorkerProcess] = []
        self._n = 0

    def __enter__(self) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sandbox.start()
        try:
            self.http = httpx.Client(base_url=self.info["base_url"], timeout=60)
            if self.sandbox_settings:
                self.http.post("/_sandbox/settings", json=self.sandbox_settings).raise_for_status()
            with using_env(self.env):
                from exactsql.api.session import open_session

                make_connection(self.info, CONNECTION, **self.connection_overrides)
                self.session = open_session(CONNECTION)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait()
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.http is not None:
            self.http.close()
            self.http = None
        self.sandbox.stop()

    @property
    def info(self) -> dict:
        return self.sandbox.info

    @property
    def division(self) -> int:
        return int(self.info["divisions"][0])

    @property
    def lifetime(self) -> float:
        """A token's life in real seconds."""
        return TOKEN_LIFETIME / self.time_scale

    # -- the sandbox's control plane, the store's chain -------------------------------------------------

    def stats(self) -> dict:
        assert self.http is not None
        return dict(self.http.get("/_sandbox/stats").json())

    def requests(self, limit: int = 20000) -> list[dict]:
        assert self.http is not None
        return list(self.http.get("/_sandbox/requests", params={"limit": limit}).json())

    def login(self) -> Any:
        """Signs in once (authorization code, then the first pair into the store); returns the chain."""
        return self.session.login()

    def chain(self) -> Any:
        """The chain as the store has it now."""
        return self.session.broker.read()

    # -- workers ----------------------------------------------------------------------------------------

    def start_workers(
        self,
        n: int,
        mode: str = "mix",
        failpoints: dict[str, Path] | None = None,
        me_every: int = 2,
        one_by_one: bool = True,
        pause: bool = False,
    ) -> list[WorkerProcess]:
        """Starts ``n`` workers; they open their sessions and wait for :meth:`go`.

        ``pause``: the failpoints pause (until their marker is deleted) instead of stopping the process.
        ``one_by_one``: each after the previous one is ready, as the processes of a cluster come up over time.
        A process measures its clock's offset to the store's when it opens its session; with 16 of them
        starting at once on 2 cores that one round trip (with the connection set-up) took long enough to set
        clocks up to 25 ms ahead, a tenth of a minute window at time scale 120.
        """
        env = dict(self.env)
        if failpoints:
            suffix = ":pause" if pause else ""
            env["EXACTSQL_FAILPOINTS"] = ",".join(
                f"{name}:{path}{suffix}" for name, path in failpoints.items()
            )
        started = []
        for _ in range(n):
            self._n += 1
            base = self.workdir / f"worker-{self._n}"
            paths = {s: base.with_suffix(f".{s}") for s in ("ready", "go", "status", "out", "err")}
            command = [
                sys.executable,
                str(WORKER),
                "--connection",
                CONNECTION,
                "--division",
                str(self.division),
                "--mode",
                mode,
                "--me-every",
                str(me_every),
                "--ready-file",
                str(paths["ready"]),
                "--go-file",
                str(paths["go"]),
                "--status-file",
                str(paths["status"]),
            ]
            with open(paths["out"], "wb") as out, open(paths["err"], "wb") as err:
                proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
            worker = WorkerProcess(
                proc, paths["ready"], paths["go"], paths["status"], paths["out"], paths["err"]
            )
            self.workers.append(worker)
            started.append(worker)
            if one_by_one:
                self.wait_ready([worker])
        return started

    def wait_ready(self, workers: list[WorkerProcess], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(w.is_ready() for w in workers):
            for w in workers:
                if w.proc.poll() is not None:
                    raise RuntimeError(f"worker {w.pid} exited before it was ready: {w.summary()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready within {timeout:g} s")
            time.sleep(0.02)

    @staticmethod
    def go(workers: list[WorkerProcess], start: float, until: float | None) -> None:
        """Lets the workers call from ``start`` until ``until`` (epoch seconds; None: until SIGTERM)."""
        text = json.dumps({"start": start, "until": until})
        for w in workers:
            tmp = w.go.with_suffix(".go-tmp")
            tmp.write_text(text)
            os.replace(tmp, w.go)

    @staticmethod
    def finish(workers: list[WorkerProcess], timeout: float) -> list[dict]:
        """Waits for the workers (SIGTERM after ``timeout``, SIGKILL after 30 s more); their summaries."""
        deadline = time.monotonic() + timeout
        for w in workers:
            try:
                w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        return [w.summary() for w in workers]

    @staticmethod
    def stop(workers: list[WorkerProcess]) -> list[dict]:
        """SIGTERM now; the summaries."""
        for w in workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        return Cluster.finish(workers, timeout=30)


def merge_errors(summaries: list[dict]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for s in summaries:
        total.update(s.get("errors", {}))
    return dict(total)


def error_samples(summaries: list[dict]) -> dict[str, str]:
    """The first message of each kind of exception the workers met."""
    samples: dict[str, str] = {}
    for s in summaries:
        for kind, message in s.get("error_samples", {}).items():
            samples.setdefault(kind, message)
    return samples


def crashed(summaries: list[dict]) -> list[dict]:
    return [s for s in summaries if "crashed" in s]


def wait_for(predicate: Any, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class Stores:
    """Fresh state stores per scenario: SQLite files, PostgreSQL databases, Redis databases."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.servers: dict[str, Any] = {}
        self._n = 0

    def url(self, backend: str) -> str:
        from tests.servers import start_postgres, start_redis

        self._n += 1
        if backend == "sqlite":
            return f"sqlite:///{self.workdir / f'sqlite-{self._n}' / 'state.db'}"
        if backend == "postgresql":
            import psycopg

            if "postgresql" not in self.servers:
                self.servers["postgresql"] = start_postgres()
            server = self.servers["postgresql"]
            name = f"exactsql_bench_{self._n}"
            with psycopg.connect(server.url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            return str(server.url_for(name))
        if backend == "redis":
            import redis

            if "redis" not in self.servers:
                self.servers["redis"] = start_redis()
            url = str(self.servers["redis"].url_for(self._n % 16))
            client = redis.Redis.from_url(url)
            try:
                client.flushdb()
            finally:
                client.close()
            return url
        raise ValueError(f"unknown backend {backend!r}; use {', '.join(BACKENDS)}")

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()

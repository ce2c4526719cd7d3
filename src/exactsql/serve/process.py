"""``exactsql serve`` in a child process on a free port, for tests and benchmarks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

_LISTENING = re.compile(r"listening on (?P<host>[^:\s]+):(?P<port>\d+)")


class ServeProcess:
    """Starts ``exactsql serve --port 0`` with extra arguments; ``host`` and ``port`` once it listens.

    Use as a context manager. ``output`` collects what the server printed (its log lines included).
    """

    def __init__(
        self, *args: str, env: Mapping[str, str] | None = None, startup_timeout: float = 60.0
    ) -> None:
        self.args = args
        self.env = dict(env if env is not None else os.environ)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.host = ""
        self.port = 0
        self.output: list[str] = []

    def start(self) -> ServeProcess:
        """Starts the server and waits until it listens."""
        command = [sys.executable, "-m", "exactsql", "serve", "--port", "0", *self.args]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**self.env, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            line = self.proc.stdout.readline()
            if line:
                self.output.append(line.rstrip("\n"))
            found = _LISTENING.search(line)
            if found:
                self.host, self.port = found.group("host"), int(found.group("port"))
                break
            if (not line and self.proc.poll() is not None) or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"exactsql serve did not start: {' '.join(command)}\n" + "\n".join(self.output)
                )
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))

    def dsn(self, user: str, password: str, **extra: str) -> str:
        """A libpq connection string for this server."""
        parts = {
            "host": self.host,
            "port": str(self.port),
            "dbname": "exactsql",
            "user": user,
            "password": password,
        }
        parts.update(extra)
        quoted = {k: "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for k, v in parts.items()}
        return " ".join(f"{k}={v}" for k, v in quoted.items())

    def stop(self) -> None:
        """Stops the server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

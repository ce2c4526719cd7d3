"""A sandbox server in a child process (``exactsql sandbox``), for tests, benchmarks and clusters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


class SandboxProcess:
    """Starts ``exactsql sandbox --port 0`` with extra arguments and reads its info file.

    Use as a context manager; ``info`` holds base_url, client_id, client_secret, redirect_uri, users
    and divisions once it has started. What the server writes to standard error goes to ``log_file`` (a
    pipe nobody reads would stop the server once full).
    """

    def __init__(self, *args: str, startup_timeout: float = 60.0) -> None:
        self.args = args
        self.startup_timeout = startup_timeout
        self._dir = tempfile.TemporaryDirectory(prefix="exactsql-sandbox-")
        self.info_file = Path(self._dir.name) / "info.json"
        self.log_file = Path(self._dir.name) / "stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict = {}

    def start(self) -> SandboxProcess:
        """Starts the server and waits until its info file is written."""
        command = [
            sys.executable,
            "-m",
            "exactsql",
            "sandbox",
            "--port",
            "0",
            "--info-file",
            str(self.info_file),
            *self.args,
        ]
        with self.log_file.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + self.startup_timeout
        while not self.info_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                said = self.log_file.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"the sandbox did not start: {' '.join(command)}\n{said}")
            time.sleep(0.02)
        self.info = json.loads(self.info_file.read_text())
        self.info["info_file"] = str(self.info_file)
        return self

    def stop(self) -> None:
        """Stops the server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._dir.cleanup()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def control_plane_tokens(
    http: httpx.Client, info: dict, user: str | None = None, divisions: list[int] | None = None
) -> dict:
    """Logs in without a browser: a code from ``/_sandbox/authorize``, exchanged at the token endpoint.

    Returns the token response (access_token, refresh_token, expires_in, token_type).
    """
    body: dict = {"client_id": info["client_id"], "redirect_uri": info["redirect_uri"]}
    if user:
        body["user"] = user
    if divisions:
        body["divisions"] = divisions
    authorized = http.post("/_sandbox/authorize", json=body)
    authorized.raise_for_status()
    response = http.post(
        "/api/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": authorized.json()["code"],
            "redirect_uri": info["redirect_uri"],
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
        },
    )
    response.raise_for_status()
    tokens: dict = response.json()
    return tokens

"""Conformance: a time-scaled sandbox reports real-time durations and applies scaled rules."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sandbox_client import SandboxClient


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxClient]:
    info_file: Path = tmp_path_factory.mktemp("fast") / "info.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exactsql",
            "sandbox",
            "--port",
            "0",
            "--divisions",
            "1",
            "--time-scale",
            "60",
            "--info-file",
            str(info_file),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not info_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        info = json.loads(info_file.read_text())
        with httpx.Client(base_url=info["base_url"], timeout=30) as http:
            yield SandboxClient(http, info)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_expires_in_is_real_seconds(fast: SandboxClient) -> None:
    tokens = fast.login()
    assert tokens.expires_in == "10"
    assert fast.get("current/Me").status_code == 200
    time.sleep(9.6)  # 576 simulated seconds: refresh is allowed, the token still valid
    assert fast.refresh().status_code == 200
    time.sleep(0.5)
    assert fast.refresh().status_code == 400  # 30 simulated seconds after: too early
    time.sleep(10.2)
    assert fast.get("current/Me").status_code == 401  # expired after 600 simulated seconds


def test_minute_windows_last_one_real_second(fast: SandboxClient) -> None:
    division = fast.divisions[0]
    fast.login()
    params = {"$filter": "Code ne ''", "$select": "Code"}
    first = fast.get(f"{division}/financial/GLAccounts", params)
    reset = int(first.headers["X-RateLimit-Minutely-Reset"]) / 1000
    assert 0 < reset - time.time() <= 1.05
    daily = int(first.headers["X-RateLimit-Reset"]) / 1000
    assert 0 < daily - time.time() <= 1440 + 1
    time.sleep(max(0.0, reset - time.time()) + 0.05)
    fresh = fast.get(f"{division}/financial/GLAccounts", params)
    assert fresh.headers["X-RateLimit-Minutely-Remaining"] == "59"

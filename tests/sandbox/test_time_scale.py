"""Conformance: a time-scaled sandbox reports real-time durations and applies scaled rules."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from exactsql.sandbox.process import SandboxProcess
from tests.sandbox_client import SandboxClient


@pytest.fixture(scope="module")
def fast() -> Iterator[SandboxClient]:
    with (
        SandboxProcess("--divisions", "1", "--time-scale", "60") as server,
        httpx.Client(base_url=server.info["base_url"], timeout=30) as http,
    ):
        yield SandboxClient(http, server.info)


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
    sent = time.time()
    first = fast.get(f"{division}/financial/GLAccounts", params)
    reset = int(first.headers["X-RateLimit-Minutely-Reset"]) / 1000
    # Windows follow the scaled clock minute: the one admitting the call ends within a real second of
    # it (it may already have ended when the answer arrives on a loaded machine).
    assert sent < reset <= time.time() + 1.05
    daily = int(first.headers["X-RateLimit-Reset"]) / 1000
    assert 0 < daily - time.time() <= 1440 + 1
    time.sleep(max(0.0, reset - time.time()) + 0.05)
    fresh = fast.get(f"{division}/financial/GLAccounts", params)
    assert fresh.headers["X-RateLimit-Minutely-Remaining"] == "59"

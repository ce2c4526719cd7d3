"""A time-scaled sandbox server per test module, reset (faults and settings too) for each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exactsql.sandbox.process import SandboxProcess

SCALE = 120  # a token lives 5 s; Exact allows a refresh after 4.75 s; a minute window lasts 0.5 s
#: The settings tests change, and their values when a test begins.
DEFAULT_SETTINGS = {
    "min_refresh_interval": 570,
    "token_calls_per_day": 200,
    "error_limit": 10,
    "daily_limit": 5000,
}


@pytest.fixture(scope="module")
def scaled() -> Iterator[dict]:
    """``exactsql sandbox`` with 2 divisions at time scale 120; its info."""
    with SandboxProcess("--divisions", "2", "--time-scale", str(SCALE)) as server:
        yield server.info


@pytest.fixture()
def control(scaled: dict) -> Iterator[httpx.Client]:
    """The control plane of ``scaled``, after a reset of its state, faults and settings."""
    with httpx.Client(base_url=scaled["base_url"], timeout=30) as http:
        http.post("/_sandbox/reset").raise_for_status()
        http.delete("/_sandbox/faults").raise_for_status()
        http.post("/_sandbox/settings", json=DEFAULT_SETTINGS).raise_for_status()
        yield http

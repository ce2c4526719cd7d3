"""Set-ups the sandbox's test modules share: an in-process client, and a server's control plane."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import httpx

from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.process import SandboxProcess
from exactsql.sandbox.transport import SandboxTransport
from tests.sandbox_client import SandboxClient

BASE = "http://sbx"
#: Settings for tests that make many calls and provoke many 400s.
UNLIMITED = {"minutely_limit": 10**6, "daily_limit": 10**6, "error_limit": 10**6}


@contextlib.contextmanager
def in_process_client(sandbox: Sandbox) -> Iterator[SandboxClient]:
    """A client logged in to ``sandbox`` in this process, without limits; the settings a test changes are put
    back after it."""
    saved = dataclasses.asdict(sandbox.settings)
    with httpx.Client(transport=SandboxTransport(sandbox), base_url=BASE) as http:
        client = SandboxClient(http, sandbox.info(BASE))
        client.control("POST", "settings", json=UNLIMITED)
        client.login()
        yield client
    sandbox.settings.update(saved)


@contextlib.contextmanager
def reset_control(server: dict, settings: dict) -> Iterator[httpx.Client]:
    """The control plane of a sandbox server, after a reset of its state and with ``settings``."""
    with httpx.Client(base_url=server["base_url"], timeout=60) as http:
        http.post("/_sandbox/reset").raise_for_status()
        http.post("/_sandbox/settings", json=settings).raise_for_status()
        yield http


@contextlib.contextmanager
def sandbox_server(divisions: int) -> Iterator[dict]:
    """``exactsql sandbox`` with ``divisions`` small divisions, in a process of its own; its info."""
    with SandboxProcess("--divisions", str(divisions)) as sandbox:
        yield sandbox.info

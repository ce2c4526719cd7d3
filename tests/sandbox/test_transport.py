"""The in-process transport: the same sandbox behind an httpx client, with no server."""

from __future__ import annotations

import httpx
import pytest

from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.process import control_plane_tokens
from exactsql.sandbox.transport import AsyncSandboxTransport, SandboxTransport


def _login(http: httpx.Client, sb: Sandbox) -> str:
    return str(control_plane_tokens(http, sb.info("http://sandbox"))["access_token"])


def test_in_process_login_and_paging() -> None:
    sb = Sandbox(divisions=2)
    with httpx.Client(transport=SandboxTransport(sb), base_url="http://sandbox") as http:
        auth = {"Authorization": f"Bearer {_login(http, sb)}", "Accept": "application/json"}
        division = sb.world.division_codes[0]
        page = http.get(
            f"/api/v1/{division}/bulk/Financial/TransactionLines",
            params={"$select": "ID", "$filter": "ID ne null"},
            headers=auth,
        )
        assert page.status_code == 200
        assert page.headers["X-RateLimit-Minutely-Remaining"] == "59"
        assert page.json()["d"]["results"]
        assert sb.stats.api_calls == 1


def test_in_process_faults_raise_httpx_errors() -> None:
    sb = Sandbox(divisions=1)
    with httpx.Client(transport=SandboxTransport(sb), base_url="http://sandbox") as http:
        auth = {"Authorization": f"Bearer {_login(http, sb)}"}
        sb.faults.add({"kind": "timeout", "count": 1})
        with pytest.raises(httpx.ReadTimeout):
            http.get("/api/v1/current/Me", headers=auth)
        sb.faults.add({"kind": "reset", "count": 1})
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/api/v1/current/Me", headers=auth)
        assert http.get("/api/v1/current/Me", headers=auth).status_code == 200


async def _async_me(sb: Sandbox) -> int:
    async with httpx.AsyncClient(transport=AsyncSandboxTransport(sb), base_url="http://sandbox") as http:
        response = await http.get("/api/v1/current/Me")
        return response.status_code


def test_async_transport() -> None:
    import asyncio

    assert asyncio.run(_async_me(Sandbox(divisions=1))) == 401

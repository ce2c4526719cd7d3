"""In-process access: an httpx transport that hands requests straight to a ``Sandbox``."""

from __future__ import annotations

import httpx

from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.messages import Request, Response


def _to_sandbox(request: httpx.Request, body: bytes) -> Request:
    url = request.url
    port = f":{url.port}" if url.port else ""
    return Request(
        method=request.method,
        path=url.path,
        query=url.query.decode("ascii", "replace"),
        headers={k.decode().lower(): v.decode() for k, v in request.headers.raw},
        body=body,
        base_url=f"{url.scheme}://{url.host}{port}",
    )


def _to_httpx(response: Response, request: httpx.Request) -> httpx.Response:
    if response.fault == "timeout":
        raise httpx.ReadTimeout("sandbox fault: the server did not answer in time", request=request)
    if response.fault == "reset":
        raise httpx.RemoteProtocolError("sandbox fault: connection reset by peer", request=request)
    return httpx.Response(response.status, headers=response.headers, content=response.body, request=request)


class SandboxTransport(httpx.BaseTransport):
    """Serves an ``httpx.Client`` from an in-process sandbox (no sockets, no threads)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        return _to_httpx(self.sandbox.handle(_to_sandbox(request, body)), request)


class AsyncSandboxTransport(httpx.AsyncBaseTransport):
    """Serves an ``httpx.AsyncClient`` from an in-process sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        return _to_httpx(self.sandbox.handle(_to_sandbox(request, body)), request)

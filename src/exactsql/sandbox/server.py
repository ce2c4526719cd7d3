"""The sandbox as a real HTTP server: a small ASGI app on uvicorn, shared by many client processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.messages import Request

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class SandboxApp:
    """ASGI adapter around ``Sandbox.handle``."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host") or "{}:{}".format(*scope["server"])
        client = scope.get("client")
        request = Request(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=b"".join(chunks),
            base_url=f"{scope.get('scheme', 'http')}://{host}",
            client=str(client[0]) if client else "",
        )
        response = self.sandbox.handle(request)
        if response.fault == "timeout":
            await asyncio.sleep(response.fault_seconds)
            raise ConnectionAbortedError("sandbox fault: time-out")
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        if response.fault == "reset":
            # Promise a body and close early: the client sees the connection drop mid-response.
            raw_headers.append((b"content-length", b"64"))
            await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
            await send({"type": "http.response.body", "body": b"{", "more_body": False})
            return
        raw_headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": response.body})


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def base_url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def check_info_path(path: Path) -> None:
    """ConfigError when ``path`` cannot be an info file: a directory, or under something not a directory."""
    from exactsql.errors import ConfigError
    from exactsql.paths import file_problem

    problem = file_problem(path)
    if problem is not None:
        raise ConfigError(f"--info-file {problem}.", "Give a file name in a directory, e.g. sandbox.json.")


def write_info(path: Path, info: dict) -> None:
    """Writes the connection info (with the app secret) atomically: readable by the owner only from its
    creation, never through a symbolic link."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(info, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _config(sandbox: Sandbox) -> uvicorn.Config:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return uvicorn.Config(
        SandboxApp(sandbox),
        loop=loop,
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,  # idle connections stay open like a web front end's, not uvicorn's 5 s
        lifespan="off",
        proxy_headers=False,  # the client address is the socket's peer (``/_sandbox/info`` trusts loopback)
    )


def serve(sandbox: Sandbox, sock: socket.socket) -> None:
    """Serves until interrupted."""
    uvicorn.Server(_config(sandbox)).run(sockets=[sock])


class BackgroundServer:
    """A sandbox server on a thread of this process (for the demo and for tests)."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self.sock = bind(host, port)
        self.base_url = base_url_of(self.sock)
        self._server = uvicorn.Server(_config(sandbox))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server did not start")
            threading.Event().wait(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self.sock.close()

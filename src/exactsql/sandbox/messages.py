"""Framework-free HTTP messages passed between the sandbox core and its two adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import orjson


@dataclass
class Request:
    """An HTTP request as the sandbox sees it."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = "http://127.0.0.1:8642"
    #: The client's address as the server saw it; None in-process (no network between client and sandbox).
    client: str | None = None

    def header(self, name: str) -> str | None:
        """A header value, case-insensitive."""
        return self.headers.get(name.lower())

    def params(self) -> dict[str, str]:
        """The decoded query parameters (last one wins)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def form(self) -> dict[str, str]:
        """The decoded form body."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> dict:
        """The JSON body (an empty object when there is none)."""
        return orjson.loads(self.body) if self.body.strip() else {}


@dataclass
class Response:
    """An HTTP response; ``fault`` asks the adapter to time out, reset or truncate instead."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    fault: str | None = None
    fault_seconds: float = 0.0
    #: The object a JSON body was made from, so the REST side can write it as Atom instead.
    payload: object = None


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        status,
        {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        orjson.dumps(payload),
        payload=payload,
    )


def odata_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error in Exact's OData shape: empty ``code`` and ``lang``."""
    return json_response(status, {"error": {"code": "", "message": {"lang": "", "value": message}}}, headers)


def html_response(status: int, html: str, headers: dict[str, str] | None = None) -> Response:
    """An HTML page."""
    return Response(status, {"Content-Type": "text/html; charset=utf-8", **(headers or {})}, html.encode())


def redirect(location: str) -> Response:
    """A 302 redirect."""
    return Response(302, {"Location": location}, b"")

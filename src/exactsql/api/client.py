"""ExactClient: one call (or all pages) within the token, rate and error budgets; retries only where safe."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson

from exactsql.api.budget import RateBudget
from exactsql.api.error_budget import ErrorBudget
from exactsql.api.tokens import TokenBroker
from exactsql.endpoints import split_api_path
from exactsql.errors import ApiError, ConfigError

log = logging.getLogger(__name__)

RETRIES = 5
RETRY_STATUSES = frozenset({500, 502, 503, 504})


def error_message(response: httpx.Response) -> str:
    """The message of an Exact error response (OData or OAuth shape), or its status text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        return str(message.get("value") if isinstance(message, dict) else message)
    if isinstance(body, dict) and "error" in body:
        return f"{body['error']}: {body.get('error_description', '')}".strip(": ")
    return response.reason_phrase


def next_link(body: bytes) -> str | None:
    """The ``__next`` URL of a page, found without parsing the whole page."""
    at = body.rfind(b'"__next":"')
    if at < 0:
        return None
    start = at + len(b'"__next":"')
    end = body.index(b'"', start)
    return body[start:end].decode().replace("\\/", "/")


class ExactClient:
    """Speaks to one Exact Online (or sandbox) as one app and user, sharing budgets through the store.

    Args:
        on_wait: called with (seconds, what) before a wait for a rate window, so a CLI can show it.
        before_call: called before every attempt of a call (retries included), before any budget is
            taken for it; it may raise to stop the call (a cap on a run's calls).
    """

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        broker: TokenBroker,
        rates: RateBudget,
        errors: ErrorBudget,
        on_wait: Callable[[float, str], None] | None = None,
        before_call: Callable[[], None] | None = None,
    ) -> None:
        self.before_call = before_call
        self.http = http
        self.base_url = base_url
        self.broker = broker
        self.rates = rates
        self.errors = errors
        self.on_wait = on_wait
        self.calls = 0
        self._local = threading.local()
        self._targets: dict[str, tuple[int | None, str]] = {}

    def thread_calls(self) -> int:
        """Calls made by the current thread (for per-fetch accounting when divisions run in parallel)."""
        return int(getattr(self._local, "calls", 0))

    def url(self, path: str, division: int | None = None) -> str:
        """An absolute URL for ``path`` (``crm/Accounts`` with a division, ``current/Me``, or absolute)."""
        if path.startswith(("http://", "https://")):
            return path
        path = path.lstrip("/")
        if path.startswith("api/"):
            return f"{self.base_url}/{path}"
        return (
            f"{self.base_url}/api/v1/{division}/{path}"
            if division is not None
            else f"{self.base_url}/api/v1/{path}"
        )

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        division: int | None = None,
        body: bytes | None = None,
        retry: bool = True,
        wait: bool = True,
    ) -> httpx.Response:
        """One call within every budget; retried for 429, 5xx and network errors only, and once after a 401
        with a renewed token. ``body`` is sent as JSON. Without ``retry`` (a POST: a call that may have been
        carried out although its answer was lost), a network error or a 5xx raises ApiError (status 0 for
        no answer) instead of being tried again; 429 and 401 are still retried (Exact carried out nothing).
        ``wait=False``: :class:`WindowFull` instead of waiting for the division's minute window."""
        url = self.url(path, division)
        division, endpoint = self._target(url)
        if not wait and division is not None:
            self.rates.check_open(division)  # before the call is counted anywhere
        renewed = False
        for attempt in range(RETRIES):
            if self.before_call is not None:
                self.before_call()
            slot = self.errors.admit(division, endpoint)  # a slot of the error reserve until answered
            answer: httpx.Response | None = None
            try:
                token, admitted = self._admit(division, wait)
                headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                self.calls += 1
                self._local.calls = self.thread_calls() + 1
                try:
                    answer = self.http.request(method, url, params=params, headers=headers, content=body)
                except httpx.TransportError as exc:
                    failure = type(exc).__name__
            finally:
                self.errors.settle(slot, answer.status_code if answer else None, division, endpoint)
            if answer is None:
                if not retry:
                    raise ApiError(0, f"no answer ({failure})", endpoint)
                self._backoff(attempt, f"network error ({failure})")
                continue
            response = answer
            if division is not None:
                self.rates.reconcile(division, response.headers, admitted)
            if response.status_code == 401 and not renewed:
                renewed = True  # Exact's clock may run ahead of ours: one renewed token, one more try
                self.broker.renew(token, response.headers.get("WWW-Authenticate", ""))
                continue
            if response.status_code == 429:
                if response.headers.get("Reason", "").startswith("ErrorLimitExceeded"):
                    self.errors.block(division, endpoint)
                    self.errors.check(division, endpoint)  # raises, naming when the block lifts
                if division is not None:
                    time.sleep(self.rates.exhausted(division, response.headers))
                log.warning("unexpected 429 from %s; waiting for the window to reset", endpoint)
                continue
            if response.status_code in RETRY_STATUSES and not retry:
                raise ApiError(response.status_code, error_message(response), endpoint)
            if response.status_code in RETRY_STATUSES:
                self._backoff(attempt, f"{response.status_code} from {endpoint}")
                continue
            if response.status_code >= 400:
                raise ApiError(response.status_code, error_message(response), endpoint)
            return response
        raise ApiError(
            0, f"no answer after {RETRIES} tries", endpoint, "Exact Online may be down; try again later."
        )

    def _admit(self, division: int | None, wait: bool = True) -> tuple[str, float | None]:
        """A slot of the division's rate windows and a valid token; a slot taken for a call that is then not
        sent (the token or the store failed) is given back."""
        if division is None:
            return self.broker.access_token(), None
        admitted = self.rates.acquire(division, self.on_wait, wait)
        try:
            token = self.broker.access_token()
            while admitted is not None and self.rates.clock.now() >= admitted:
                # The window it was counted in ended while it waited (for a token, for the CPU): it would
                # arrive in the next one uncounted there, so it is counted there first.
                admitted = self.rates.acquire(division, self.on_wait)
                token = self.broker.access_token()
        except BaseException:
            with contextlib.suppress(Exception):  # the store may be what failed
                self.rates.release(division, admitted)
            raise
        return token, admitted

    def _target(self, url: str) -> tuple[int | None, str]:
        """The division and endpoint of ``url``, checked to be on the connection's own Exact Online (the
        answers of the last URLs are remembered: a page's URLs are parsed once)."""
        known = self._targets.get(url)
        if known is None:
            target = httpx.URL(url)
            self._check_host(target)
            parsed = split_api_path(target.path)
            known = (parsed.division, parsed.endpoint)
            if len(self._targets) >= 256:
                self._targets.clear()
            self._targets[url] = known
        return known

    def _check_host(self, target: httpx.URL) -> None:
        """The bearer token goes to the connection's own Exact Online only."""
        own = httpx.URL(self.base_url)
        if (target.scheme, target.host, target.port) != (own.scheme, own.host, own.port):
            raise ConfigError(
                f"Refusing to send this connection's token to {target.scheme}://{target.host}"
                f"{'' if target.port is None else f':{target.port}'}: the connection's Exact Online is "
                f"{self.base_url}.",
                "Use a path such as `crm/Accounts` or a URL on the connection's base URL.",
            )

    def _backoff(self, attempt: int, what: str) -> None:
        delay = min(30.0, 0.5 * 2**attempt) * (0.5 + random.random())
        log.warning("%s; retrying in %.1f s", what, delay)
        time.sleep(delay)

    def get_json(self, path: str, params: dict[str, str] | None = None, division: int | None = None) -> Any:
        """A GET's JSON body; a truncated body counts as a network error and is fetched again."""
        for attempt in range(RETRIES):
            response = self.request("GET", path, params, division)
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError:
                self._backoff(attempt, "a truncated answer")
        raise ApiError(0, "the answer kept arriving truncated", path)

    def pages(
        self, path: str, params: dict[str, str] | None = None, division: int | None = None
    ) -> Iterator[list[dict]]:
        """The ``results`` of every page, following ``__next``."""
        body = self.get_json(path, params, division)
        while True:
            d = body["d"]
            if isinstance(d, list):
                yield d
                return
            yield d.get("results", [d])
            nxt = d.get("__next")
            if not nxt:
                return
            body = self.get_json(nxt)

    def raw_pages(
        self, path: str, params: dict[str, str] | None = None, division: int | None = None
    ) -> Iterator[bytes]:
        """The bodies of every page, unparsed (for the JSON → Arrow fast path), following ``__next``."""
        url: str | None = self.url(path, division)
        first = True
        while url:
            body = self._complete_body(url, params if first else None)
            first = False
            yield body
            url = next_link(body)

    def page(
        self, url: str, params: dict[str, str] | None = None, wait: bool = True
    ) -> tuple[bytes, str | None]:
        """One page's body and the URL of the next (None after the last); ``wait=False``: :class:`WindowFull`
        instead of waiting for the division's minute window (the caller comes back after ``until``)."""
        body = self._complete_body(url, params, wait)
        return body, next_link(body)

    def flush(self) -> None:
        """Gives back the rate slots and error-reserve slots this process holds without a call in flight."""
        self.rates.flush()
        self.errors.release_kept()

    def _complete_body(self, url: str, params: dict[str, str] | None, wait: bool = True) -> bytes:
        for attempt in range(RETRIES):
            body = self.request("GET", url, params, wait=wait).content
            if body.rstrip().endswith(b"}"):
                return body
            self._backoff(attempt, "a truncated answer")
        raise ApiError(0, "the answer kept arriving truncated", url)

    def me(self) -> dict:
        """``current/Me``: the user and the current division."""
        return dict(self.get_json("current/Me")["d"]["results"][0])

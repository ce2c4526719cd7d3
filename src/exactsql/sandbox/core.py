"""The sandbox: one object holding the world, the rules and the counters; ``handle`` answers requests."""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from exactsql.catalog import Table, load_catalog
from exactsql.sandbox import datagen
from exactsql.sandbox.clock import SandboxClock
from exactsql.sandbox.faults import AFTER_WORK, Faults
from exactsql.sandbox.limits import ErrorBudget, RateLimiter
from exactsql.sandbox.messages import Request, Response, json_response, odata_error
from exactsql.sandbox.oauth import App, OAuthServer
from exactsql.sandbox.settings import SandboxSettings
from exactsql.sandbox.store import DivisionState
from exactsql.sandbox.values import guid_for, salt_for

log = logging.getLogger(__name__)

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"


def default_app(seed: int, redirect_uris: tuple[str, ...] = (DEFAULT_REDIRECT_URI,)) -> App:
    """The app registered in a sandbox made with ``seed``: deterministic client id and secret."""
    client_id = "{" + guid_for(salt_for(seed, "app"), 7) + "}"
    secret = "sbx-" + guid_for(salt_for(seed, "secret"), 11).replace("-", "")[-24:]
    return App(client_id, secret, redirect_uris)


@dataclass
class Stats:
    """Counters the control plane reports."""

    token_calls: int = 0
    token_errors: dict[str, int] = field(
        default_factory=lambda: {"old_refresh_token": 0, "too_early": 0, "limit_exceeded": 0, "other": 0}
    )
    api_calls: int = 0
    by_status: collections.Counter = field(default_factory=collections.Counter)
    rate_limited: int = 0
    error_budget_blocks: int = 0
    expired_token_401: int = 0

    def as_dict(self) -> dict:
        """The counters as JSON."""
        return {
            "token_calls": self.token_calls,
            "token_errors": dict(self.token_errors),
            "api_calls": self.api_calls,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items(), key=lambda kv: str(kv[0]))},
            "rate_limited": self.rate_limited,
            "error_budget_blocks": self.error_budget_blocks,
            "expired_token_401": self.expired_token_401,
        }


class Sandbox:
    """A local Exact Online: OAuth, REST (regular, bulk, sync, Deleted), limits, faults, control plane.

    Args:
        divisions: how many divisions (companies) the generated licence has.
        size: "small", "medium" or "large" (≈ 1,000 / 100,000 / 1,000,000 transaction lines per division).
        seed: makes the generated books and the app credentials deterministic.
        time_scale: divides every duration of the rules (60 makes a token live 10 real seconds).
        settings: overrides of the limits (see ``SandboxSettings``).
        redirect_uris: the redirect URIs registered for the default app.
    """

    def __init__(
        self,
        divisions: int = 3,
        size: str = "small",
        seed: int = 1,
        time_scale: float = 1.0,
        settings: SandboxSettings | None = None,
        redirect_uris: tuple[str, ...] = (DEFAULT_REDIRECT_URI,),
        clock: SandboxClock | None = None,
    ) -> None:
        if size not in datagen.SIZES:
            raise ValueError(f"unknown size {size!r}; use one of {', '.join(datagen.SIZES)}")
        self.n_divisions = divisions
        self.size = size
        self.seed = seed
        self.settings = settings or SandboxSettings()
        self._initial_settings = dataclasses.replace(self.settings)
        self.clock = clock or SandboxClock(time_scale)
        self.catalog = load_catalog()
        self.lock = threading.RLock()
        self.oauth = OAuthServer(self.settings, self.clock)
        self.default_app = default_app(seed, redirect_uris)
        self.oauth.register(self.default_app)
        self.rates = RateLimiter(self.settings, self.clock)
        self.errors = ErrorBudget(self.settings, self.clock)
        self.faults = Faults(seed)
        self.requests: collections.deque[dict] = collections.deque(maxlen=20000)
        self._handling_since: tuple[float, float] | None = None  # (real time, sandbox clock)
        self.login_tickets: dict[str, tuple[str, float]] = {}
        self._build_world()

    def _build_world(self) -> None:
        today = datagen.amsterdam_today(self.clock.now())
        self.world = datagen.World(self.seed, self.n_divisions, self.size, today)
        self.users = {u.user_id: u for u in self.world.users}
        self.users_by_name = {u.username.lower(): u for u in self.world.users}
        self.tables: list[Table] = [self.catalog.table(name) for name in datagen.SERVED]
        self._divisions: dict[int, DivisionState] = {}
        self.stats = Stats()
        self._mutate_rng = np.random.default_rng(salt_for(self.seed, "mutate"))

    def division(self, code: int) -> DivisionState | None:
        """The state of a division, built on first use; None for a division that does not exist."""
        if code not in self.world.division_codes:
            return None
        state = self._divisions.get(code)
        if state is None:
            state = DivisionState(self.world.division(code), code, self.tables, self.seed)
            self._divisions[code] = state
        return state

    def info(self, base_url: str) -> dict:
        """What a client needs to connect: the app's credentials, the users and the divisions."""
        app = self.default_app
        return {
            "base_url": base_url,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": app.redirect_uris[0],
            "redirect_uris": list(app.redirect_uris),
            "users": [
                {
                    "username": u.username,
                    "password": u.password,
                    "user_id": u.user_id,
                    "full_name": u.full_name,
                    "divisions": list(u.divisions),
                }
                for u in self.world.users
            ],
            "divisions": list(self.world.division_codes),
            "size": self.size,
            "seed": self.seed,
            "time_scale": self.clock.scale,
        }

    def reset(self) -> None:
        """Back to the state just after start: data, settings, tokens, counters, faults and the request log."""
        with self.lock:
            self.settings.update(dataclasses.asdict(self._initial_settings))
            self.oauth.reset()
            self.rates.reset()
            self.errors.reset()
            self.faults.clear()
            self.requests.clear()
            self.login_tickets.clear()
            self._build_world()

    def handle(self, request: Request) -> Response:
        """Answers one request (the single entry point of both adapters)."""
        from exactsql.sandbox import auth_pages, control, rest

        path = request.path
        if path.startswith("/_sandbox/"):
            with self.lock:
                return control.handle(self, request)
        if path.rstrip("/") == "/api/oauth2/auth":
            with self.lock:
                return auth_pages.handle(self, request)
        token_endpoint = path.rstrip("/") == "/api/oauth2/token"
        if not token_endpoint and not path.startswith("/api/v1/"):
            return odata_error(
                404,
                "The resource you are looking for has been removed, had its name changed, or is temporarily unavailable.",
            )
        with self.lock:
            fault = self.faults.pick(path, token_endpoint, request.method)
            if fault is not None and fault.kind != "truncated" and fault.kind not in AFTER_WORK:
                return self._fault_response(request, fault.kind, fault.seconds)
            started = time.perf_counter()
            self._handling_since = (time.time(), self.clock.now())  # one request at a time, under the lock
            try:
                response = rest.token(self, request) if token_endpoint else rest.api(self, request)
            finally:
                self._handling_since = None
            if fault is not None:
                response = self._fault_response(request, fault.kind, fault.seconds, response)
            log.debug(
                "%s %s -> %s in %.1f ms",
                request.method,
                path,
                response.status,
                (time.perf_counter() - started) * 1e3,
            )
            return response

    def _fault_response(
        self, request: Request, kind: str, seconds: float, done: Response | None = None
    ) -> Response:
        self.stats.by_status[f"fault:{kind}"] += 1
        if kind in AFTER_WORK:
            self._mark_logged(request, kind)  # one request, logged once: with what was done, and unanswered
        else:
            self.log_request(
                request,
                0 if kind in ("timeout", "reset") else int(kind) if kind.isdigit() else 200,
                None,
                {"fault": kind},
            )
        if kind in ("500", "503"):
            return odata_error(
                int(kind), "An internal server error occurred." if kind == "500" else "Service Unavailable"
            )
        if kind == "429":  # as when other apps used up the division's minute: minutely headers, empty body
            headers = self.rates.minute_exhausted_headers() if "/api/v1/" in request.path else {}
            return Response(429, headers, b"")
        if kind == "truncated" and done is not None:
            return Response(done.status, done.headers, done.body[: max(1, len(done.body) // 2)])
        if kind in AFTER_WORK:  # the work is done; the connection drops before the answer
            return Response(0, {}, b"", fault="reset")
        return Response(0, {}, b"", fault=kind, fault_seconds=seconds)

    def _mark_logged(self, request: Request, kind: str) -> None:
        """Marks the log entry of ``request`` (the work was done, the answer is lost) with the fault."""
        for entry in itertools.islice(reversed(self.requests), 64):
            if entry["method"] == request.method and entry["path"] == request.path and "fault" not in entry:
                entry["fault"] = kind
                return
        self.log_request(request, 0, None, {"fault": kind})

    def log_request(
        self, request: Request, status: int, division: int | None, extra: dict | None = None
    ) -> None:
        """Adds a request to the log that ``/_sandbox/requests`` shows, with the time its handling began (when
        it was admitted to its rate window): real (``time``) and on the sandbox's clock (``clock``)."""
        params = request.params()
        real, clock = self._handling_since or (time.time(), self.clock.now())
        entry = {
            "time": real,
            "clock": clock,
            "method": request.method,
            "path": request.path,
            "query": {k: v for k, v in params.items() if k.startswith("$")},
            "division": division,
            "status": status,
        }
        if extra:
            entry.update(extra)
        self.requests.append(entry)

    def respond(self, response: Response) -> Response:
        """Counts a response by status (every API and token response passes here)."""
        self.stats.by_status[response.status] += 1
        return response


def json_ok(payload: object, headers: dict[str, str] | None = None) -> Response:
    """A 200 JSON response."""
    return json_response(200, payload, headers)

"""OAuth 2.0 rules of Exact Online: authorization codes, token chains, rotation and the 2021 limits."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from exactsql.sandbox.clock import SandboxClock
from exactsql.sandbox.limits import DAY
from exactsql.sandbox.settings import SandboxSettings


@dataclass
class App:
    """A registered app: what a user copies from Exact's App Center."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    name: str = "exactsql sandbox app"


@dataclass
class Chain:
    """One grant: the tokens that descend, by rotation, from one authorization code."""

    chain_id: str
    client_id: str
    user_id: str
    divisions: tuple[int, ...]
    refresh_token: str
    issued_at: float
    refresh_tokens_used: set[str] = field(default_factory=set)


@dataclass
class AccessToken:
    """An issued access token."""

    chain: Chain
    expires_at: float


@dataclass
class TokenResult:
    """The answer of the token endpoint: a status, a JSON body and extra headers."""

    status: int
    body: dict | str
    headers: dict[str, str] = field(default_factory=dict)
    error_kind: str | None = None  # old_refresh_token, too_early, limit_exceeded, other
    user_id: str | None = None
    chain: Chain | None = None


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    user_id: str
    divisions: tuple[int, ...]
    expires_at: float


def _us_time(epoch: float) -> str:
    """Exact's expiry message format: 10/11/2022 9:18:20 PM (US, no zone)."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return (
        f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} {suffix}"
    )


class OAuthServer:
    """Issues codes and tokens and validates access tokens, enforcing Exact's token rules."""

    def __init__(self, settings: SandboxSettings, clock: SandboxClock) -> None:
        self.settings = settings
        self.clock = clock
        self.apps: dict[str, App] = {}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, Chain] = {}
        self._access: dict[str, AccessToken] = {}
        self._calls: dict[tuple[str, str, int], int] = {}

    def register(self, app: App) -> None:
        """Registers (or replaces) an app."""
        self.apps[app.client_id.lower()] = app

    def app(self, client_id: str) -> App | None:
        """The app with this client id (braces and case ignored), or None."""
        key = client_id.lower()
        return (
            self.apps.get(key) or self.apps.get("{" + key.strip("{}") + "}") or self.apps.get(key.strip("{}"))
        )

    def issue_code(self, app: App, redirect_uri: str, user_id: str, divisions: tuple[int, ...]) -> str:
        """A single-use authorization code, as the consent page hands out."""
        code = "stampNL001." + secrets.token_urlsafe(18) + "!IAAA" + secrets.token_urlsafe(48)
        self._codes[code] = _Code(
            app.client_id, redirect_uri, user_id, divisions, self.clock.now() + self.settings.code_lifetime
        )
        return code

    def _count_call(self, client_id: str, user_id: str) -> bool:
        """Counts one token-endpoint call; False when the daily limit is already used up."""
        key = (client_id.lower(), user_id, int(self.clock.now() // DAY))
        used = self._calls.get(key, 0)
        if used >= self.settings.token_calls_per_day:
            return False
        self._calls[key] = used + 1
        return True

    def chain_of(self, refresh_token: str) -> Chain | None:
        """The grant a refresh token belongs to (current or old), or None."""
        return self._refresh.get(refresh_token)

    def token_calls_today(self, client_id: str, user_id: str) -> int:
        """Token-endpoint calls counted today for this app and user."""
        return self._calls.get((client_id.lower(), user_id, int(self.clock.now() // DAY)), 0)

    def _issue(self, chain: Chain) -> TokenResult:
        now = self.clock.now()
        access = "AAEA" + secrets.token_urlsafe(96)
        refresh = "Gcp7!IAAA" + secrets.token_urlsafe(64)
        self._access[access] = AccessToken(chain, now + self.settings.access_token_lifetime)
        chain.refresh_token = refresh
        chain.issued_at = now
        self._refresh[refresh] = chain
        expires_in = max(1, int(self.clock.real_duration(self.settings.access_token_lifetime)))
        body = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": str(expires_in),
            "refresh_token": refresh,
        }
        return TokenResult(200, body, user_id=chain.user_id, chain=chain)

    def token(self, form: dict[str, str]) -> TokenResult:
        """Answers ``POST /api/oauth2/token`` for the authorization_code and refresh_token grants.

        A client that is unknown or gives the wrong secret gets a bare ``invalid_client`` (laravel-exact-online
        #28 records ``{"error":"invalid_client"}``).
        """
        grant = form.get("grant_type", "")
        app = self.app(form.get("client_id", ""))
        if app is None:
            return TokenResult(400, {"error": "invalid_client"}, error_kind="other")
        if not secrets.compare_digest(form.get("client_secret", ""), app.client_secret):
            return TokenResult(400, {"error": "invalid_client"}, error_kind="other")
        if grant == "authorization_code":
            return self._code_grant(app, form)
        if grant == "refresh_token":
            return self._refresh_grant(app, form)
        return TokenResult(
            400,
            {"error": "unsupported_grant_type", "error_description": f"Grant type '{grant}'."},
            error_kind="other",
        )

    def _code_grant(self, app: App, form: dict[str, str]) -> TokenResult:
        code = self._codes.pop(form.get("code", ""), None)
        if code is None or code.client_id != app.client_id or code.expires_at < self.clock.now():
            return TokenResult(400, "Bad Request", error_kind="other")
        if form.get("redirect_uri", "") != code.redirect_uri:
            return TokenResult(400, "Bad Request", error_kind="other", user_id=code.user_id)
        if not self._count_call(app.client_id, code.user_id):
            return self._limit_exceeded(code.user_id)
        chain = Chain(secrets.token_hex(16), app.client_id, code.user_id, code.divisions, "", 0.0)
        return self._issue(chain)

    def _limit_exceeded(self, user_id: str) -> TokenResult:
        return TokenResult(
            400,
            {
                "error": "access_denied",
                "error_description": "Rate limit exceeded: token endpoint calls per day",
            },
            {"Reason": "TokenLimitExceeded: Maximum number of token endpoint calls per day exceeded"},
            error_kind="limit_exceeded",
            user_id=user_id,
        )

    def _refresh_grant(self, app: App, form: dict[str, str]) -> TokenResult:
        token = form.get("refresh_token", "")
        chain = self._refresh.get(token)
        if chain is None or chain.client_id != app.client_id:
            body = {
                "error": "invalid_grant",
                "error_description": "Token is not allowed, because of invalid or empty chainId",
            }
            return TokenResult(400, body, error_kind="other")
        if not self._count_call(app.client_id, chain.user_id):
            return self._limit_exceeded(chain.user_id)
        now = self.clock.now()
        if token != chain.refresh_token:
            body = {"error": "unauthorized_client", "error_description": "Old refresh token used."}
            return TokenResult(401, body, error_kind="old_refresh_token", user_id=chain.user_id)
        expires = chain.issued_at + self.settings.refresh_token_idle_lifetime
        if now > expires:
            text = f"The refresh token expired at {_us_time(expires)} and it is now {_us_time(now)}."
            body = {"error": "invalid_request", "error_description": text}
            return TokenResult(400, body, error_kind="other", user_id=chain.user_id)
        if now - chain.issued_at < self.settings.min_refresh_interval:
            text = "Rate limit exceeded: access_token not expired"
            return TokenResult(
                400,
                {"error": "access_denied", "error_description": text},
                {"Reason": f"TooEarlyToRefreshTokens: {text}"},
                error_kind="too_early",
                user_id=chain.user_id,
            )
        return self._issue(chain)

    def authenticate(self, header: str | None) -> tuple[AccessToken | None, str | None]:
        """The access token of an ``Authorization: Bearer`` header, and why it is refused (or None)."""
        if not header or not header.lower().startswith("bearer "):
            return None, "missing"
        token = self._access.get(header[7:].strip())
        if token is None:
            return None, "invalid"
        if token.expires_at <= self.clock.now():
            return token, "expired"
        return token, None

    def prune(self) -> None:
        """Drops access tokens that expired long ago (keeps memory flat in long runs)."""
        horizon = self.clock.now() - 2 * self.settings.access_token_lifetime
        self._access = {k: v for k, v in self._access.items() if v.expires_at > horizon}

    def reset(self) -> None:
        """Forgets codes, tokens and counters (apps stay registered)."""
        self._codes.clear()
        self._refresh.clear()
        self._access.clear()
        self._calls.clear()

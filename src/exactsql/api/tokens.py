"""The token broker: one OAuth token chain per (base URL, client id, Exact user), shared through the state store.

Fast path: a cached access token that is not yet due for refresh. Otherwise: lock → re-read → refresh only
if still needed → compare-and-set on the version → persist the new pair before anyone uses it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from exactsql.api.budget import TokenCallBudget
from exactsql.api.clock import StoreClock
from exactsql.errors import ChainBrokenError, ConfigError, ExactSQLError, TokenBudgetError
from exactsql.failpoints import failpoint
from exactsql.secretbox import SecretBox
from exactsql.state import StateStore

log = logging.getLogger(__name__)

#: Exact allows a refresh 570 s into a 600 s token's life: the same share of whatever lifetime it reports.
MIN_REFRESH_SHARE = 570 / 600
#: Exact's idle lifetime of a refresh token, in units of the access token's nominal 600 s life.
REFRESH_IDLE_LIFETIMES = 30 * 86400 / 600
WARN_IDLE_SHARE = 25 / 30
TOKEN_RETRIES = 3


@dataclass
class TokenChain:
    """The current pair of a chain and when it was issued (on the store's clock)."""

    version: int
    base_url: str
    client_id: str
    user_id: str
    access_token: str
    refresh_token: str
    lifetime: float
    sent_at: float
    received_at: float
    broken: str | None = None

    @property
    def expires_at(self) -> float:
        """When the access token expires (counted from when the request was sent: never later than Exact)."""
        return self.sent_at + self.lifetime

    @property
    def earliest_refresh(self) -> float:
        """The first moment Exact accepts a refresh (counted from when the answer came: never earlier)."""
        return self.received_at + self.lifetime * MIN_REFRESH_SHARE

    @property
    def refresh_at(self) -> float:
        """When to refresh: shortly before expiry, and safely after the earliest allowed moment."""
        margin = min(30.0, self.lifetime * 0.025)
        return max(self.earliest_refresh + self.lifetime * 0.005, self.expires_at - margin)

    @property
    def refresh_expires_at(self) -> float:
        """When the refresh token expires if it is not used (30 days at Exact's time scale)."""
        return self.received_at + self.lifetime * REFRESH_IDLE_LIFETIMES

    def to_bytes(self, box: SecretBox) -> bytes:
        """Encrypted for the store."""
        return box.encrypt(orjson.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_bytes(cls, raw: bytes, box: SecretBox) -> TokenChain:
        """Decrypted from the store."""
        return cls(**orjson.loads(box.decrypt(raw)))


class _RotatedElsewhere(Exception):
    """Another process refreshed the chain first; its pair is the one to use."""

    def __init__(self, chain: TokenChain) -> None:
        self.chain = chain


def chain_key(base_url: str, client_id: str, user_id: str) -> str:
    """The store key of a chain."""
    return f"chain:{base_url}|{client_id.lower()}|{user_id.lower()}"


class TokenBroker:
    """Hands out valid access tokens for one chain to any number of threads, processes and machines."""

    def __init__(
        self,
        store: StateStore,
        box: SecretBox,
        http: httpx.Client,
        base_url: str,
        client_id: str,
        user_id: str,
        client_secret: Callable[[], str],
        token_calls: TokenCallBudget,
        connection_name: str,
        clock: StoreClock | None = None,
    ) -> None:
        self.store = store
        self.box = box
        self.http = http
        self.base_url = base_url
        self.client_id = client_id
        self.user_id = user_id
        self.client_secret = client_secret
        self.token_calls = token_calls
        self.connection_name = connection_name
        self.clock = clock or StoreClock(store)
        self.key = chain_key(base_url, client_id, user_id)
        self._cached: TokenChain | None = None
        self.refreshes = 0

    def _login_hint(self) -> str:
        return f"Run `exactsql login {self.connection_name}` to sign in again."

    def read(self) -> TokenChain | None:
        """The chain as the store has it now."""
        raw = self.store.get(self.key)
        return TokenChain.from_bytes(raw, self.box) if raw else None

    def _usable(self, chain: TokenChain | None) -> TokenChain:
        if chain is None:
            raise ChainBrokenError(
                f"There is no token chain for connection {self.connection_name!r} yet.", self._login_hint()
            )
        if chain.broken:
            raise ChainBrokenError(f"The token chain is broken: {chain.broken}.", self._login_hint())
        return chain

    def access_token(self) -> str:
        """A valid access token, refreshing the chain (once, for everyone) when it is due."""
        cached = self._cached
        if cached is not None and self.clock.now() < cached.refresh_at:
            return cached.access_token
        chain = self._usable(self.read())
        if self.clock.now() < chain.refresh_at:
            self._cached = chain
            return chain.access_token
        return self.refresh().access_token

    def refresh(self, force: bool = False) -> TokenChain:
        """Refreshes under the chain's lock unless another process already did (``force``: due or not)."""
        with self.store.lock(self.key, timeout=60):
            failpoint("refresh_lock_held")
            chain = self._usable(self.read())
            now = self.clock.now()
            if not force and now < chain.refresh_at:
                self._cached = chain
                return chain
            self._warn_if_idle(chain, now)
            self.token_calls.check()  # refuse before waiting, not after
            if now < chain.earliest_refresh:
                wait = chain.earliest_refresh - now
                log.info("waiting %.1f s until Exact allows the next refresh", wait)
                time.sleep(wait)
            try:
                new = self._call_refresh(chain)
            except _RotatedElsewhere as exc:
                self._cached = exc.chain
                return exc.chain
            self._store(chain, new)
            failpoint("token_stored")
            self._cached = new
            self.refreshes += 1
            return new

    def _warn_if_idle(self, chain: TokenChain, now: float) -> None:
        idle = now - chain.received_at
        lifetime = chain.refresh_expires_at - chain.received_at
        if idle > lifetime * WARN_IDLE_SHARE:
            days = 30 * (chain.refresh_expires_at - now) / lifetime
            log.warning(
                "the refresh token of %r was idle for %.0f%% of its 30-day life (%.1f days left); schedule "
                "`exactsql keepalive %s` so that it never expires",
                self.connection_name,
                100 * idle / lifetime,
                max(days, 0),
                self.connection_name,
            )

    def _store(self, old: TokenChain, new: TokenChain) -> None:
        """Compare-and-set: the new pair replaces exactly the version it was refreshed from."""

        def swap(raw: bytes | None) -> tuple[bytes | None, bool]:
            current = TokenChain.from_bytes(raw, self.box) if raw else None
            if current is None or current.version != old.version:
                return raw, False
            return new.to_bytes(self.box), True

        if not self.store.update(self.key, swap):
            raise ExactSQLError(
                "The token chain changed while this process held its lock (the lock was lost).",
                "Check that every process uses the same state store.",
            )

    def _mark_broken(self, chain: TokenChain, reason: str) -> None:
        broken = dataclasses.replace(chain, version=chain.version + 1, broken=reason)
        self._store(chain, broken)
        self._cached = None

    def _call_refresh(self, chain: TokenChain) -> TokenChain:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": chain.refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret(),
        }
        for attempt in range(TOKEN_RETRIES):
            self.token_calls.spend()
            sent = self.clock.now()
            try:
                response = self.http.post(f"{self.base_url}/api/oauth2/token", data=form)
            except httpx.TransportError as exc:
                log.warning("token endpoint unreachable (%s); retry %d", type(exc).__name__, attempt + 1)
                time.sleep(0.5 * 2**attempt)
                continue
            received = self.clock.now()
            failpoint("token_response_received")
            if response.status_code == 200:
                body = response.json()
                return dataclasses.replace(
                    chain,
                    version=chain.version + 1,
                    access_token=body["access_token"],
                    refresh_token=body["refresh_token"],
                    lifetime=float(body["expires_in"]),
                    sent_at=sent,
                    received_at=received,
                )
            if response.status_code >= 500:
                time.sleep(0.5 * 2**attempt)
                continue
            return self._refused(chain, response)
        raise ExactSQLError(
            f"The token endpoint did not answer after {TOKEN_RETRIES} tries.",
            "The access token stays valid until it expires; try again shortly.",
        )

    def _refused(self, chain: TokenChain, response: httpx.Response) -> TokenChain:
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text.strip()}
        error, description = body.get("error", ""), body.get("error_description", "")
        reason = response.headers.get("Reason", "")
        if response.status_code == 401 and "old refresh token" in description.lower():
            current = self.read()
            if current is not None and current.version != chain.version and not current.broken:
                raise _RotatedElsewhere(current)  # another process rotated it: use theirs
            self._mark_broken(chain, "Exact says the refresh token was already used (Old refresh token used)")
            raise ChainBrokenError("The refresh token was already used elsewhere.", self._login_hint())
        if reason.startswith("TokenLimitExceeded"):
            raise TokenBudgetError(
                "Exact refused the refresh: the daily limit of token calls for this app and user is used up.",
                "Tokens can be refreshed again after 00:00 UTC.",
            )
        if reason.startswith("TooEarlyToRefreshTokens"):
            raise ExactSQLError(
                "Exact refused the refresh as too early (the clocks disagree).",
                "The current access token stays valid; check this machine's clock.",
            )
        if error == "invalid_client":
            raise ConfigError(
                "Exact refused the app's client ID or secret.",
                f"Re-enter them with `exactsql connection add {self.connection_name} …`.",
            )
        self._mark_broken(chain, f"{error}: {description}".strip(": "))
        raise ChainBrokenError(f"Exact refused the refresh: {description or error}.", self._login_hint())

"""The token broker: one OAuth token chain per (base URL, client id, Exact user), shared through the state store.

Fast path: a cached access token that is not yet due for refresh. Otherwise: lock → re-read → refresh only
if still needed → compare-and-set → persist the new pair before anyone uses it. A refusal of the token
endpoint that is not final (too early, the day's limit, a block, a bare 429, an outage) becomes a *hold*
shared by every process: the current token is used while it is valid, and nobody asks again before the
hold ends. Only "Old refresh token used" with no newer pair in sight, an invalid grant or an expired refresh
token break the chain. See ``docs/design/tokens-and-budgets.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import httpx
import orjson

from exactsql.api.budget import TokenCallBudget
from exactsql.api.clock import StoreClock
from exactsql.api.error_budget import ErrorBudget
from exactsql.api.rescue import RescueFile
from exactsql.errors import (
    ChainBrokenError,
    ConfigError,
    ErrorBudgetError,
    ExactSQLError,
    TokenBudgetError,
)
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
#: The token endpoint in the error budget (division None), as Exact counts it.
TOKEN_ENDPOINT = "oauth2/token"
#: How long a process that got "Old refresh token used" looks for the newer pair before it calls the chain
#: broken: the process that refreshed may be storing it right now, or retrying through a store outage (a
#: store that has just come back takes seconds before every pooled connection is usable again).
OLD_TOKEN_GRACE = 15.0
#: How long a refresh whose answer cannot be stored keeps trying the store (the pair is held in memory and
#: in a rescue file meanwhile).
STORE_RETRY_DEADLINE = 300.0
#: The longest a call waits for a hold to end when its token has expired; longer holds are errors.
MAX_HOLD_WAIT = 120.0


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
        """When to refresh: shortly before expiry, and safely after the earliest allowed moment.

        When the answer that issued the pair took so long that no moment is both (the token was issued
        somewhere between sending and receiving), the refresh is planned from the middle of that span, still
        before expiry; a "too early" then is a short hold, not an expired token.
        """
        margin = min(30.0, self.lifetime * 0.025)
        planned = max(self.earliest_refresh + self.lifetime * 0.005, self.expires_at - margin)
        if planned < self.expires_at:
            return planned
        middle = (self.sent_at + self.received_at) / 2
        return min(middle + self.lifetime * (1 + MIN_REFRESH_SHARE) / 2, self.expires_at - 0.1)

    @property
    def refresh_expires_at(self) -> float:
        """When the refresh token expires if it is not used (30 days at Exact's time scale)."""
        return self.received_at + self.lifetime * REFRESH_IDLE_LIFETIMES

    def to_bytes(self, box: SecretBox) -> bytes:
        """Encrypted for the store."""
        return box.encrypt(orjson.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_bytes(cls, raw: bytes, box: SecretBox) -> TokenChain:
        """Decrypted from the store; ValueError when the value is not a chain this key can read."""
        try:
            return cls(**orjson.loads(box.decrypt(raw)))
        except (ConfigError, TypeError, orjson.JSONDecodeError) as exc:
            raise ValueError(str(exc)) from None


@dataclass
class Hold:
    """No refresh before ``until``: Exact refused one for a reason that passes."""

    until: float
    reason: str
    hint: str
    kind: str  # too_early, day_limit, blocked, throttled, unavailable, refused

    def error(self) -> ExactSQLError:
        """The error for a call whose token expired during the hold."""
        cls = TokenBudgetError if self.kind == "day_limit" else ExactSQLError
        return cls(self.reason, self.hint)


class _RotatedElsewhere(Exception):
    """Another process refreshed the chain first; its pair is the one to use."""

    def __init__(self, chain: TokenChain) -> None:
        self.chain = chain


class _Refused(Exception):
    """Exact refused the refresh for now; the hold says until when."""

    def __init__(self, hold: Hold) -> None:
        self.hold = hold


def chain_key(base_url: str, client_id: str, user_id: str) -> str:
    """The store key of a chain."""
    return f"chain:{base_url}|{client_id.lower()}|{user_id.lower()}"


def _next_utc_midnight(now: float) -> float:
    day = dt.datetime.fromtimestamp(now, dt.UTC).date() + dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def _hhmm(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S UTC")


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
        errors: ErrorBudget | None = None,
        rescue_dir: Path | None = None,
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
        self.errors = errors
        self.key = chain_key(base_url, client_id, user_id)
        self.hold_key = f"refresh-hold:{self.key}"
        self.rescue = RescueFile(rescue_dir, self.key, box) if rescue_dir is not None else None
        self._cached: TokenChain | None = None
        self._rescue_checked = False
        self.refreshes = 0

    def _login_hint(self) -> str:
        return f"Run `exactsql login {self.connection_name}` to sign in again."

    def read(self) -> TokenChain | None:
        """The chain as the store has it now; ChainBrokenError when the stored value cannot be read."""
        raw = self.store.get(self.key)
        if not raw:
            return None
        try:
            return TokenChain.from_bytes(raw, self.box)
        except ValueError:
            raise ChainBrokenError(
                f"The stored token chain of connection {self.connection_name!r} is corrupt: it cannot be "
                "decrypted with this machine's key or read.",
                f"Run `exactsql login {self.connection_name}` to replace it.",
            ) from None

    def _usable(self, chain: TokenChain | None) -> TokenChain:
        if chain is None:
            raise ChainBrokenError(
                f"There is no token chain for connection {self.connection_name!r} yet.", self._login_hint()
            )
        if chain.broken:
            raise ChainBrokenError(f"The token chain is broken: {chain.broken}.", self._login_hint())
        return chain

    # -- holds ---------------------------------------------------------------------------------------

    def hold(self) -> Hold | None:
        """The hold in force, if any."""
        raw = self.store.get(self.hold_key)
        if not raw:
            return None
        hold = Hold(**orjson.loads(raw))
        return hold if hold.until > self.clock.now() else None

    def _set_hold(self, hold: Hold) -> None:
        self.store.update(self.hold_key, lambda _: (orjson.dumps(dataclasses.asdict(hold)), None))
        log.warning("no token refresh until %s: %s", _hhmm(hold.until), hold.reason)

    def clear_hold(self) -> None:
        """Lifts a hold (after a new login)."""
        self.store.update(self.hold_key, lambda _: (None, None))

    def _wait_out(self, hold: Hold) -> None:
        wait = hold.until - self.clock.now()
        if wait > MAX_HOLD_WAIT:
            raise hold.error()
        log.info("waiting %.1f s until a refresh is allowed again: %s", wait, hold.reason)
        time.sleep(max(0.0, wait))

    # -- tokens --------------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access token, refreshing the chain (once, for everyone) when it is due."""
        cached = self._cached
        if cached is not None and self.clock.now() < cached.refresh_at:
            return cached.access_token
        if not self._rescue_checked:
            self._recover_rescued()
        chain = self._usable(self.read())
        now = self.clock.now()
        if now < chain.refresh_at:
            self._cached = chain
            return chain.access_token
        hold = self.hold()
        if hold is not None:
            if now < chain.expires_at:
                return chain.access_token  # still valid: used while the hold lasts
            self._wait_out(hold)
        return self.refresh().access_token

    def renew(self, used_token: str, www_authenticate: str = "") -> str:
        """After a 401 for ``used_token``: the newer token another process stored, or one refresh now (Exact's
        clock may have jumped ahead of ours, and then allows it before we would)."""
        if "expired" in unquote(www_authenticate).lower():
            log.warning("Exact says the access token expired before its time here: renewing it once")
        hold = self.hold()
        if hold is not None:
            self._wait_out(hold)  # the token does not work: wait for the hold to end, or say why not
        with self.store.lock(self.key, timeout=60):
            self._recover_rescued()  # a pair kept through an outage is newer than the one that got the 401
            chain = self._usable(self.read())
            if chain.access_token != used_token:
                self._cached = chain
                return chain.access_token
            return self._refresh_locked(chain, force=True, early=True).access_token

    def refresh(self, force: bool = False) -> TokenChain:
        """Refreshes under the chain's lock unless another process already did (``force``: due or not)."""
        with self.store.lock(self.key, timeout=60):
            failpoint("refresh_lock_held")
            self._recover_rescued()
            chain = self._usable(self.read())
            return self._refresh_locked(chain, force=force)

    def _refresh_locked(self, chain: TokenChain, force: bool, early: bool = False) -> TokenChain:
        now = self.clock.now()
        if not force and now < chain.refresh_at:
            self._cached = chain
            return chain
        hold: Hold | None = None
        try:
            hold = self.hold()
            if hold is not None:
                raise _Refused(hold)
            self._warn_if_idle(chain, now)
            self._check_token_calls()  # refuse before waiting, not after
            if not early and now < chain.earliest_refresh < chain.expires_at:
                wait = chain.earliest_refresh - now
                log.info("waiting %.1f s until Exact allows the next refresh", wait)
                time.sleep(wait)
            new = self._call_refresh(chain)
        except _RotatedElsewhere as exc:
            self._cached = exc.chain
            return exc.chain
        except _Refused as exc:
            if exc.hold is not hold:
                self._set_hold(exc.hold)
            if not force and self.clock.now() < chain.expires_at:
                return chain  # the current token stays valid for now; nobody asks again before the hold ends
            raise exc.hold.error() from None
        new = self._persist(chain, new)
        failpoint("token_stored")
        self._cached = new
        self.refreshes += 1
        return new

    def _check_token_calls(self) -> None:
        try:
            self.token_calls.check()
        except TokenBudgetError as exc:
            raise _Refused(
                Hold(_next_utc_midnight(self.clock.now()), exc.message, exc.hint, "day_limit")
            ) from None

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

    # -- storing -------------------------------------------------------------------------------------

    def _store(self, old: TokenChain, new: TokenChain) -> None:
        """Compare-and-set: the new pair replaces the chain while it still holds the refresh token it came
        from (a mark of "broken" set meanwhile included: the new pair is the valid successor)."""

        def swap(raw: bytes | None) -> tuple[bytes | None, bool]:
            try:
                current = TokenChain.from_bytes(raw, self.box) if raw else None
            except ValueError:
                current = None
            if current is not None and current.refresh_token == new.refresh_token:
                return raw, True  # stored already (from this machine's rescue file, by another process)
            if current is None or current.refresh_token != old.refresh_token:
                return raw, False
            if current.version != old.version and not current.broken:
                return raw, False
            stored = dataclasses.replace(new, version=max(new.version, current.version + 1), broken=None)
            return stored.to_bytes(self.box), True

        if not self.store.update(self.key, swap):
            raise ExactSQLError(
                "The token chain changed while this process held its lock (the lock was lost).",
                "Check that every process uses the same state store.",
            )

    def _persist(self, old: TokenChain, new: TokenChain) -> TokenChain:
        """Stores the new pair before anything else can fail: while the store is down it is held in memory
        and in an encrypted rescue file, and the store write is retried until it is back. Returns the pair to
        use: the new one, or a newer one that another process stored from the rescue file meanwhile."""
        try:
            self._store(old, new)
            return new
        except ExactSQLError:
            raise
        except Exception as exc:
            failure = exc
        where = self.rescue.write(old.refresh_token, new) if self.rescue is not None else None
        log.warning(
            "the state store failed while storing the new token pair (%s); keeping it in memory%s and "
            "retrying",
            type(failure).__name__,
            f" and in {where}" if where else "",
        )
        deadline = time.monotonic() + STORE_RETRY_DEADLINE
        delay = 0.1
        while True:
            time.sleep(delay)
            delay = min(1.0, delay * 1.5)
            try:
                self._store(old, new)
            except ExactSQLError:
                current = self.read()
                if current is None or current.broken or current.version <= new.version:
                    raise
                if self.rescue is not None:
                    self.rescue.remove()
                log.warning("the store is back; another process had stored this pair and refreshed since")
                return current
            except Exception as exc:
                if time.monotonic() < deadline:
                    continue
                self._cached = new  # this process goes on with it
                raise ExactSQLError(
                    f"The state store is unreachable ({type(exc).__name__}); the new token pair could not be "
                    "stored.",
                    "It is kept in a rescue file on this machine: the next exactsql process here stores it "
                    "once the store is back."
                    if where
                    else "Bring the store back; other processes will need a new login if this one stops.",
                ) from None
            if self.rescue is not None:
                self.rescue.remove()
            log.warning("the new token pair is stored; the store is back")
            return new

    def _recover_rescued(self) -> None:
        """Stores a pair that an earlier process on this machine could not store (the store was down)."""
        self._rescue_checked = True
        if self.rescue is None:
            return
        found = self.rescue.read()
        if found is None:
            return
        refreshed_from, new = found
        current = self.read()
        if current is not None and current.refresh_token == refreshed_from:
            self._store(current, new)
            log.warning("stored the token pair that was kept in a rescue file during a store outage")
        self.rescue.remove()

    def _mark_broken(self, chain: TokenChain, reason: str) -> None:
        broken = dataclasses.replace(chain, version=chain.version + 1, broken=reason)

        def mark(raw: bytes | None) -> tuple[bytes | None, None]:
            try:
                current = TokenChain.from_bytes(raw, self.box) if raw else None
            except ValueError:
                current = None
            if current is not None and current.version != chain.version:
                return raw, None  # a newer pair arrived after all: leave it
            return broken.to_bytes(self.box), None

        self.store.update(self.key, mark)
        self._cached = None

    # -- the token endpoint --------------------------------------------------------------------------

    def _check_errors(self) -> None:
        """Refuses a token call at the error reserve or while Exact blocks the token endpoint. No slot is
        held while the call is in flight: token calls of a chain are one at a time (under its lock), and a
        process killed mid-refresh must not hold a slot that others wait for."""
        if self.errors is None:
            return
        try:
            self.errors.check(None, TOKEN_ENDPOINT)
        except ErrorBudgetError as exc:
            hour = (dt.datetime.fromtimestamp(self.clock.now(), dt.UTC) + dt.timedelta(hours=1)).replace(
                minute=0, second=0, microsecond=0
            )
            raise _Refused(Hold(hour.timestamp(), exc.message, exc.hint, "blocked")) from None

    def _count_error(self, status: int) -> None:
        if self.errors is not None:
            self.errors.record(status, None, TOKEN_ENDPOINT)

    def _call_refresh(self, chain: TokenChain) -> TokenChain:
        """The new pair (refusals raise what they mean: see :meth:`_refused`)."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": chain.refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret(),
        }
        for attempt in range(TOKEN_RETRIES):
            self._check_errors()
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
                new = dataclasses.replace(
                    chain,
                    version=chain.version + 1,
                    access_token=body["access_token"],
                    refresh_token=body["refresh_token"],
                    lifetime=float(body["expires_in"]),
                    sent_at=sent,
                    received_at=received,
                )
                return new
            self._count_error(response.status_code)
            if response.status_code >= 500:
                time.sleep(0.5 * 2**attempt)
                continue
            self._refused(chain, response)
        raise _Refused(
            Hold(
                self.clock.now() + self._scaled(chain, 60),
                f"The token endpoint did not answer after {TOKEN_RETRIES} tries.",
                "The access token stays valid until it expires; exactsql tries again in a minute.",
                "unavailable",
            )
        )

    @staticmethod
    def _scaled(chain: TokenChain, seconds: float) -> float:
        """``seconds`` of Exact's time at the chain's time scale (a 600 s token: as is)."""
        return seconds * chain.lifetime / 600

    def _refused(self, chain: TokenChain, response: httpx.Response) -> None:
        """Raises what a refusal of the token endpoint means: another's pair, a hold, or a broken chain."""
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text.strip()}
        if not isinstance(body, dict):
            body = {"error": str(body)}
        error, description = str(body.get("error", "")), str(body.get("error_description", ""))
        reason = response.headers.get("Reason", "")
        now = self.clock.now()
        if response.status_code == 401 and "old refresh token" in description.lower():
            newer = self._newer_pair(chain)
            if newer is not None:
                raise _RotatedElsewhere(newer)  # another process rotated it: use theirs
            self._mark_broken(chain, "Exact says the refresh token was already used (Old refresh token used)")
            raise ChainBrokenError("The refresh token was already used elsewhere.", self._login_hint())
        if error == "invalid_grant" or (error == "invalid_request" and "expired" in description.lower()):
            self._mark_broken(chain, f"{error}: {description}".strip(": "))
            raise ChainBrokenError(f"Exact refused the refresh: {description or error}.", self._login_hint())
        if response.status_code == 429:
            if reason.startswith("ErrorLimitExceeded") and self.errors is not None:
                until = self.errors.block(None, TOKEN_ENDPOINT)
                raise _Refused(
                    Hold(
                        until,
                        "Exact has blocked this app's token endpoint after too many error responses this hour.",
                        f"Refreshes resume at {_hhmm(until)}; the current token is used while it is valid.",
                        "blocked",
                    )
                )
            retry_after = response.headers.get("Retry-After", "")
            wait = float(retry_after) if retry_after.isdigit() else self._scaled(chain, 60)
            raise _Refused(
                Hold(
                    now + wait,
                    "Exact's token endpoint answered 429 (too many requests).",
                    "exactsql waits before it asks again; the current token is used while it is valid.",
                    "throttled",
                )
            )
        if reason.startswith("TokenLimitExceeded"):
            raise _Refused(
                Hold(
                    _next_utc_midnight(now),
                    "Exact refused the refresh: the daily limit of token calls for this app and user is used up.",
                    "Tokens can be refreshed again after 00:00 UTC; the chain stays valid.",
                    "day_limit",
                )
            )
        if reason.startswith("TooEarlyToRefreshTokens"):
            raise _Refused(
                Hold(
                    now + self._scaled(chain, 30),
                    "Exact refused the refresh as too early (its clock and this machine's disagree).",
                    "exactsql tries again shortly; check this machine's clock if this repeats.",
                    "too_early",
                )
            )
        if error == "invalid_client":
            raise _Refused(
                Hold(
                    now + self._scaled(chain, 60),
                    "Exact refused the app's client ID or secret.",
                    f"Re-enter them with `exactsql connection add {self.connection_name} …`.",
                    "refused",
                )
            )
        raise _Refused(
            Hold(
                now + self._scaled(chain, 60),
                f"Exact refused the refresh ({response.status_code}): {description or error or 'no reason given'}.",
                "exactsql tries again in a minute; the chain is kept.",
                "refused",
            )
        )

    def _newer_pair(self, chain: TokenChain) -> TokenChain | None:
        """A pair newer than ``chain`` in the store or in this machine's rescue file, looked for a few seconds
        (the process that refreshed may be storing it now)."""
        deadline = time.monotonic() + OLD_TOKEN_GRACE
        while True:
            self._recover_rescued()
            current = self.read()
            if current is not None and current.refresh_token != chain.refresh_token and not current.broken:
                return current
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

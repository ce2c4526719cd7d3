"""Everything one connection needs in this process: store, key, HTTP, token broker, budgets, login, status."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import secrets
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import httpx
import orjson

from exactsql.api import credentials
from exactsql.api import login as oauth
from exactsql.api.budget import RateBudget, TokenCallBudget
from exactsql.api.client import ExactClient, error_message
from exactsql.api.clock import StoreClock
from exactsql.api.error_budget import ErrorBudget
from exactsql.api.login import TokenGrant
from exactsql.api.tokens import TokenBroker, TokenChain, chain_key
from exactsql.catalog import load_catalog
from exactsql.config import Config, Connection, secret_box
from exactsql.config import home as config_home
from exactsql.errors import ChainBrokenError, ConfigError, LoginError
from exactsql.secretbox import SecretBox
from exactsql.state import StateStore, open_store

log = logging.getLogger(__name__)


#: How long the division list and ``current/Me`` are served from the state store by default (seconds).
LISTS_MAX_AGE = 3600.0


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


@dataclass
class Session:
    """One connection, ready to call Exact Online within every budget."""

    connection: Connection
    config: Config
    store: StateStore
    box: SecretBox
    http: httpx.Client
    base_url: str
    clock: StoreClock
    _memo: dict[str, tuple[float, list[bytes]]] = field(default_factory=dict)

    @cached_property
    def token_calls(self) -> TokenCallBudget:
        """Token-endpoint calls of this app and user today."""
        return TokenCallBudget(
            self.store,
            self.connection.client_id,
            self._user(),
            self.connection.token_calls_per_day,
            self.clock,
        )

    @cached_property
    def rates(self) -> RateBudget:
        """The rate windows of this app per division."""
        c = self.connection
        return RateBudget(self.store, c.client_id, c.minutely_limit, c.daily_limit, self.clock)

    @cached_property
    def errors(self) -> ErrorBudget:
        """The error budget of this app and user."""
        c = self.connection
        return ErrorBudget(self.store, c.client_id, self._user(), c.error_limit, c.error_reserve, self.clock)

    @cached_property
    def broker(self) -> TokenBroker:
        """The token broker of this connection's chain."""
        return TokenBroker(
            self.store,
            self.box,
            self.http,
            self.base_url,
            self.connection.client_id,
            self._user(),
            self.client_secret,
            self.token_calls,
            self.connection.name,
            self.clock,
            self.errors,
            None if self.connection.in_process_sandbox else config_home(),
        )

    def client_secret(self) -> str:
        """The app's client secret (decrypted on demand, never kept)."""
        return credentials.load_client_secret(self.store, self.box, self.connection)

    def _user(self) -> str:
        user = credentials.load_user(self.store, self.connection)
        if user is None:
            if self.connection.in_process_sandbox:
                self.login()
                user = credentials.load_user(self.store, self.connection)
            if user is None:
                raise ChainBrokenError(
                    f"Connection {self.connection.name!r} has not logged in yet.",
                    f"Run `exactsql login {self.connection.name}`.",
                )
        return user

    def client(
        self,
        on_wait: Callable[[float, str], None] | None = None,
        before_call: Callable[[], None] | None = None,
    ) -> ExactClient:
        """An API client on this connection (see :class:`ExactClient` for the callbacks)."""
        return ExactClient(
            self.http, self.base_url, self.broker, self.rates, self.errors, on_wait, before_call
        )

    # -- what the chain's user sees: current/Me and the division list, kept in the store ---------------

    def _kept_key(self, what: str) -> str:
        return f"kept-{what}:{chain_key(self.base_url, self.connection.client_id, self._user())}"

    def kept(self, what: str, max_age: float | None = None) -> list[bytes] | None:
        """The answer bodies stored by :meth:`keep` (``me``, ``divisions``) if younger than ``max_age``
        (default: the connection's ``divisions_max_age``); None when absent, older, or unreadable."""
        age = self.connection.divisions_max_age if max_age is None else max_age
        memo = self._memo.get(what)
        now = self.clock.now()
        if memo is None or now - memo[0] > age:
            raw = self.store.get(self._kept_key(what))
            if not raw:
                return None
            try:
                data = orjson.loads(self.box.decrypt(raw))
            except (ConfigError, orjson.JSONDecodeError):
                return None
            memo = (float(data["at"]), [b.encode() for b in data["bodies"]])
            self._memo[what] = memo
        at, bodies = memo
        return bodies if now - at <= age else None

    def keep(self, what: str, bodies: list[bytes]) -> None:
        """Stores answer bodies for every process of this chain's user (encrypted: they name companies)."""
        at = self.clock.now()
        value = self.box.encrypt(orjson.dumps({"at": at, "bodies": [b.decode() for b in bodies]}))
        self.store.update(self._kept_key(what), lambda _: (value, None))
        self._memo[what] = (at, list(bodies))

    def forget(self, what: str) -> None:
        """Drops a kept answer (the next use asks Exact again)."""
        self._memo.pop(what, None)
        self.store.update(self._kept_key(what), lambda _: (None, None))

    def division_list(self, client: ExactClient, division: int, max_age: float | None = None) -> list[bytes]:
        """The pages of ``system/Divisions`` (every column), kept with the chain as :meth:`me` is. Exact
        charges a call to the division in its URL, and the list is the same through any division the user
        can use: the first page goes through ``division``, each next one through an active, unblocked division
        the page before named, so a list of a thousand divisions costs no division's minute window more than one call."""
        kept = self.kept("divisions", max_age)
        if kept is not None:
            return kept
        url: str | None = client.url(DIVISION_LIST, division)
        params: dict[str, str] | None = {"$select": ",".join(division_list_columns())}
        used = {division}
        pages: list[bytes] = []
        while url:
            body, url = client.page(url, params)
            params = None
            pages.append(body)
            other = next((code for code in _open_divisions(body) if code not in used), None)
            if url is not None and other is not None:
                used.add(other)
                url = re.sub(r"(/api/v1/)\d+(/)", rf"\g<1>{other}\g<2>", url, count=1)
        self.keep("divisions", pages)
        return pages

    def me(self, client: ExactClient, max_age: float | None = None) -> dict:
        """``current/Me`` of the chain's user: asked once per login and kept with the chain (in the store for
        every process, for ``max_age`` or the connection's ``divisions_max_age``); ``client`` makes the call
        when it is needed."""
        kept = self.kept("me", max_age)
        if kept is None:
            body = client.request("GET", "current/Me").content
            self.keep("me", [body])
            kept = [body]
        return dict(orjson.loads(kept[0])["d"]["results"][0])

    # -- login ---------------------------------------------------------------------------------------

    def _pending_key(self) -> str:
        return f"pending-login:{self.connection.base_url}|{self.connection.client_id.lower()}|{self.connection.name}"

    def login_url(self) -> str:
        """Starts a two-step login for scripts: the URL to open; its state is kept in the store for 10 minutes."""
        state = oauth.new_state()
        expires = self.clock.now() + 600
        self.store.update(self._pending_key(), lambda _: (f"{state}|{expires}".encode(), None))
        return oauth.authorize_url(self.connection, self.base_url, state)

    def _pending_state(self) -> str:
        raw = self.store.get(self._pending_key())
        if raw:
            state, _, expires = raw.decode().partition("|")
            if float(expires) > self.clock.now():
                return state
        raise LoginError(
            "There is no login waiting for a redirected URL (or it is older than 10 minutes).",
            f"Run `exactsql login {self.connection.name} --print-url` first, open that URL, then pass the redirect.",
        )

    def login(
        self,
        redirected_url: str | None = None,
        browser: bool = True,
        user: str | None = None,
        prompt: Callable[[str], str] | None = None,
        timeout: float = 300.0,
        open_browser: Callable[[str], object] | None = None,
        auto_sandbox: bool = True,
    ) -> TokenChain:
        """Runs the authorization-code flow and stores the new chain.

        An exactsql sandbox completes its own login page (unless ``auto_sandbox`` is off); a loopback
        redirect URI gets a one-shot listener and the browser; otherwise the URL goes to ``prompt`` and
        the redirected URL comes back from it. ``redirected_url`` finishes a login begun by ``login_url``.
        """
        secret = self.client_secret()
        if redirected_url is not None:
            state = self._pending_state()
        else:
            state = oauth.new_state()
            url = oauth.authorize_url(self.connection, self.base_url, state)
            info = oauth.sandbox_info(self.http, self.base_url) if auto_sandbox else None
            if info is not None:
                account = _sandbox_user(info, user)
                redirected_url = oauth.complete_sandbox_login(
                    self.http, url, account["username"], account["password"]
                )
            else:
                oauth.preflight(self.http, url)
                if browser and oauth.is_loopback(self.connection.redirect_uri):
                    opener = open_browser or webbrowser.open
                    redirected_url = oauth.browser_login(url, self.connection.redirect_uri, timeout, opener)
                elif prompt is not None:
                    redirected_url = prompt(url)
                else:
                    raise LoginError(
                        "This login needs a browser.",
                        f"Run `exactsql login {self.connection.name} --print-url`, open the URL, then pass --redirected-url.",
                    )
        code = oauth.code_from_redirect(redirected_url, state)
        grant = oauth.exchange_code(self.http, self.base_url, self.connection, secret, code, self.clock.now)
        self.store.update(self._pending_key(), lambda _: (None, None))
        return self._install(grant)

    def _install(self, grant: TokenGrant) -> TokenChain:
        body = grant.body
        try:
            me = self.http.get(
                f"{self.base_url}/api/v1/current/Me",
                headers={"Authorization": f"Bearer {body['access_token']}", "Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise LoginError(
                f"Signed in, but current/Me could not be reached: {exc}.", "Run the login again."
            ) from None
        if me.status_code != 200:
            raise LoginError(
                f"Signed in, but current/Me answered {me.status_code}: {error_message(me)}.",
                "Run the login again.",
            )
        user_id = me.json()["d"]["results"][0]["UserID"]
        credentials.save_user(self.store, self.connection, user_id)
        for name in ("token_calls", "errors", "broker"):
            self.__dict__.pop(name, None)
        self._memo.clear()
        self.keep("me", [me.content])  # a new login: its Me is the one to use
        self.forget("divisions")  # and the divisions it may use are read again
        self.token_calls.record()
        key = chain_key(self.base_url, self.connection.client_id, user_id)
        fresh = TokenChain(
            0,
            self.base_url,
            self.connection.client_id,
            user_id,
            body["access_token"],
            body["refresh_token"],
            float(body["expires_in"]),
            grant.sent_at,
            grant.received_at,
        )

        def put(raw: bytes | None) -> tuple[bytes | None, TokenChain]:
            try:
                version = TokenChain.from_bytes(raw, self.box).version + 1 if raw else 1
            except ValueError:  # a corrupt value: replaced, with a version no process has cached
                version = secrets.randbelow(2**31) + 2
            chain = TokenChain(**{**fresh.__dict__, "version": version})
            return chain.to_bytes(self.box), chain

        chain = self.store.update(key, put)
        self.broker.clear_hold()  # a new pair: whatever held refreshes of the old one is over
        return chain

    def keepalive(self) -> TokenChain:
        """Spends one budgeted refresh so that the refresh token does not expire from disuse."""
        return self.broker.refresh(force=True)

    # -- status --------------------------------------------------------------------------------------

    def status(self) -> dict:
        """The chain, today's token calls, the rate windows per division and the error budgets in use."""
        c = self.connection
        user = credentials.load_user(self.store, c)
        out: dict = {"connection": c.name, "base_url": c.base_url, "client_id": c.client_id, "user_id": user}
        out["state_store"] = _redacted(self.store.url)
        if user is None:
            out["chain"] = None
            return out
        now = self.clock.now()
        try:
            chain = self.broker.read()
        except ChainBrokenError as exc:  # a corrupt value: said, and the rest still shown
            chain = None
            out["chain"] = {"corrupt": f"{exc.message} {exc.hint}"}
        if chain is None:
            out.setdefault("chain", None)
        else:
            idle_left = (chain.refresh_expires_at - now) / 86400 * (600 / chain.lifetime)
            out["chain"] = {
                "version": chain.version,
                "issued": _iso(chain.received_at),
                "expires": _iso(chain.expires_at),
                "expired": now >= chain.expires_at,
                "next_refresh_allowed": _iso(chain.earliest_refresh),
                "refresh_planned": _iso(chain.refresh_at),
                "refresh_token_idle_days_left": round(idle_left, 1),
                "broken": chain.broken,
            }
        out["token_calls_today"] = self.token_calls.used()
        out["token_calls_limit"] = c.token_calls_per_day
        divisions = {}
        for division in self.rates.divisions():
            st = self.rates.state(division)
            st.minute.roll(now)
            st.day.roll(now)
            divisions[str(division)] = {
                "minute_remaining": st.minute.limit - st.minute.used,
                "minute_resets": _iso(st.minute.reset) if st.minute.reset else None,
                "day_remaining": st.day.limit - st.day.used,
                "day_resets": _iso(st.day.reset) if st.day.reset else None,
            }
        out["divisions"] = divisions
        out["error_budgets"] = [
            {"division": d, "endpoint": e, "errors": n, "reserve": c.error_reserve, "limit": c.error_limit}
            for d, e, n in self.errors.in_use()
        ]
        out["blocked_by_exact"] = [
            {"division": d, "endpoint": e, "until": _iso(u)} for d, e, u in self.errors.blocks()
        ]
        hold = self.broker.hold()
        out["refresh_hold"] = (
            None if hold is None else {"until": _iso(hold.until), "reason": hold.reason, "kind": hold.kind}
        )
        return out

    def close(self) -> None:
        """Gives back the budget slots this process holds unused, then releases the HTTP client and the store
        (not for the in-process sandbox, which lives on)."""
        with contextlib.suppress(Exception):  # the store may be away: leases end with their window
            if "rates" in self.__dict__:
                self.rates.flush()
            if "errors" in self.__dict__:
                self.errors.release_kept()
        if not self.connection.in_process_sandbox:
            self.http.close()
            self.store.close()


def _redacted(url: str) -> str:
    from exactsql.state.protocol import redact_url

    return redact_url(url)


def _sandbox_user(info: dict, wanted: str | None) -> dict:
    users = info.get("users") or []
    if not users:
        raise LoginError("The sandbox lists no users.", "Start it again with `exactsql sandbox`.")
    if wanted is None:
        return dict(users[0])
    for account in users:
        if wanted.lower() in (account["username"].lower(), account["user_id"].lower()):
            return dict(account)
    names = ", ".join(u["username"] for u in users)
    raise LoginError(f"The sandbox has no user {wanted!r}.", f"Its users: {names}.")


def open_session(name: str, config: Config | None = None) -> Session:
    """The session of connection ``name`` (one on an Exact Online or an ``exactsql sandbox`` server; the
    built-in in-process sandbox is opened by :func:`exactsql.connect.open_session`)."""
    config = config or Config.load()
    connection = config.connection(name)
    if connection.in_process_sandbox:
        raise ConfigError(
            f"Connection {name!r} is the built-in in-process sandbox.",
            "Open it with exactsql.connect.open_session.",
        )
    store = open_store(config.state_url())  # errors say what is wrong with the URL or the store
    try:
        box = secret_box(config_home())
        credentials.check_key(store, box, connection)
    except BaseException:
        store.close()
        raise
    http = httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0))
    return Session(connection, config, store, box, http, connection.base_url, StoreClock(store))


#: The endpoint of the user's divisions.
DIVISION_LIST = "system/Divisions"


def division_list_columns() -> list[str]:
    """The columns read of the division list: every plain (Edm) column the catalog gives it."""
    path = load_catalog().table(DIVISION_LIST).paths[0]
    return [c.name for c in path.columns if c.edm.startswith("Edm.")]


def _rows(body: bytes) -> list[dict]:
    d = orjson.loads(body)["d"]
    return list(d if isinstance(d, list) else d.get("results", []))


def division_codes(pages: list[bytes]) -> list[int]:
    """The division codes on pages of the division list."""
    return [int(row["Code"]) for body in pages for row in _rows(body)]


def _open_divisions(body: bytes) -> list[int]:
    """The codes on a page of the division list of divisions that answer calls: active (``Status`` 1, not
    inactive or archived) and not blocked (``BlockingStatus`` 0: no backup, conversion or copy under way)."""
    return [
        int(row["Code"])
        for row in _rows(body)
        if row.get("Status", 1) in (1, None) and not row.get("BlockingStatus")
    ]

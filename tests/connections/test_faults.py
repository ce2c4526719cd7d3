"""Faults of the token chain and the budgets: refusals, outages, wrong keys, skewed clocks, foreign hosts.

Each test reproduces a failure seen under attack (calls hanging for ever, a chain broken by a refusal that
passes, a cluster corrupted by one wrongly keyed node, a pair lost in a store outage, 401s until the error
reserve is gone) against a real, time-scaled sandbox server and, where a store is involved, each real store.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from exactsql.api.budget import RateBudget, RateState, Window
from exactsql.api.session import Session, open_session
from exactsql.api.tokens import TokenChain
from exactsql.errors import (
    ChainBrokenError,
    ConfigError,
    ErrorBudgetError,
    ExactSQLError,
    RateLimitError,
    TokenBudgetError,
)
from exactsql.state.memory import MemoryStore
from tests.connections.conftest import SCALE
from tests.connections.helpers import logged_in, make_connection

LIFETIME = 600 / SCALE
FILTER = {"$filter": "Code eq '1000'", "$select": "Code"}


def _stats(control: httpx.Client) -> dict:
    return dict(control.get("/_sandbox/stats").json())


def _until_due(session: Session) -> None:
    chain = session.broker.read()
    assert chain is not None
    time.sleep(max(0.0, chain.refresh_at - session.clock.now()) + 0.005)


def _used_while_valid(session: Session, chain: TokenChain) -> None:
    """A refresh Exact refuses leaves the current token in use; an error only if it expired meanwhile.

    At the sandbox's time scale a token is due 0.125 s before it expires, shorter than a refused call can
    take on a loaded machine: then the token has expired by the time the answer comes, and saying so is
    right."""
    try:
        token = session.broker.access_token()
    except ExactSQLError:
        assert session.clock.now() >= chain.expires_at, "refused although the current token was still valid"
    else:
        assert token == chain.access_token


# --- 1. admissions never sent -------------------------------------------------------------------------


def test_admissions_that_were_never_sent_do_not_hang_the_division(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled)
    client = session.client()
    division = scaled["divisions"][0]
    chain = session.broker.read()
    assert chain is not None
    session.broker._mark_broken(chain, "broken for this test")
    for _ in range(65):  # more than a minute window holds, none of them sent
        with pytest.raises(ChainBrokenError):
            client.get_json("financial/GLAccounts", FILTER, division)
    assert session.status()["divisions"][str(division)]["minute_remaining"] == 60
    session.login()
    fresh = open_session("eol")  # a new process, after a fresh login
    done = threading.Event()
    threading.Thread(
        target=lambda: (fresh.client().get_json("financial/GLAccounts", FILTER, division), done.set()),
        daemon=True,
    ).start()
    assert done.wait(15), "the call waited for slots that calls never sent still held"


class FixedClock:
    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def _rates(window: Window, clock: FixedClock, max_wait: float = 600.0) -> RateBudget:
    store = MemoryStore()
    rates = RateBudget(store, "app", 60, 5000, clock, max_wait=max_wait)  # type: ignore[arg-type]
    state = RateState(window, Window(limit=5000)).dump()
    store.update(rates._key(1), lambda _: (state, None))
    return rates


def test_a_full_window_whose_reset_no_answer_named_ends_on_the_clock() -> None:
    clock = FixedClock(1000.0)
    rates = _rates(Window(used=60, limit=60, opened=1000.0), clock)
    clock.t = 1061.0  # a whole minute after its first call: Exact's window has certainly ended
    started = time.monotonic()
    rates.acquire(1)
    assert time.monotonic() - started < 1
    assert rates.state(1).minute.used == 1


def test_a_wait_that_cannot_end_in_time_is_an_error_that_says_why() -> None:
    clock = FixedClock(1000.0)
    rates = _rates(Window(used=60, limit=60, reset=4000.0, length=60.0), clock, max_wait=5)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        rates.acquire(1)
    assert time.monotonic() - started < 1
    assert "exactsql status" in caught.value.hint


# --- 2. refusals of the token endpoint -------------------------------------------------------------------


def test_too_early_refusals_are_a_hold_never_a_broken_chain(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    control.post("/_sandbox/settings", json={"min_refresh_interval": 100_000}).raise_for_status()
    session = logged_in(scaled)
    client = session.client()
    division = scaled["divisions"][0]
    failures: list[str] = []
    deadline = time.monotonic() + 2.5 * LIFETIME
    while time.monotonic() < deadline:
        try:
            client.get_json("financial/GLAccounts", FILTER, division)
        except ChainBrokenError:
            raise
        except ExactSQLError as exc:  # the token expired while Exact refuses to refresh it: said, not hung
            failures.append(type(exc).__name__)
        time.sleep(0.01)
    stats = _stats(control)
    assert stats["token_errors"]["too_early"] <= 8  # the token endpoint's error reserve
    assert stats["error_budget_blocks"] == 0
    chain = session.broker.read()
    assert chain is not None and chain.broken is None
    assert failures  # once the token expired, calls failed with a reason
    assert session.status()["refresh_hold"] is not None


def test_the_days_token_limit_is_a_hold_not_a_broken_chain(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    control.post("/_sandbox/settings", json={"token_calls_per_day": 2}).raise_for_status()
    now = control.get("/_sandbox/clock").json()["now"]
    start_of_day = (now // 86400 + 1) * 86400 + 60  # a whole simulated day (12 minutes) ahead
    control.post("/_sandbox/clock", json={"advance": start_of_day - now}).raise_for_status()
    session = logged_in(scaled)  # call 1
    _until_due(session)
    session.broker.access_token()  # call 2: a refresh
    _until_due(session)
    chain = session.broker.read()
    assert chain is not None
    _used_while_valid(session, chain)  # call 3: refused by Exact; the current token is still valid
    time.sleep(max(0.0, chain.expires_at - session.clock.now()) + 0.05)
    for _ in range(20):
        with pytest.raises(TokenBudgetError):
            session.broker.access_token()
    assert _stats(control)["token_calls"] == 3  # nobody asked again
    after = session.broker.read()
    assert after is not None and after.broken is None
    assert session.status()["refresh_hold"]["kind"] == "day_limit"


def test_a_bare_429_on_a_refresh_is_a_wait(exactsql_env: dict, scaled: dict, control: httpx.Client) -> None:
    session = logged_in(scaled)
    control.post(
        "/_sandbox/faults", json={"kind": "429", "count": 1, "path_prefix": "/api/oauth2/token"}
    ).raise_for_status()
    _until_due(session)
    old = session.broker.read()
    assert old is not None
    _used_while_valid(session, old)
    time.sleep(0.6 * LIFETIME / 5)  # the hold of a bare 429: a minute of Exact's time
    new = session.broker.access_token()
    assert new != old.access_token
    chain = session.broker.read()
    assert chain is not None and chain.broken is None


# --- 3 and 4. keys and secrets ---------------------------------------------------------------------------


def _cli(env: dict, *args: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    run_env = {**env, **({"THE_SECRET": secret} if secret is not None else {})}
    return subprocess.run(
        [sys.executable, "-m", "exactsql", *args],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_node_with_another_key_is_refused_and_changes_nothing(
    exactsql_env: dict, scaled: dict, control: httpx.Client, tmp_path: Path
) -> None:
    add = ["connection", "add", "eol", "--base-url", scaled["base_url"], "--client-id", scaled["client_id"]]
    add += ["--redirect-uri", scaled["redirect_uri"], "--client-secret-env", "THE_SECRET"]
    good = _cli(exactsql_env, *add, secret=scaled["client_secret"])
    assert good.returncode == 0, good.stderr
    other_node = {**exactsql_env, "EXACTSQL_SECRET_KEY": "another-key"}
    wrong = _cli(other_node, *add, secret=scaled["client_secret"])
    assert wrong.returncode == 1
    assert "not the key" in wrong.stderr and "EXACTSQL_SECRET_KEY" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    status = _cli(other_node, "status", "eol")
    assert status.returncode == 1 and "not the key" in status.stderr
    login = _cli(exactsql_env, "login", "eol")  # the correctly keyed nodes are untouched
    assert login.returncode == 0, login.stderr


def test_a_corrupt_chain_is_reported_and_a_login_replaces_it(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled)
    session.store.update(session.broker.key, lambda _: (b"not a chain", None))
    with pytest.raises(ChainBrokenError) as caught:
        open_session("eol").broker.access_token()
    assert "corrupt" in caught.value.message and "exactsql login eol" in caught.value.hint
    session.login()
    client = open_session("eol").client()
    assert client.get_json("financial/GLAccounts", FILTER, scaled["divisions"][0])["d"]["results"]


def test_connections_of_one_app_keep_their_own_secrets(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    logged_in(scaled, "first")
    make_connection({**scaled, "client_secret": "a mistyped secret"}, "second")
    assert open_session("first").client_secret() == scaled["client_secret"]
    result = _cli(exactsql_env, "connection", "remove", "second")
    assert result.returncode == 0, result.stderr
    first = open_session("first")
    assert first.client_secret() == scaled["client_secret"]
    first.login()


# --- 5. a store outage during a refresh -----------------------------------------------------------------


class OutageAtTokenAnswer(httpx.BaseTransport):
    """Kills the state store the moment the token endpoint has answered, and brings it back later."""

    def __init__(self, server: object, down_for: float) -> None:
        self.inner = httpx.HTTPTransport()
        self.server = server
        self.down_for = down_for
        self.armed = False
        self.restarted = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.armed and request.url.path.endswith("/oauth2/token"):
            response.read()
            self.armed = False
            self.server.kill()  # type: ignore[attr-defined]

            def back() -> None:
                time.sleep(self.down_for)
                self.server.restart()  # type: ignore[attr-defined]
                self.restarted.set()

            threading.Thread(target=back, daemon=True).start()
        return response


@pytest.mark.parametrize("backend", ["postgresql", "redis"])
def test_a_store_outage_during_a_refresh_keeps_the_new_pair(
    backend: str, scaled: dict, control: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.connections.helpers import isolated_env
    from tests.servers import start_postgres, start_redis

    server = start_postgres() if backend == "postgresql" else start_redis(persistent=True)
    try:
        env = isolated_env(tmp_path / "home", server.url)
        for name in ("EXACTSQL_HOME", "EXACTSQL_STATE", "EXACTSQL_KEYRING", "EXACTSQL_SECRET_KEY"):
            monkeypatch.setenv(name, env[name])
        session = logged_in(scaled)
        transport = OutageAtTokenAnswer(server, down_for=3.0)
        session.http = httpx.Client(transport=transport, timeout=30)
        session.__dict__.pop("broker", None)
        _until_due(session)
        transport.armed = True
        token = session.broker.access_token()  # the store dies right after Exact rotated the chain
        assert transport.restarted.wait(30)  # the write may land before the restarting thread notices
        other = open_session("eol")  # another process, after the outage
        chain = other.broker.read()
        assert chain is not None and chain.broken is None and chain.access_token == token
        assert other.client().get_json("financial/GLAccounts", FILTER, scaled["divisions"][0])
        stats = _stats(control)
        # a third token call only when the restart took so long that the new pair fell due (5 s tokens here)
        fell_due = other.clock.now() >= chain.refresh_at
        assert stats["token_calls"] == 2 or (stats["token_calls"] == 3 and fell_due), stats["token_calls"]
        assert stats["token_errors"]["old_refresh_token"] == 0
        assert not list((tmp_path / "home").glob("rescued-pair-*"))  # stored: the rescue file is gone
    finally:
        server.stop()


# --- 6. Exact's block ------------------------------------------------------------------------------------


def test_exacts_block_is_remembered_by_every_process(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    control.post("/_sandbox/settings", json={"error_limit": 2}).raise_for_status()  # Exact blocks first
    now = control.get("/_sandbox/clock").json()["now"]  # Exact counts errors per clock hour (30 s here):
    control.post("/_sandbox/clock", json={"advance": (now // 3600 + 1) * 3600 + 1 - now}).raise_for_status()
    session = logged_in(scaled)  # ... so the test starts at the beginning of one
    division = scaled["divisions"][0]
    for _ in range(2):
        with pytest.raises(ExactSQLError):
            session.client().get_json("crm/Accounts", {"$select": "ID"}, division)  # 400: no filter
    with pytest.raises(ErrorBudgetError) as caught:
        session.client().get_json("crm/Accounts", {"$select": "ID"}, division)  # Exact's 429
    assert "blocked" in caught.value.message
    sent = _stats(control)["api_calls"]
    for _ in range(20):
        with pytest.raises(ErrorBudgetError):
            open_session("eol").client().get_json("crm/Accounts", {"$filter": "Code eq '1'"}, division)
    assert _stats(control)["api_calls"] == sent  # refused here, not sent
    blocks = open_session("eol").status()["blocked_by_exact"]
    assert [(b["division"], b["endpoint"]) for b in blocks] == [(division, "crm/accounts")]


# --- 7. a 401 renews the token once ----------------------------------------------------------------------


def test_a_401_from_a_clock_running_ahead_renews_the_token_once(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled)
    client = session.client()
    division = scaled["divisions"][0]
    control.post("/_sandbox/clock", json={"advance": 590}).raise_for_status()  # Exact's clock runs ahead
    deadline = time.monotonic() + 3 * LIFETIME
    while time.monotonic() < deadline:
        assert client.get_json("financial/GLAccounts", FILTER, division)["d"]["results"]
        time.sleep(0.02)
    stats = _stats(control)
    assert stats["expired_token_401"] == 1  # one, then a renewed token and its refreshes in time
    assert stats["token_errors"]["too_early"] == 0
    assert stats["token_calls"] >= 3  # the login, the renewal after the 401, and refreshes in time


# --- 8. the token goes to the base URL only ---------------------------------------------------------------


def test_the_token_is_sent_to_the_connections_host_only(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled)
    client = session.client()
    before = _stats(control)["api_calls"]
    for url in ("http://127.0.0.2:9/api/v1/current/Me", "https://evil.invalid/api/v1/1/crm/Accounts"):
        with pytest.raises(ConfigError) as caught:
            client.get_json(url)
        assert "Refusing to send" in caught.value.message
    assert _stats(control)["api_calls"] == before
    result = _cli(exactsql_env, "api", "-c", "eol", "http://127.0.0.2:9/api/v1/current/Me")
    assert result.returncode == 1 and "Refusing to send" in result.stderr


# --- 13. a slow token answer -----------------------------------------------------------------------------


class SlowTokenAnswers(httpx.BaseTransport):
    """The token endpoint's answers arrive ``delay`` seconds after Exact issued the token."""

    def __init__(self, delay: float) -> None:
        self.inner = httpx.HTTPTransport()
        self.delay = delay

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/oauth2/token"):
            response.read()
            time.sleep(self.delay)
        return response


def test_a_slow_refresh_answer_keeps_the_real_expiry_and_refreshes_in_time(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled)
    delay = 0.1 * LIFETIME  # longer than the 5% between Exact's earliest refresh and the expiry
    session.http = httpx.Client(transport=SlowTokenAnswers(delay), timeout=30)
    session.__dict__.pop("broker", None)
    client = session.client()
    division = scaled["divisions"][0]
    deadline = time.monotonic() + 4 * LIFETIME
    while time.monotonic() < deadline:
        assert client.get_json("financial/GLAccounts", FILTER, division)["d"]["results"]
        time.sleep(0.02)
    chain = session.broker.read()
    assert chain is not None and chain.version >= 3  # refreshed through the slow answers
    assert chain.expires_at == pytest.approx(chain.sent_at + chain.lifetime)
    assert chain.received_at - chain.sent_at >= delay
    stats = _stats(control)
    assert stats["expired_token_401"] == 0
    assert stats["token_errors"]["too_early"] == 0


def test_status_shows_no_secret(exactsql_env: dict, scaled: dict, control: httpx.Client) -> None:
    session = logged_in(scaled)
    chain = session.broker.read()
    assert chain is not None
    text = repr(session.status())
    for secret in (chain.access_token, chain.refresh_token, scaled["client_secret"]):
        assert secret not in text
    assert dataclasses.asdict(chain)  # the chain itself is there to compare with
    assert os.environ["EXACTSQL_SECRET_KEY"] not in text


def test_a_slot_whose_settlement_met_an_outage_is_freed_once_the_store_is_back(tmp_path: Path) -> None:
    """A call's error slot is settled while the store is down: the settlement is kept and made before the
    process's next admission, instead of holding the slot for its whole lease (every slot leaked this way
    made all processes wait for minutes after the store came back)."""
    from exactsql.api.clock import StoreClock
    from exactsql.api.error_budget import ErrorBudget
    from exactsql.state import open_store
    from tests.servers import start_postgres

    server = start_postgres()
    try:
        store = open_store(server.url)
        errors = ErrorBudget(store, "app", "user", 10, 8, StoreClock(store))
        tickets = [errors.admit(1, "crm/accounts") for _ in range(8)]  # the reserve, all in flight
        server.kill()
        failed = 0
        for ticket in tickets:
            try:
                errors.settle(ticket, 200, 1, "crm/accounts")
            except Exception:  # whatever the driver raises for a dead server
                failed += 1
        assert failed == 4  # the four taken while half the reserve was free are kept, without the store
        server.restart()
        deadline = time.monotonic() + 30
        while True:  # the first calls after the restart may meet the old connections
            try:
                ticket = errors.admit(1, "crm/accounts")
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        errors.settle(ticket, 200, 1, "crm/accounts")
        errors.release_kept()
        assert store.get(errors._flight_key(1, "crm/accounts")) is None  # no slot left held
    finally:
        server.stop()

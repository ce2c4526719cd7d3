"""The token broker and the budgets against a time-scaled sandbox server, on every state store backend."""

from __future__ import annotations

import time

import httpx
import pytest

from exactsql.api.session import open_session
from exactsql.errors import ApiError, ChainBrokenError, RateLimitError, TokenBudgetError
from tests.connections.conftest import SCALE
from tests.connections.helpers import logged_in

FILTER = {"$filter": "Code eq '1000'", "$select": "Code"}


def test_refreshes_once_per_token_life_never_early_never_expired(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled)
    client = session.client()
    division = scaled["divisions"][0]
    deadline = time.monotonic() + 2.3 * 600 / SCALE  # a little over two token lives
    while time.monotonic() < deadline:
        client.get_json("financial/GLAccounts", FILTER, division)
        client.get_json("current/Me")
    stats = control.get("/_sandbox/stats").json()
    assert stats["token_calls"] == 3  # the login and two refreshes
    assert stats["token_errors"] == {"old_refresh_token": 0, "too_early": 0, "limit_exceeded": 0, "other": 0}
    assert stats["expired_token_401"] == 0
    assert stats["by_status"].get("401", 0) == 0
    assert session.status()["token_calls_today"] == 3


def test_a_second_broker_uses_the_pair_the_first_one_stored(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    first = logged_in(scaled)
    second = open_session("eol")  # another process would look the same: same store, same chain
    time.sleep(0.985 * 600 / SCALE)  # due for refresh
    token = first.broker.access_token()
    assert second.broker.access_token() == token
    assert control.get("/_sandbox/stats").json()["token_calls"] == 2


def test_a_rotation_behind_the_brokers_back_breaks_the_chain_clearly(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled)
    chain = session.broker.read()
    assert chain is not None
    time.sleep(0.96 * 600 / SCALE)
    rogue = control.post(
        "/api/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": chain.refresh_token,
            "client_id": scaled["client_id"],
            "client_secret": scaled["client_secret"],
        },
    )
    assert rogue.status_code == 200  # someone used the refresh token outside exactsql
    time.sleep(0.03 * 600 / SCALE)
    with pytest.raises(ChainBrokenError) as caught:
        session.broker.access_token()
    assert "exactsql login eol" in caught.value.hint
    status = session.status()
    assert status["chain"]["broken"]
    calls = control.get("/_sandbox/stats").json()["token_calls"]
    with pytest.raises(ChainBrokenError):
        open_session("eol").broker.access_token()  # every process stops, without another token call
    assert control.get("/_sandbox/stats").json()["token_calls"] == calls


def test_token_calls_are_refused_before_the_daily_limit(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled, token_calls_per_day=2)
    session.keepalive()  # the second call of the day
    before = control.get("/_sandbox/stats").json()["token_calls"]
    with pytest.raises(TokenBudgetError) as caught:
        session.keepalive()
    assert "00:00 UTC" in caught.value.hint
    assert control.get("/_sandbox/stats").json()["token_calls"] == before


def test_retries_5xx_resets_and_truncation_but_never_4xx(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled)
    client = session.client()
    division = scaled["divisions"][0]
    for kind in ("503", "500", "reset", "truncated", "429"):
        control.post(
            "/_sandbox/faults", json={"kind": kind, "count": 1, "path_prefix": "/api/v1/"}
        ).raise_for_status()
        assert client.get_json("financial/GLAccounts", FILTER, division)["d"]["results"][0]["Code"] == "1000"
    sent = len(control.get("/_sandbox/requests", params={"limit": 1000}).json())
    with pytest.raises(ApiError) as caught:
        client.get_json("crm/Accounts", {"$select": "ID"}, division)  # 400: mandatory filter
    assert caught.value.status == 400
    assert "mandatory filtering" in str(caught.value)
    assert len(control.get("/_sandbox/requests", params={"limit": 1000}).json()) == sent + 1


def test_minute_windows_are_waited_for_and_days_refused(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    control.post("/_sandbox/settings", json={"daily_limit": 130}).raise_for_status()
    session = logged_in(scaled, daily_limit=130)
    client = session.client()
    division = scaled["divisions"][1]
    for _ in range(130):
        client.get_json("financial/GLAccounts", FILTER, division)
    stats = control.get("/_sandbox/stats").json()
    assert stats["rate_limited"] == 0 and stats["by_status"].get("429", 0) == 0
    with pytest.raises(RateLimitError) as caught:
        client.get_json("financial/GLAccounts", FILTER, division)
    assert "resets at" in caught.value.hint
    assert control.get("/_sandbox/stats").json()["api_calls"] == stats["api_calls"]
    windows = session.status()["divisions"][str(division)]
    assert windows["day_remaining"] == 0


def test_a_lower_server_side_daily_limit_is_learned_from_a_429(
    exactsql_env: dict, scaled: dict, control: httpx.Client
) -> None:
    control.post("/_sandbox/settings", json={"daily_limit": 3}).raise_for_status()
    session = logged_in(scaled)  # believes 5,000
    client = session.client()
    division = scaled["divisions"][0]
    for _ in range(3):
        client.get_json("financial/GLAccounts", FILTER, division)
    with pytest.raises(RateLimitError):
        client.get_json("financial/GLAccounts", FILTER, division)
    with pytest.raises(RateLimitError):
        client.get_json("financial/GLAccounts", FILTER, division)
    assert control.get("/_sandbox/stats").json()["rate_limited"] == 0  # the headers told it before any 429


def test_a_long_idle_refresh_token_is_warned_about(
    exactsql_env: dict, scaled: dict, control: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    session = logged_in(scaled)
    chain = session.broker.read()
    assert chain is not None
    back = 0.9 * (chain.refresh_expires_at - chain.received_at)  # as if unused for 27 of its 30 days
    aged = dataclasses.replace(chain, sent_at=chain.sent_at - back, received_at=chain.received_at - back)
    session.store.update(session.broker.key, lambda _: (aged.to_bytes(session.box), None))
    assert session.status()["chain"]["refresh_token_idle_days_left"] < 5
    time.sleep(0.96 * 600 / SCALE)  # the sandbox's own clock must allow the refresh too
    with caplog.at_level("WARNING"):
        session.broker.access_token()  # long expired: refreshes at once
    assert "exactsql keepalive eol" in caplog.text
    assert session.status()["chain"]["refresh_token_idle_days_left"] > 29
    assert chain.refresh_token not in caplog.text and chain.access_token not in caplog.text

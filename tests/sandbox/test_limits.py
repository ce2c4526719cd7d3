"""Conformance: rate windows, the error budget and division access (API.md §3, §4.8)."""

from __future__ import annotations

import time

from tests.sandbox_client import SandboxClient

MINUTELY = ("X-RateLimit-Minutely-Limit", "X-RateLimit-Minutely-Remaining", "X-RateLimit-Minutely-Reset")
DAILY = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
FILTER = {"$filter": "Code ne ''", "$select": "Code"}


def _to_next_minute(eol: SandboxClient) -> None:
    now = eol.control("GET", "clock")["now"]
    eol.advance(60 - now % 60 + 0.01)


def test_division_calls_carry_the_six_headers(eol: SandboxClient) -> None:
    _to_next_minute(eol)
    division = eol.divisions[0]
    sent = time.time()
    first = eol.get(f"{division}/financial/GLAccounts", FILTER)
    second = eol.get(f"{division}/financial/GLAccounts", FILTER)
    for name in MINUTELY + DAILY:
        assert name in first.headers
    assert first.headers["X-RateLimit-Minutely-Limit"] == "60"
    assert first.headers["X-RateLimit-Limit"] == "5000"
    assert int(first.headers["X-RateLimit-Minutely-Remaining"]) == 59
    assert int(second.headers["X-RateLimit-Minutely-Remaining"]) == 58
    assert int(second.headers["X-RateLimit-Remaining"]) == 4998
    reset = int(first.headers["X-RateLimit-Minutely-Reset"]) / 1000
    assert sent < reset <= time.time() + 61  # the clock minute's end: it may pass during the answer
    daily_reset = int(first.headers["X-RateLimit-Reset"]) / 1000
    assert 0 < daily_reset - time.time() <= 86400 + 1
    # errors carry them too
    bad = eol.get(f"{division}/financial/GLAccounts", {"$filter": "Nope eq 1"})
    assert bad.status_code == 400 and bad.headers["X-RateLimit-Minutely-Remaining"] == "57"


def test_the_61st_call_in_a_minute_gets_a_bare_429_until_the_minute_ends(eol: SandboxClient) -> None:
    _to_next_minute(eol)
    division = eol.divisions[0]
    for i in range(60):
        response = eol.get(f"{division}/financial/GLAccounts", FILTER)
        assert response.status_code == 200, (i, response.text)
    limited = eol.get(f"{division}/financial/GLAccounts", FILTER)
    assert limited.status_code == 429
    assert limited.content == b""
    assert all(name in limited.headers for name in MINUTELY)
    assert not any(name in limited.headers for name in DAILY)
    assert limited.headers["X-RateLimit-Minutely-Remaining"] == "0"
    # another division has its own window; a division-less URL is not limited
    assert eol.get(f"{eol.divisions[1]}/financial/GLAccounts", FILTER).status_code == 200
    assert eol.get("current/Me").status_code == 200
    eol.advance(30)  # still in the same clock minute? only if we were early in it
    _to_next_minute(eol)
    again = eol.get(f"{division}/financial/GLAccounts", FILTER)
    assert again.status_code == 200
    assert again.headers["X-RateLimit-Minutely-Remaining"] == "59"
    assert eol.stats()["rate_limited"] == 1


def test_daily_window_ends_at_midnight_utc(eol: SandboxClient) -> None:
    eol.control("POST", "settings", json={"daily_limit": 30})
    _to_next_minute(eol)
    division = eol.divisions[0]
    for _ in range(30):
        assert eol.get(f"{division}/financial/GLAccounts", FILTER).status_code == 200
    limited = eol.get(f"{division}/financial/GLAccounts", FILTER)
    assert limited.status_code == 429 and limited.content == b""
    assert all(name in limited.headers for name in DAILY)
    assert not any(name in limited.headers for name in MINUTELY)
    clock = eol.control("GET", "clock")["now"]
    eol.advance(86400 - clock % 86400 + 1)
    eol.login()  # the old access token expired meanwhile
    assert eol.get(f"{division}/financial/GLAccounts", FILTER).status_code == 200


def test_the_default_daily_limit_is_5000(eol: SandboxClient) -> None:
    eol.control("POST", "settings", json={"minutely_limit": 100000})
    now = eol.control("GET", "clock")["now"]
    if now % 86400 > 86000:  # keep the run inside one UTC day of the sandbox clock
        eol.advance(86400 - now % 86400 + 1)
    division = eol.divisions[2]
    last = None
    for _ in range(5000):
        last = eol.get(f"{division}/financial/GLAccounts", {"$filter": "Code eq '1000'", "$select": "Code"})
        assert last.status_code == 200
    assert last is not None and last.headers["X-RateLimit-Remaining"] == "0"
    assert eol.get(f"{division}/financial/GLAccounts", FILTER).status_code == 429


def test_ten_errors_an_hour_block_the_endpoint_for_that_division(eol: SandboxClient) -> None:
    now = eol.control("GET", "clock")["now"]
    eol.advance(3600 - now % 3600 + 1)
    division = eol.divisions[0]
    missing = f"{division}/crm/Contacts(guid'00000000-0000-4000-8000-000000000000')"
    for _ in range(10):
        assert eol.get(missing).status_code == 404
    blocked = eol.get(missing)
    assert blocked.status_code == 429
    assert blocked.headers["Reason"] == "ErrorLimitExceeded"
    assert "error" in blocked.json()
    # good calls to the same endpoint are blocked too; other endpoints and divisions are not
    assert (
        eol.get(f"{division}/crm/Contacts", {"$filter": "Account ne null", "$select": "ID"}).status_code
        == 429
    )
    assert eol.get(f"{division}/crm/Accounts", {"$filter": "Name ne ''", "$select": "ID"}).status_code == 200
    assert (
        eol.get(
            f"{eol.divisions[1]}/crm/Contacts", {"$filter": "Account ne null", "$select": "ID"}
        ).status_code
        == 200
    )
    stats = eol.stats()
    assert stats["error_budget_blocks"] == 2
    eol.advance(3600)
    eol.login()  # the old access token expired meanwhile
    assert (
        eol.get(f"{division}/crm/Contacts", {"$filter": "Account ne null", "$select": "ID"}).status_code
        == 200
    )


def test_400s_403s_and_401s_count_too(eol: SandboxClient) -> None:
    now = eol.control("GET", "clock")["now"]
    eol.advance(3600 - now % 3600 + 1)
    division = eol.divisions[0]
    for _ in range(10):
        assert eol.get(f"{division}/crm/Accounts", {"$select": "ID"}).status_code == 400  # mandatory filter
    assert eol.get(f"{division}/crm/Accounts", {"$select": "ID", "$filter": "Name ne ''"}).status_code == 429


def test_division_outside_the_consent_is_403_no_division_access(eol: SandboxClient) -> None:
    first, second = eol.divisions[0], eol.divisions[1]
    eol.login(divisions=[first])
    response = eol.get(f"{second}/financial/GLAccounts", FILTER)
    assert response.status_code == 403
    assert response.headers["Reason"] == "NoDivisionAccess"
    assert response.json()["error"]["message"]["value"]
    unknown = eol.get("999999999/financial/GLAccounts", FILTER)
    assert unknown.status_code == 403


def test_limits_are_settings(eol: SandboxClient) -> None:
    eol.control("POST", "settings", json={"minutely_limit": 3})
    _to_next_minute(eol)
    division = eol.divisions[0]
    statuses = [eol.get(f"{division}/financial/GLAccounts", FILTER).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = eol.http.post("/_sandbox/settings", json={"no_such_limit": 1})
    assert refused.status_code == 400
    assert "no_such_limit" in refused.json()["error"]

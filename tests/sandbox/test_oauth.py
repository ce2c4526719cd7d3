"""Conformance: the token endpoint (API.md §2)."""

from __future__ import annotations

from urllib.parse import unquote

from tests.sandbox_client import SandboxClient


def test_code_grant_returns_exacts_token_shape(eol: SandboxClient) -> None:
    response = eol.token_call(
        grant_type="authorization_code", code=eol.code(), redirect_uri=eol.info["redirect_uri"]
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["expires_in"] == "600"
    assert isinstance(body["expires_in"], str)
    assert body["token_type"] == "bearer"
    assert "!" in body["refresh_token"]
    assert body["access_token"].startswith("AAEA")


def test_code_is_single_use(eol: SandboxClient) -> None:
    code = eol.code()
    first = eol.token_call(grant_type="authorization_code", code=code, redirect_uri=eol.info["redirect_uri"])
    second = eol.token_call(grant_type="authorization_code", code=code, redirect_uri=eol.info["redirect_uri"])
    assert first.status_code == 200
    assert second.status_code == 400
    assert second.text == "Bad Request"


def test_code_expires_after_three_minutes(eol: SandboxClient) -> None:
    early, late = eol.code(), eol.code()
    eol.advance(170)
    ok = eol.token_call(grant_type="authorization_code", code=early, redirect_uri=eol.info["redirect_uri"])
    assert ok.status_code == 200
    eol.advance(15)
    expired = eol.token_call(
        grant_type="authorization_code", code=late, redirect_uri=eol.info["redirect_uri"]
    )
    assert expired.status_code == 400


def test_code_grant_needs_the_same_redirect_uri(eol: SandboxClient) -> None:
    response = eol.token_call(
        grant_type="authorization_code", code=eol.code(), redirect_uri="http://127.0.0.1:9/other"
    )
    assert response.status_code == 400


def test_wrong_secret_and_unknown_client_are_refused(eol: SandboxClient) -> None:
    code = eol.code()
    wrong = eol.http.post(
        "/api/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": eol.info["redirect_uri"],
            "client_id": eol.info["client_id"],
            "client_secret": "not-the-secret",
        },
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_client"
    unknown = eol.http.post(
        "/api/oauth2/token", data={"grant_type": "refresh_token", "client_id": "{0}", "refresh_token": "x"}
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_client"


def test_refresh_before_570_seconds_is_too_early_and_counts_as_error(eol: SandboxClient) -> None:
    eol.login()
    eol.advance(560)
    response = eol.refresh()
    assert response.status_code == 400
    assert response.json() == {
        "error": "access_denied",
        "error_description": "Rate limit exceeded: access_token not expired",
    }
    assert response.headers["Reason"].startswith("TooEarlyToRefreshTokens")
    stats = eol.stats()
    assert stats["token_errors"]["too_early"] == 1
    assert stats["by_status"]["400"] == 1


def test_refresh_after_570_seconds_rotates_both_tokens(eol: SandboxClient) -> None:
    first = eol.login()
    eol.advance(571)
    response = eol.refresh()
    assert response.status_code == 200
    assert eol.tokens is not None
    assert eol.tokens.refresh != first.refresh
    assert eol.tokens.access != first.access
    assert eol.tokens.expires_in == "600"
    # the 570 s rule counts from the latest issue, not from the login
    eol.advance(300)
    assert eol.refresh().status_code == 400


def test_old_refresh_token_is_refused(eol: SandboxClient) -> None:
    first = eol.login()
    eol.advance(571)
    assert eol.refresh().status_code == 200
    eol.advance(571)
    reused = eol.token_call(grant_type="refresh_token", refresh_token=first.refresh)
    assert reused.status_code == 401
    assert reused.json() == {"error": "unauthorized_client", "error_description": "Old refresh token used."}
    assert eol.stats()["token_errors"]["old_refresh_token"] == 1
    # the current token of the chain still works
    assert eol.refresh().status_code == 200


def test_unknown_refresh_token_is_a_broken_chain(eol: SandboxClient) -> None:
    response = eol.token_call(grant_type="refresh_token", refresh_token="Gcp7!IAAAnot-a-token")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_token_expires_after_30_idle_days(eol: SandboxClient) -> None:
    eol.login()
    eol.advance(30 * 86400 + 5)
    response = eol.refresh()
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith("The refresh token expired at ")
    assert " and it is now " in body["error_description"]


def test_refresh_token_used_within_30_days_keeps_the_chain_alive(eol: SandboxClient) -> None:
    eol.login()
    eol.advance(29 * 86400)
    assert eol.refresh().status_code == 200
    eol.advance(29 * 86400)
    assert eol.refresh().status_code == 200


def test_daily_token_call_limit(eol: SandboxClient) -> None:
    eol.control("POST", "settings", json={"token_calls_per_day": 4})
    eol.login()
    for _ in range(3):
        eol.advance(571)
        assert eol.refresh().status_code == 200
    eol.advance(571)
    refused = eol.refresh()
    assert refused.status_code == 400
    assert refused.json()["error"] == "access_denied"
    assert refused.headers["Reason"].startswith("TokenLimitExceeded")
    assert eol.stats()["token_errors"]["limit_exceeded"] == 1
    eol.advance(86400)  # the next UTC day
    assert eol.refresh().status_code == 200


def test_default_daily_token_limit_is_200(eol: SandboxClient) -> None:
    assert eol.control("GET", "settings")["token_calls_per_day"] == 200


def test_expired_access_token_gets_401_with_www_authenticate(eol: SandboxClient) -> None:
    tokens = eol.login()
    assert eol.get("current/Me").status_code == 200
    eol.advance(601)
    response = eol.get("current/Me", token=tokens.access)
    assert response.status_code == 401
    assert "access token expired" in unquote(response.headers["WWW-Authenticate"])
    assert eol.stats()["expired_token_401"] == 1


def test_missing_or_invalid_token_gets_401(eol: SandboxClient) -> None:
    assert eol.http.get("/api/v1/current/Me").status_code == 401
    assert eol.get("current/Me", token="AAEAforged").status_code == 401


def test_too_early_refreshes_feed_the_error_budget_of_the_token_endpoint(eol: SandboxClient) -> None:
    eol.login()
    for _ in range(10):
        assert eol.refresh().status_code == 400
    blocked = eol.refresh()
    assert blocked.status_code == 429
    assert blocked.headers["Reason"] == "ErrorLimitExceeded"
    eol.advance(3600)
    assert eol.refresh().status_code == 200

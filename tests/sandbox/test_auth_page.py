"""Conformance: the browser side of OAuth, ``/api/oauth2/auth`` (API.md §2.2)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.sandbox_client import SandboxClient


def _auth_params(eol: SandboxClient, **over: str) -> dict[str, str]:
    params = {
        "client_id": eol.info["client_id"],
        "redirect_uri": eol.info["redirect_uri"],
        "response_type": "code",
        "state": "xyz-123",
    }
    params.update(over)
    return params


def _hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r"<input type='hidden' name='([^']+)' value='([^']*)'>", html))


def test_unknown_client_id_shows_an_error_page_naming_it(eol: SandboxClient) -> None:
    response = eol.http.get(
        "/api/oauth2/auth", params=_auth_params(eol, client_id="{00000000-0000-0000-0000-000000000000}")
    )
    assert response.status_code == 400
    assert "text/html" in response.headers["Content-Type"]
    assert "Unknown client ID" in response.text
    assert "App Center" in response.text


def test_redirect_uri_mismatch_shows_an_error_page(eol: SandboxClient) -> None:
    response = eol.http.get(
        "/api/oauth2/auth", params=_auth_params(eol, redirect_uri="https://evil.example/cb")
    )
    assert response.status_code == 400
    assert "Redirect URI mismatch" in response.text
    assert "https://evil.example/cb" in response.text


def test_login_consent_and_redirect_with_code_and_state(eol: SandboxClient) -> None:
    user = eol.info["users"][0]
    page = eol.http.get("/api/oauth2/auth", params=_auth_params(eol))
    assert page.status_code == 200
    assert "<form" in page.text and "password" in page.text
    form = {**_hidden(page.text), "username": user["username"], "password": user["password"]}
    consent = eol.http.post("/api/oauth2/auth", data=form)
    assert consent.status_code == 200
    for division in user["divisions"]:
        assert f"value='{division}'" in consent.text
    chosen = user["divisions"][:1]
    fields = {**_hidden(consent.text), "action": "allow", "division": [str(d) for d in chosen]}
    done = eol.http.post("/api/oauth2/auth", data=fields)
    assert done.status_code == 302
    location = urlsplit(done.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == eol.info["redirect_uri"]
    query = parse_qs(location.query)
    assert query["state"] == ["xyz-123"]
    code = query["code"][0]
    token = eol.token_call(grant_type="authorization_code", code=code, redirect_uri=eol.info["redirect_uri"])
    assert token.status_code == 200
    access = token.json()["access_token"]
    me = eol.get("current/Me", token=access).json()["d"]["results"][0]
    assert me["UserID"] == user["user_id"]
    assert me["CurrentDivision"] == chosen[0]
    # consent covered only the chosen division
    if len(user["divisions"]) > 1:
        other = user["divisions"][1]
        refused = eol.get(f"{other}/financial/GLAccounts", {"$filter": "Code eq '1000'"}, token=access)
        assert refused.status_code == 403
        assert refused.headers["Reason"] == "NoDivisionAccess"


def test_wrong_password_shows_the_form_again(eol: SandboxClient) -> None:
    page = eol.http.get("/api/oauth2/auth", params=_auth_params(eol))
    form = {**_hidden(page.text), "username": eol.info["users"][0]["username"], "password": "wrong"}
    again = eol.http.post("/api/oauth2/auth", data=form)
    assert again.status_code == 200
    assert "incorrect" in again.text
    assert "name='password'" in again.text


def test_denied_consent_redirects_with_access_denied(eol: SandboxClient) -> None:
    user = eol.info["users"][0]
    page = eol.http.get("/api/oauth2/auth", params=_auth_params(eol))
    consent = eol.http.post(
        "/api/oauth2/auth",
        data={**_hidden(page.text), "username": user["username"], "password": user["password"]},
    )
    done = eol.http.post("/api/oauth2/auth", data={**_hidden(consent.text), "action": "deny"})
    assert done.status_code == 302
    query = parse_qs(urlsplit(done.headers["Location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["xyz-123"]
    assert "code" not in query

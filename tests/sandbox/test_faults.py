"""Conformance: injected faults (5xx, time-outs, resets, truncation, 429, lost token responses)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.sandbox_client import SandboxClient

FILTER = {"$filter": "Code ne ''", "$select": "Code"}


def _path(eol: SandboxClient) -> str:
    return f"{eol.divisions[0]}/financial/GLAccounts"


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_once_then_normal(eol: SandboxClient, status: int) -> None:
    eol.login()
    eol.control("POST", "faults", json={"kind": str(status), "count": 1})
    assert eol.get(_path(eol), FILTER).status_code == status
    assert eol.get(_path(eol), FILTER).status_code == 200


def test_timeout(eol: SandboxClient) -> None:
    eol.login()
    eol.control("POST", "faults", json={"kind": "timeout", "count": 1, "seconds": 2})
    assert eol.tokens is not None
    with pytest.raises(httpx.ReadTimeout):
        eol.http.get(
            f"/api/v1/{_path(eol)}",
            params=FILTER,
            headers={"Authorization": f"Bearer {eol.tokens.access}"},
            timeout=0.5,
        )
    assert eol.get(_path(eol), FILTER).status_code == 200


def test_reset(eol: SandboxClient) -> None:
    eol.login()
    eol.control("POST", "faults", json={"kind": "reset", "count": 1})
    with pytest.raises(httpx.TransportError):
        eol.get(_path(eol), FILTER)
    assert eol.get(_path(eol), FILTER).status_code == 200


def test_truncated_body(eol: SandboxClient) -> None:
    eol.login()
    eol.control("POST", "faults", json={"kind": "truncated", "count": 1})
    response = eol.get(_path(eol), FILTER)
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_unexpected_429(eol: SandboxClient) -> None:
    eol.login()
    eol.control("POST", "faults", json={"kind": "429", "count": 1})
    response = eol.get(_path(eol), FILTER)
    assert response.status_code == 429 and response.content == b""
    assert response.headers["X-RateLimit-Minutely-Remaining"] == "0"
    assert "X-RateLimit-Remaining" not in response.headers


def test_ratio_and_path_prefix(eol: SandboxClient) -> None:
    eol.login()
    division = eol.divisions[0]
    eol.control(
        "POST", "faults", json={"kind": "503", "ratio": 1.0, "path_prefix": f"/api/v1/{division}/crm"}
    )
    assert eol.get(f"{division}/crm/Accounts", {"$filter": "Name ne ''", "$select": "ID"}).status_code == 503
    assert eol.get(_path(eol), FILTER).status_code == 200
    assert eol.control("GET", "faults")["faults"][0]["ratio"] == 1.0
    eol.control("DELETE", "faults")
    assert eol.get(f"{division}/crm/Accounts", {"$filter": "Name ne ''", "$select": "ID"}).status_code == 200


def test_token_response_lost_after_rotation_leaves_an_old_refresh_token(eol: SandboxClient) -> None:
    tokens = eol.login()
    eol.advance(571)
    eol.control("POST", "faults", json={"kind": "token_after_rotation", "count": 1})
    with pytest.raises(httpx.TransportError):
        eol.refresh()
    retry = eol.token_call(grant_type="refresh_token", refresh_token=tokens.refresh)
    assert retry.status_code == 401
    assert retry.json()["error_description"] == "Old refresh token used."


def test_unknown_fault_kind_is_a_clear_400(eol: SandboxClient) -> None:
    response = eol.http.post("/_sandbox/faults", json={"kind": "gremlins", "count": 1})
    assert response.status_code == 400
    assert "gremlins" in response.json()["error"]

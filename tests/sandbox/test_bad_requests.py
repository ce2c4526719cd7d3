"""The sandbox never answers 500: bad control-plane input is a 400 that says what is wrong, odd paths are 404
(as on Exact). A few hundred generated bad requests, in-process and over HTTP."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import orjson
import pytest

from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.messages import Request
from exactsql.sandbox.process import control_plane_tokens
from exactsql.sandbox.settings import SandboxSettings
from exactsql.sandbox.transport import SandboxTransport

#: JSON bodies that are not objects, and bytes that are not JSON.
NOT_OBJECTS: list[bytes] = [b"[]", b"[1, 2]", b"null", b'"text"', b"5", b"-1e999", b"true", b"1e400"]
NOT_JSON: list[bytes] = [b"{", b"{'a': 1}", b"\xff\xfe\x00", b'{"a": }', b"[" * 5000]
#: Values of the wrong type or out of range for any field.
BAD_VALUES: list[object] = [None, [], {}, "x", "²", -1, -(10**30), 10**30, 1.5, True, [1, "a"], {"a": 1}]
FIELDS = {
    "mutate": ["division", "entity", "inserts", "updates", "deletes"],
    "faults": ["kind", "count", "ratio", "path_prefix", "seconds"],
    "authorize": ["client_id", "redirect_uri", "user", "divisions"],
    "clock": ["advance"],
}
BASES = {
    "mutate": {"entity": "crm/Accounts", "inserts": 1},
    "faults": {"kind": "500", "count": 1},
    "authorize": {},
    "clock": {"advance": 1},
}


def control_bodies(division: int) -> Iterator[tuple[str, bytes]]:
    """(call, body) pairs: non-objects, non-JSON, and each field of each call with each bad value."""
    for call in [*FIELDS, "settings"]:
        for body in NOT_OBJECTS + NOT_JSON:
            yield call, body
    for call, names in FIELDS.items():
        base = {**BASES[call], **({"division": division} if call == "mutate" else {})}
        for name, value in itertools.product(names, BAD_VALUES):
            yield call, _json({**base, name: value})
    for name, value in itertools.product(SandboxSettings.names(), BAD_VALUES):
        if not _valid_setting(getattr(SandboxSettings(), name), value):
            yield "settings", _json({name: value})
    yield "settings", _json({"no_such_setting": 1})
    yield "settings", _json({"regular_page_size": 0})
    yield "settings", _json({"error_block_status": 99})


def _json(value: object) -> bytes:
    """``value`` as JSON (numbers of any size, which orjson refuses to write)."""
    return json.dumps(value).encode()


def _valid_setting(default: object, value: object) -> bool:
    """Whether ``value`` is a good value for a setting whose default is ``default`` (those are skipped)."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, tuple):
        return value == []
    if isinstance(default, dict):  # a table of field widths: {} and {"a": 1} are tables
        return isinstance(value, dict)
    return False  # no value of BAD_VALUES is a number in range, a choice of a text setting or a URL


def odd_paths(division: int) -> list[str]:
    """API paths with a division that is not one (404 on Exact), and odd entity paths."""
    heads = [
        "²",
        "abc",
        "99999999999999999999",
        "2147483648",
        "-1",
        "1.5",
        "٣",
        "0x10",
        " 1",
        "%00",
        "beta/²",
    ]
    paths = [f"/api/v1/{h}/crm/Accounts" for h in heads]
    paths += [f"/api/v1/{h}/current/Me" for h in heads[:4]]
    paths += [f"/api/v1/{division}/{tail}" for tail in ODD_TAILS]
    return paths


#: Keys that are no literal of the key's type: 400 "Bad Request - Error in query syntax." on Exact.
BAD_KEY_TAILS = ["crm/Accounts(guid'zz')", "crm/Accounts(99999999999999999999)", "crm/Accounts()/$count"]
ODD_TAILS = [
    "crm/Accounts(",
    "crm/Accounts)",
    "crm//Accounts",
    "²/Accounts",
    "crm/Accounts/$count/$count",
    "../../_sandbox/info",
    "crm/" + "A" * 3000,
    "",
]


def odd_queries(division: int) -> list[str]:
    """Query options out of range or malformed, on an endpoint that exists."""
    base = f"/api/v1/{division}/financial/GLAccounts?$select=Code&$filter=Code ne ''"
    options = [
        "$top=99999999999999999999", "$top=-1", "$top=²", "$skip=99999999999999999999", "$skip=1e9",
        "$skiptoken=zz", "$skiptoken=99999999999999999999", "$orderby=Nope", "$orderby=Code desc desc",
        "$inlinecount=allpages&$top=0", "$select=", "$select=,,", "$filter=", "$format=xml",
    ]  # fmt: skip
    return [f"{base}&{option}" for option in options] + [
        f"/api/v1/{division}/financial/GLAccounts?$select=Code&$filter=" + quote(f)
        for f in ["Code eq", "(((", "Code eq '1' and", "Code eq 99999999999999999999", "substringof(", "²"]
    ]


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    """One in-process sandbox with no rate windows and no error budget (so every answer is the route's)."""
    sb = Sandbox(divisions=1)
    sb.settings.update({"minutely_limit": 10**9, "daily_limit": 10**9, "error_limit": 10**9})
    return sb


@pytest.fixture(scope="module")
def token(sandbox: Sandbox) -> str:
    with httpx.Client(transport=SandboxTransport(sandbox), base_url="http://sandbox") as http:
        return str(control_plane_tokens(http, sandbox.info("http://sandbox"))["access_token"])


def test_bad_control_plane_input_is_a_400_with_a_message(sandbox: Sandbox) -> None:
    division = sandbox.world.division_codes[0]
    cases = list(control_bodies(division))
    assert len(cases) > 200
    for call, body in cases:
        before = sandbox.settings.__dict__.copy()
        response = sandbox.handle(Request("POST", f"/_sandbox/{call}", body=body))
        shown = f"POST {call} {body[:80]!r} -> {response.status} {response.body[:200]!r}"
        assert response.status != 500, shown
        if call == "settings":
            assert response.status == 400, shown
            assert sandbox.settings.__dict__ == before, shown
        if response.status >= 400:
            assert orjson.loads(response.body)["error"], shown
        sandbox.faults.clear()


def test_bad_control_plane_queries_and_paths_are_refused(sandbox: Sandbox) -> None:
    division = sandbox.world.division_codes[0]
    gets = [f"requests?limit={v}" for v in ("abc", "-1", "99999999999999999999", "²", "1e5", "", "1.5")]
    gets += [
        f"snapshot/{rest}"
        for rest in ("²/crm/Accounts", "abc/crm/Accounts", "99999999999999999999/crm/Accounts", f"{division}/crm",
                     f"{division}/crm/Nope", f"{division}/a/b/c", "")
    ]  # fmt: skip
    gets += ["nope", "settings/x", "faults/1", "info/x"]
    for name in gets:
        path, _, query = name.partition("?")
        response = sandbox.handle(Request("GET", f"/_sandbox/{path}", query=query))
        assert response.status in (200, 400, 404), f"{name} -> {response.status} {response.body[:200]!r}"
    for method in ("PUT", "PATCH", "DELETE"):
        assert sandbox.handle(Request(method, "/_sandbox/settings", body=b"{}")).status == 404


def test_odd_api_paths_are_404_and_odd_options_400(sandbox: Sandbox, token: str) -> None:
    division = sandbox.world.division_codes[0]
    headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
    for path in odd_paths(division):
        response = sandbox.handle(Request("GET", path, headers=headers))
        assert response.status == 404, f"{path} -> {response.status} {response.body[:200]!r}"
    for tail in BAD_KEY_TAILS:
        response = sandbox.handle(Request("GET", f"/api/v1/{division}/{tail}", headers=headers))
        assert response.status == 400, f"{tail} -> {response.status} {response.body[:200]!r}"
    for url in odd_queries(division):
        path, _, query = url.partition("?")
        response = sandbox.handle(Request("GET", path, query=query, headers=headers))
        assert response.status in (200, 400), f"{url} -> {response.status} {response.body[:200]!r}"


def test_the_server_never_answers_500(sandbox_server: dict) -> None:
    info = sandbox_server
    division = info["divisions"][0]
    with httpx.Client(base_url=info["base_url"], timeout=30) as http:
        http.post("/_sandbox/reset").raise_for_status()
        http.post(
            "/_sandbox/settings", json={"minutely_limit": 10**9, "error_limit": 10**9}
        ).raise_for_status()
        try:
            headers = {"Authorization": f"Bearer {control_plane_tokens(http, info)['access_token']}"}
            for call, body in list(control_bodies(division))[::3]:
                response = http.post(f"/_sandbox/{call}", content=body)
                assert response.status_code != 500, (call, body[:80], response.text[:200])
                http.delete("/_sandbox/faults")
            for path in odd_paths(division):
                response = http.get(quote(path, safe="/()'$%"), headers=headers)
                assert response.status_code == 404, (path, response.status_code, response.text[:200])
        finally:
            http.post("/_sandbox/reset").raise_for_status()

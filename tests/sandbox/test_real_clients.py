"""Public Python clients for Exact Online, unchanged, read a sandbox server as they read Exact Online.

``exactonline`` 0.4.0 (OSSO B.V.) is a dev extra. ``python-exact-online`` 1.1.0 installs a package of the
same name (``exactonline``), so it is installed on first use into a directory of its own beside the venv
and run in a subprocess. Each logs in through the sandbox's login page, reads ``current/Me`` and the
divisions, reads a table of more than one page by following ``__next`` and makes a filtered read; the
rows must be the sandbox's snapshot. What differs from a run against Exact: the URLs (and, for the second
client, a requests adapter that routes Exact's host to the sandbox, whose ``public_base_url`` is then
Exact's) and plain HTTP on loopback.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.sandbox.helpers import reset_control, sandbox_server

UNLIMITED = {"minutely_limit": 1_000_000, "daily_limit": 1_000_000, "error_limit": 1_000_000}
ANY_LINE = "ID ne guid'00000000-0000-0000-0000-000000000000'"
PEO = "python-exact-online==1.1.0"
PEO_DIR = Path(sys.prefix) / "real-clients" / PEO.replace("==", "-")
EXACT_BE = "https://start.exactonline.be"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def server() -> Iterator[dict]:
    """``exactsql sandbox`` with two small divisions."""
    with sandbox_server(2) as info:
        yield info


@pytest.fixture()
def control(server: dict) -> Iterator[httpx.Client]:
    """The control plane, after a reset; no rate windows."""
    with reset_control(server, UNLIMITED) as http:
        yield http


def snapshot(control: httpx.Client, division: int, entity: str) -> list[dict]:
    """The sandbox's rows of an entity, as its API sends them, without ``__metadata``."""
    rows = control.get(f"/_sandbox/snapshot/{division}/{entity}").json()["rows"]
    return [{k: v for k, v in r.items() if k != "__metadata"} for r in rows]


def pages_read(control: httpx.Client, endpoint: str) -> list[dict]:
    """The logged requests of an endpoint: one a page the client read."""
    log = control.get("/_sandbox/requests", params={"limit": 1000}).json()
    return [e for e in log if e["path"].endswith("/" + endpoint)]


def _fields(page: str) -> list[tuple[str, str]]:
    """The hidden fields and checked boxes of the sandbox's login and consent forms."""
    fields = re.findall(r"<input type='hidden' name='([^']*)' value='([^']*)'>", page)
    fields += re.findall(r"<input type='checkbox' name='(division)' value='(\d+)' checked>", page)
    return [(html.unescape(k), html.unescape(v)) for k, v in fields]


def log_in(http: httpx.Client, auth_url: str, user: dict) -> str:
    """What a person does at the login page the client sent them to; returns the redirect with the code."""
    page = http.get(auth_url)
    assert page.status_code == 200, page.text[:300]
    login = [*_fields(page.text), ("username", user["username"]), ("password", user["password"])]
    consent = http.post("/api/oauth2/auth", content=urlencode(login), headers=FORM)
    assert consent.status_code == 200 and "consent" in consent.text, consent.text[:300]
    allow = [*_fields(consent.text), ("action", "allow")]
    allowed = http.post("/api/oauth2/auth", content=urlencode(allow), headers=FORM)
    assert allowed.status_code == 302, allowed.text[:300]
    return allowed.headers["Location"]


# exactonline 0.4.0 (OSSO B.V.) ---------------------------------------------------------------------------


def test_exactonline_osso(server: dict, control: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    exactonline = pytest.importorskip("exactonline.api")
    from exactonline import http as osso_http
    from exactonline.resource import GET
    from exactonline.storage.ini import IniStorage

    monkeypatch.setattr(osso_http.opt_secure, "protocols", ("http", "https"))  # loopback speaks plain HTTP
    base = server["base_url"]
    ini = textwrap.dedent(f"""\
        [server]
        auth_url = {base}/api/oauth2/auth
        rest_url = {base}/api
        token_url = {base}/api/oauth2/token
        [application]
        base_url = {server["redirect_uri"]}
        client_id = {server["client_id"]}
        client_secret = {server["client_secret"]}
        [transient]
        """)
    api = exactonline.ExactApi(storage=IniStorage(io.StringIO(ini)))
    user = server["users"][0]
    redirect = log_in(control, api.create_auth_request_url(), user)
    api.request_token(parse_qs(urlsplit(redirect).query)["code"][0])

    me = api.rest(GET("v1/current/Me"))
    assert len(me) == 1 and me[0]["UserID"] == user["user_id"] and me[0]["Legislation"] == "1"
    choices, current = api.get_divisions()  # current/Me?$select=CurrentDivision, then hrm/Divisions
    assert sorted(choices) == sorted(user["divisions"]) and current == me[0]["CurrentDivision"]
    api.set_division(current)  # a crm/Accounts read that finds nothing

    select = "ID,Date,AmountDC,Description,VATCode,Timestamp"
    lines = api.restv1(
        GET(
            f"financialtransaction/TransactionLines?$select=ID,Date,AmountDC,Description,VATCode&$filter={osso_http.binquote(ANY_LINE)}"
        )
    )
    truth = snapshot(control, current, "financialtransaction/TransactionLines")
    reads = pages_read(control, "financialtransaction/TransactionLines")
    assert len(reads) == -(-len(truth) // 60) > 1  # the client followed every __next
    assert all("$skiptoken" in e["query"] for e in reads[1:])
    wanted = [n for n in select.split(",") if n != "Timestamp"]
    assert sorted(({k: r[k] for k in wanted} for r in lines), key=lambda r: r["ID"]) == sorted(
        ({k: r[k] for k in wanted} for r in truth), key=lambda r: r["ID"]
    )

    account = next(r for r in snapshot(control, current, "crm/Accounts") if r["Code"].strip())
    found = api.relations.get(relation_code=account["Code"].strip())  # Code eq '<18 right-aligned>', $top=2
    assert found == {"__metadata": found["__metadata"], **{k: account[k] for k in ("ID", "Code", "Name")}}


# python-exact-online 1.1.0 (Alexander Schillemans) --------------------------------------------------------

_PEO_RUN = """
import json, sys
import requests
from requests.adapters import HTTPAdapter

exact, sandbox, client_id, secret, redirect_uri = sys.argv[1:6]


class ToSandbox(HTTPAdapter):
    \"\"\"Exact's host, answered by the sandbox (as a hosts-file entry and a TLS terminator would).\"\"\"

    def send(self, request, **kwargs):
        request.url = sandbox + request.url[len(exact):]
        return super().send(request, **kwargs)


to_sandbox = ToSandbox()
plain = requests.Session.get_adapter
requests.Session.get_adapter = lambda self, url: to_sandbox if url.startswith(exact) else plain(self, url)

from exactonline.api import ExactOnlineAPI
from exactonline.cachehandler import CacheHandler

CacheHandler().resetCache()
api = ExactOnlineAPI(client_id, secret)
print(json.dumps({"auth_url": api.authHandler.getAuthURL(redirect_uri)}), flush=True)
api.authHandler.retrieveToken(sys.stdin.readline().strip())
status, _, divisions = api.get("system/Divisions?$select=Code,Description")
accounts = api.glAccounts.list(filter={"IsBlocked": "false"})
found = api.accounts.list(filter={"Name": sys.stdin.readline().strip()})
print(json.dumps({
    "division": api.division,
    "divisions": divisions["d"]["results"],
    "glaccounts": [{"ID": a.ID, "Code": a.Code, "Description": a.Description} for a in accounts.items()],
    "accounts": [{"ID": a.ID, "Code": a.Code, "Name": a.Name} for a in found.items()],
}), flush=True)
"""


def _install_peo() -> Path:
    """python-exact-online in a directory of its own (its package name is taken by the dev extra)."""
    if not (PEO_DIR / "exactonline" / "authhandler.py").exists():
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-compile",
                "--target",
                str(PEO_DIR),
                PEO,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.skip(f"{PEO} could not be installed: {done.stderr.strip()[-300:]}")
    shutil.rmtree(
        PEO_DIR / "exactonline" / "cache" / "__pycache__", ignore_errors=True
    )  # resetCache() removes files only
    return PEO_DIR


def test_python_exact_online(server: dict, control: httpx.Client) -> None:
    pytest.importorskip("requests_oauthlib")
    target = _install_peo()
    control.post("/_sandbox/settings", json={"public_base_url": EXACT_BE}).raise_for_status()
    user = server["users"][0]
    division = user["divisions"][0]
    account = next(r for r in snapshot(control, division, "crm/Accounts") if "'" not in r["Name"])
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
    }
    args = [
        EXACT_BE,
        server["base_url"],
        server["client_id"],
        server["client_secret"],
        server["redirect_uri"],
    ]
    with subprocess.Popen(
        [sys.executable, "-c", _PEO_RUN, *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        assert run.stdin is not None and run.stdout is not None
        auth_url = json.loads(run.stdout.readline() or "{}").get("auth_url")
        assert auth_url, run.stderr.read() if run.stderr else ""
        with httpx.Client(base_url=server["base_url"], timeout=60) as browser:
            redirect = log_in(browser, server["base_url"] + auth_url[len(EXACT_BE) :], user)
        out, err = run.communicate(f"{redirect}\n{account['Name']}\n", timeout=120)
    assert run.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])

    assert result["division"] == division  # from current/Me?$select=CurrentDivision
    assert sorted(d["Code"] for d in result["divisions"]) == sorted(user["divisions"])
    truth = snapshot(control, division, "financial/GLAccounts")
    reads = pages_read(control, "financial/GLAccounts")
    assert len(reads) == -(-len(truth) // 60) > 1  # the client followed every __next
    expected = [{k: r[k] for k in ("ID", "Code", "Description")} for r in truth if r["IsBlocked"] is False]
    assert sorted(result["glaccounts"], key=lambda r: r["ID"]) == sorted(expected, key=lambda r: r["ID"])
    named = [{k: r[k] for k in ("ID", "Code", "Name")} for r in snapshot(control, division, "crm/Accounts")]
    assert result["accounts"] == [r for r in named if r["Name"] == account["Name"]]

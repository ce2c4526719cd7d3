"""Fidelity: the sandbox sends what Exact Online sends (docs/design/sandbox-fidelity.md, one test a deviation)."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from exactsql.catalog import load_catalog
from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.process import SandboxProcess
from exactsql.sandbox.transport import SandboxTransport
from tests.connections.helpers import logged_in
from tests.sandbox.helpers import BASE, in_process_client
from tests.sandbox_client import SandboxClient

ANY = "ID ne guid'00000000-0000-0000-0000-000000000000'"


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    """Two small divisions, in process."""
    return Sandbox(divisions=2, size="small")


@pytest.fixture()
def eol(sandbox: Sandbox) -> Iterator[SandboxClient]:
    """A logged-in client; the settings a test changes are put back after it."""
    with in_process_client(sandbox) as client:
        yield client


def _set(eol: SandboxClient, **settings: object) -> None:
    eol.control("POST", "settings", json=settings)


def _rows(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    d = response.json()["d"]
    return d if isinstance(d, list) else d["results"]


def _division(eol: SandboxClient) -> int:
    return eol.divisions[0]


# §1: Edm.Int64 values are JSON strings ------------------------------------------------------------------


def test_int64_values_are_strings(eol: SandboxClient) -> None:
    division = _division(eol)
    stamps = _rows(
        eol.get(
            f"{division}/sync/Financial/TransactionLines",
            {"$select": "ID,Timestamp", "$filter": "Timestamp gt 1"},
        )
    )
    assert all(isinstance(r["Timestamp"], str) and r["Timestamp"].isdigit() for r in stamps)
    divisions = _rows(eol.get(f"{division}/system/Divisions", {"$select": "Code,Hid"}))
    assert all(isinstance(r["Hid"], str) and isinstance(r["Code"], int) for r in divisions)
    assert _rows(eol.get("current/Me"))[0]["Legislation"] == "1"


def test_int64_as_numbers_is_a_setting(eol: SandboxClient) -> None:
    _set(eol, int64_as_string=False)
    rows = _rows(eol.get(f"{_division(eol)}/system/Divisions", {"$select": "Code,Hid"}))
    assert all(isinstance(r["Hid"], int) for r in rows)


# §2: whole-number doubles carry no ".0" -----------------------------------------------------------------


def test_whole_doubles_have_no_fraction(eol: SandboxClient) -> None:
    response = eol.get(f"{_division(eol)}/crm/Accounts", {"$filter": "Name ne ''"})
    assert response.status_code == 200
    assert re.search(rb'":-?\d+\.0[,}]', response.content) is None
    rows = _rows(response)
    assert any(isinstance(r["CreditLineSales"], int) for r in rows)
    assert any(isinstance(r["Latitude"], float) for r in rows)  # fractions stay
    me = _rows(eol.get("current/Me", {"$select": "ServerUtcOffset"}))[0]
    assert me["ServerUtcOffset"] in (3600, 7200) and isinstance(me["ServerUtcOffset"], int)


# §3: fixed-width codes keep their padding ---------------------------------------------------------------


def test_fixed_width_codes_are_padded(eol: SandboxClient) -> None:
    division = _division(eol)
    accounts = _rows(
        eol.get(
            f"{division}/crm/Accounts",
            {
                "$filter": "Name ne ''",
                "$select": "Code,Country,Language,SearchCode,SalesVATCode,PurchaseVATCode",
            },
        )
    )
    assert all(len(r["Code"]) == 18 and r["Code"] == r["Code"].rjust(18) for r in accounts)
    assert all(r["Language"] is None or len(r["Language"]) == 10 for r in accounts)
    assert any(r["Language"] == "NL        " for r in accounts)
    assert all(r["SearchCode"] is None or len(r["SearchCode"]) == 9 for r in accounts)
    assert all(r["Country"] is None or len(r["Country"]) == 3 for r in accounts)
    vat = [r[k] for r in accounts for k in ("SalesVATCode", "PurchaseVATCode") if r[k] is not None]
    assert vat and all(len(v) == 3 and v == v.strip().ljust(3) for v in vat)
    lines = _rows(
        eol.get(f"{division}/financialtransaction/TransactionLines", {"$filter": ANY, "$select": "VATCode"})
    )
    assert any(r["VATCode"] is not None for r in lines)
    assert all(r["VATCode"] is None or len(r["VATCode"]) == 3 for r in lines)


def test_filters_match_the_padded_values(eol: SandboxClient) -> None:
    division = _division(eol)
    search = _rows(
        eol.get(f"{division}/financial/GLAccounts", {"$filter": "Code ne ''", "$select": "ID,SearchCode"})
    )
    wanted = next(r for r in search if r["SearchCode"])
    found = _rows(
        eol.get(
            f"{division}/financial/GLAccounts",
            {"$filter": f"SearchCode eq '{wanted['SearchCode']}'", "$select": "ID,SearchCode"},
        )
    )
    assert wanted in found
    assert all(r["SearchCode"] == wanted["SearchCode"] for r in found)
    truth = eol.control("GET", f"snapshot/{division}/financial/GLAccounts")["rows"]
    assert {r["SearchCode"] for r in truth} >= {r["SearchCode"] for r in search}  # the snapshot agrees


def test_code_widths_are_a_setting(eol: SandboxClient) -> None:
    _set(eol, code_widths={"Currency": 5})
    rows = _rows(
        eol.get(f"{_division(eol)}/crm/Accounts", {"$filter": "Name ne ''", "$select": "Currency,Language"})
    )
    assert any(r["Currency"] == "EUR  " for r in rows)
    assert all(r["Language"] is None or len(r["Language"]) <= 5 for r in rows)  # not padded any more


# §4: non-nullable flags and amounts carry a value -------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "filter_", "names"),
    [
        ("crm/Accounts", "Name ne ''", ["CostPaid", "CanDropShip", "CreditLinePurchase", "IsAccountant"]),
        ("financial/GLAccounts", "Code ne ''", ["ExcludeVATListing", "PrivatePercentage", "Compress"]),
        ("logistics/Items", "Code ne ''", ["IsBatchItem", "CopyRemarks", "IsTime"]),
    ],
)
def test_non_nullable_fields_are_never_null(
    eol: SandboxClient, entity: str, filter_: str, names: list[str]
) -> None:
    rows = _rows(eol.get(f"{_division(eol)}/{entity}", {"$filter": filter_, "$select": ",".join(names)}))
    assert rows and all(r[n] is not None for r in rows for n in names)


# §5: HTTP Basic client authentication on the token endpoint ---------------------------------------------


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_token_endpoint_takes_basic_credentials(eol: SandboxClient) -> None:
    info = eol.info
    code = eol.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": info["redirect_uri"]}
    granted = eol.http.post(
        "/api/oauth2/token", data=form, headers=_basic(info["client_id"], info["client_secret"])
    )
    assert granted.status_code == 200, granted.text
    eol.advance(600)
    refresh = {"grant_type": "refresh_token", "refresh_token": granted.json()["refresh_token"]}
    renewed = eol.http.post(
        "/api/oauth2/token", data=refresh, headers=_basic(info["client_id"], info["client_secret"])
    )
    assert renewed.status_code == 200, renewed.text


def test_a_wrong_client_gets_a_bare_invalid_client(eol: SandboxClient) -> None:
    info = eol.info
    form = {"grant_type": "authorization_code", "code": eol.code(), "redirect_uri": info["redirect_uri"]}
    wrong = eol.http.post("/api/oauth2/token", data=form, headers=_basic(info["client_id"], "nope"))
    assert wrong.status_code == 400 and wrong.json() == {"error": "invalid_client"}
    _set(eol, token_basic_auth=False)
    form["code"] = eol.code()
    refused = eol.http.post(
        "/api/oauth2/token", data=form, headers=_basic(info["client_id"], info["client_secret"])
    )
    assert refused.json() == {"error": "invalid_client"}


# §6: current/Me ------------------------------------------------------------------------------------------


def test_me_has_every_documented_property_and_each_can_be_selected(eol: SandboxClient) -> None:
    names = [c.name for c in load_catalog().table("current/Me").columns]
    assert len(names) == 39
    me = _rows(eol.get("current/Me"))[0]
    assert set(me) == {"__metadata", *names}
    assert isinstance(me["ServerTime"], str) and me["CurrentDivision"] in eol.divisions
    assert me["Legislation"] == "1" and me["LanguageCode"] == "nl-NL" and me["Language"] == "NL"
    for name in names:
        selected = _rows(eol.get("current/Me", {"$select": name}))[0]
        assert set(selected) == {"__metadata", name}
        assert selected[name] == me[name] or name == "ServerTime"


def test_me_refuses_an_unknown_property(eol: SandboxClient) -> None:
    response = eol.get("current/Me", {"$select": "CurrentDivision,Nope"})
    assert response.status_code == 400
    assert "Nope" in response.json()["error"]["message"]["value"]


# §9: error bodies ---------------------------------------------------------------------------------------


def _error(response: httpx.Response) -> str:
    return str(response.json()["error"]["message"]["value"])


def test_a_malformed_key_is_a_syntax_error(eol: SandboxClient) -> None:
    division = _division(eol)
    for key in ("guid'xyz'", "123", "'abc'", "guid'"):
        response = eol.get(f"{division}/crm/Accounts({key})")
        assert response.status_code == 400, key
        assert _error(response) == "Bad Request - Error in query syntax."


def test_a_missing_key_is_not_found_in_wcf_words(eol: SandboxClient) -> None:
    missing = f"{_division(eol)}/crm/Accounts(guid'00000000-0000-0000-0000-000000000001')"
    response = eol.get(missing)
    assert (
        response.status_code == 404 and _error(response) == "Resource not found for the segment 'Accounts'."
    )
    _set(eol, not_found_text="sandbox")
    assert _error(eol.get(missing)) == "The requested entity was not found."


def test_a_bad_guid_literal_is_worded_as_wcf_does(eol: SandboxClient) -> None:
    path = f"{_division(eol)}/crm/Accounts"
    response = eol.get(path, {"$filter": "ID eq guid'xyz'"})
    assert response.status_code == 400
    assert _error(response) == "Unrecognized 'Edm.Guid' literal 'guid'xyz'' at '6' in 'ID eq guid'xyz''."
    _set(eol, literal_error_form="short")
    assert (
        _error(eol.get(path, {"$filter": "ID eq guid'xyz'"}))
        == "Unrecognized 'Edm.Guid' literal 'guid'xyz'' in '6'."
    )


def test_the_mandatory_filter_message_lists_fields_without_spaces(eol: SandboxClient) -> None:
    division = _division(eol)
    accounts = _error(eol.get(f"{division}/crm/Accounts"))
    assert "in the url:Accountant,AccountManager,AddressLine1," in accounts and ", " not in accounts
    invoices = _error(eol.get(f"{division}/salesinvoice/SalesInvoices"))
    assert "in the url:InvoiceID,AmountDC," in invoices
    assert "SalesInvoiceLines" not in invoices  # navigation properties cannot be filtered


# §11: $skip and $skiptoken ------------------------------------------------------------------------------


def test_skip_is_refused_on_sync_and_bulk_endpoints(eol: SandboxClient) -> None:
    division = _division(eol)
    sync = eol.get(f"{division}/sync/Financial/TransactionLines", {"$select": "ID", "$skip": "1"})
    assert sync.status_code == 400
    assert _error(sync) == "The $skip query option is not supported for this resource."
    bulk = eol.get(f"{division}/bulk/CRM/Accounts", {"$select": "ID", "$filter": "Name ne ''", "$skip": "1"})
    assert bulk.status_code == 400
    assert eol.get(f"{division}/crm/Accounts", {"$filter": "Name ne ''", "$skip": "1"}).status_code == 200
    _set(eol, skip_refused=["crm/Accounts"])
    assert eol.get(f"{division}/crm/Accounts", {"$filter": "Name ne ''", "$skip": "1"}).status_code == 400
    assert (
        eol.get(f"{division}/sync/Financial/TransactionLines", {"$select": "ID", "$skip": "1"}).status_code
        == 200
    )


def test_skiptokens_are_the_keys_own_literals(eol: SandboxClient) -> None:
    division = _division(eol)
    _set(eol, regular_page_size=1)
    rows, nexts = eol.follow(f"{division}/system/Divisions", {"$select": "Code"})
    assert sorted(r["Code"] for r in rows) == sorted(eol.divisions)
    tokens = [parse_qs(urlsplit(n).query)["$skiptoken"][0] for n in nexts]
    assert tokens and all(t.isdigit() for t in tokens)
    refused = eol.get(f"{division}/system/Divisions", {"$select": "Code", "$skiptoken": f"guid'{tokens[0]}'"})
    assert refused.status_code == 400
    _, guid_nexts = eol.follow(f"{division}/crm/Accounts", {"$filter": "Name ne ''", "$select": "ID"})
    assert re.fullmatch(r"guid'[0-9a-f-]{36}'", parse_qs(urlsplit(guid_nexts[0]).query)["$skiptoken"][0])


def test_use_all_pages_through_many_divisions() -> None:
    sandbox = Sandbox(divisions=130, size="small")
    with httpx.Client(transport=SandboxTransport(sandbox), base_url=BASE) as http:
        eol = SandboxClient(http, sandbox.info(BASE))
        eol.login()
        first = eol.divisions[0]
        rows, nexts = eol.follow(f"{first}/system/Divisions", {"$select": "Code"})
        assert len(nexts) == 2
        assert sorted(r["Code"] for r in rows) == sorted(eol.divisions)


def test_use_all_sees_every_division_of_a_large_licence(sqlite_env: dict[str, str]) -> None:
    """More divisions than a page: the command line pages system/Divisions by its Int32 key."""
    with SandboxProcess("--divisions", "130") as server:
        logged_in(server.info, "eol")
        done = subprocess.run(
            [sys.executable, "-m", "exactsql", "query", "use all@eol; select count(*) from systemdivisions"],
            env={**sqlite_env, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        with httpx.Client(base_url=server.info["base_url"]) as control:
            log = control.get("/_sandbox/requests", params={"limit": 1000}).json()
    assert done.returncode == 0, done.stderr
    assert re.search(r"\b130\b", done.stdout), done.stdout
    assert "Using 130 division(s)" in done.stderr
    # the list is the same through any of the user's divisions: each page is charged to another's window
    pages = [e for e in log if e["path"].endswith("/system/Divisions")]
    assert len(pages) == 3 and len({e["division"] for e in pages}) == 3, pages


# §13: escaped slashes; §14: {"d": [...]} for $top, DataServiceVersion ---------------------------------


def test_slashes_are_escaped(eol: SandboxClient) -> None:
    body = eol.get("current/Me").content
    assert b"\\/api\\/v1\\/current\\/Me(" in body and b"/api/" not in body
    dated = eol.get(
        f"{_division(eol)}/crm/Accounts", {"$filter": "Name ne ''", "$select": "Created", "$top": "1"}
    )
    assert b'"\\/Date(' in dated.content
    _set(eol, json_escape_slash=False)
    assert b"/api/v1/current/Me(" in eol.get("current/Me").content


def test_top_within_a_page_gives_a_bare_array(eol: SandboxClient) -> None:
    path = f"{_division(eol)}/crm/Accounts"
    top = eol.get(path, {"$filter": "Name ne ''", "$select": "ID", "$top": "2"})
    assert isinstance(top.json()["d"], list) and len(top.json()["d"]) == 2
    assert top.headers["DataServiceVersion"] == "1.0;"
    counted = eol.get(
        path, {"$filter": "Name ne ''", "$select": "ID", "$top": "2", "$inlinecount": "allpages"}
    )
    assert set(counted.json()["d"]) == {"results", "__count"}
    wide = eol.get(path, {"$filter": "Name ne ''", "$select": "ID", "$top": "61"})
    assert "results" in wide.json()["d"] and wide.headers["DataServiceVersion"] == "2.0;"
    _set(eol, bare_array_for_top=False)
    assert "results" in eol.get(path, {"$filter": "Name ne ''", "$select": "ID", "$top": "2"}).json()["d"]

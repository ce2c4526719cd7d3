"""Fidelity of the OData surface: $expand and __deferred, $metadata, hrm/Divisions, users/UserHasRights and
the Atom form (docs/design/sandbox-fidelity.md §7, §8, §10)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest

from exactsql.sandbox.core import Sandbox
from tests.sandbox.helpers import BASE, in_process_client
from tests.sandbox_client import SandboxClient

ATOM = "{http://www.w3.org/2005/Atom}"
D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"
EDM = "{http://schemas.microsoft.com/ado/2008/09/edm}"
INVOICES = {"$filter": "InvoiceNumber gt 0"}


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    """Two small divisions, in process."""
    return Sandbox(divisions=2, size="small")


@pytest.fixture()
def eol(sandbox: Sandbox) -> Iterator[SandboxClient]:
    """A logged-in client; the settings a test changes are put back after it."""
    with in_process_client(sandbox) as client:
        yield client


def _atom(eol: SandboxClient, path: str, params: dict[str, str] | None = None) -> httpx.Response:
    """A GET without ``Accept: application/json`` (Exact then answers Atom/XML)."""
    assert eol.tokens is not None
    return eol.http.get(
        f"/api/v1/{path}", params=params, headers={"Authorization": f"Bearer {eol.tokens.access}"}
    )


def _truth(eol: SandboxClient, division: int, entity: str) -> list[dict]:
    return eol.control("GET", f"snapshot/{division}/{entity}")["rows"]


# §7: $expand and __deferred -----------------------------------------------------------------------------


def test_expand_inlines_the_lines(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    lines = _truth(eol, division, "salesinvoice/SalesInvoiceLines")
    params = {**INVOICES, "$expand": "SalesInvoiceLines", "$select": "InvoiceID,SalesInvoiceLines"}
    invoices, _ = eol.follow(f"{division}/salesinvoice/SalesInvoices", params)
    assert invoices
    for invoice in invoices:
        inline = invoice["SalesInvoiceLines"]["results"]
        expected = {r["ID"] for r in lines if r["InvoiceID"] == invoice["InvoiceID"]}
        assert {r["ID"] for r in inline} == expected
        for line in inline:
            assert line["__metadata"]["type"] == "Exact.Web.Api.Models.SalesInvoiceLine"
            assert "/salesinvoice/SalesInvoiceLines(guid'" in line["__metadata"]["uri"]
            assert line["InvoiceID"] == invoice["InvoiceID"]


def test_expand_with_a_select_through_the_lines(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    params = {
        **INVOICES,
        "$top": "3",
        "$expand": "SalesInvoiceLines",
        "$select": "InvoiceID,SalesInvoiceLines/ItemCode,SalesInvoiceLines/AmountFC",
    }
    response = eol.get(f"{division}/salesinvoice/SalesInvoices", params)
    assert response.status_code == 200, response.text
    for invoice in response.json()["d"]:
        assert set(invoice) == {"__metadata", "InvoiceID", "SalesInvoiceLines"}
        for line in invoice["SalesInvoiceLines"]["results"]:
            assert set(line) == {"__metadata", "ItemCode", "AmountFC"}
    path = f"{division}/salesinvoice/SalesInvoices"
    unexpanded = eol.get(path, {**INVOICES, "$select": "InvoiceID,SalesInvoiceLines/ItemCode"})
    assert unexpanded.status_code == 400
    assert "$expand" in unexpanded.json()["error"]["message"]["value"]
    filtered = eol.get(path, {"$filter": "SalesInvoiceLines/ItemCode eq 'x'", "$expand": "SalesInvoiceLines"})
    assert filtered.status_code == 400


def test_without_expand_the_lines_are_deferred_links_that_resolve(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    lines = _truth(eol, division, "salesinvoice/SalesInvoiceLines")
    invoices = eol.get(f"{division}/salesinvoice/SalesInvoices", {**INVOICES, "$top": "5"}).json()["d"]
    for invoice in invoices:
        uri = invoice["SalesInvoiceLines"]["__deferred"]["uri"]
        assert uri == invoice["__metadata"]["uri"] + "/SalesInvoiceLines"
        rows, _ = eol.follow(uri, {})
        assert {r["ID"] for r in rows} == {r["ID"] for r in lines if r["InvoiceID"] == invoice["InvoiceID"]}
        assert all(r["__metadata"]["type"] == "Exact.Web.Api.Models.SalesInvoiceLine" for r in rows)


def test_deferred_bank_accounts_of_an_account(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    banks = _truth(eol, division, "crm/BankAccounts")
    owner = next(r["Account"] for r in banks if r["Account"])
    rows, _ = eol.follow(f"{division}/crm/Accounts(guid'{owner}')/BankAccounts", {})
    assert {r["ID"] for r in rows} == {r["ID"] for r in banks if r["Account"] == owner}
    bad = eol.get(f"{division}/crm/Accounts(guid'nope')/BankAccounts")
    assert bad.status_code == 400


# §8: $metadata, hrm/Divisions, users/UserHasRights ------------------------------------------------------


def test_metadata_describes_the_service(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    response = _atom(eol, f"{division}/crm/$metadata")
    assert response.status_code == 200 and "xml" in response.headers["Content-Type"]
    root = ET.fromstring(response.content)
    types = {e.get("Name"): e for e in root.iter(f"{EDM}EntityType")}
    account = types["Account"]
    assert [r.get("Name") for r in account.iter(f"{EDM}PropertyRef")] == ["ID"]
    props = {p.get("Name"): p for p in account.iter(f"{EDM}Property")}
    assert props["Code"].get("Type") == "Edm.String"
    assert props["CostPaid"].get("Nullable") == "false"
    assert props["Name"].get("Nullable") == "true"
    navs = [n.get("Name") for n in account.iter(f"{EDM}NavigationProperty")]
    assert navs == ["BankAccounts"]
    sets = {s.get("Name"): s.get("EntityType") for s in root.iter(f"{EDM}EntitySet")}
    assert sets["Accounts"] == "Exact.Web.Api.Models.Account"
    unknown = eol.get(f"{division}/nosuchservice/$metadata")
    assert unknown.status_code == 404


def test_hrm_divisions_are_the_divisions(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    hrm = eol.get(f"{division}/hrm/Divisions", {"$select": "Code,Description"}).json()["d"]["results"]
    system = eol.get(f"{division}/system/Divisions", {"$select": "Code,Description"}).json()["d"]["results"]
    assert [(r["Code"], r["Description"]) for r in hrm] == [(r["Code"], r["Description"]) for r in system]


def test_user_has_rights(eol: SandboxClient) -> None:
    path = f"{eol.divisions[0]}/users/UserHasRights"
    for params, expected in [
        ({"endpoint": "'crm/Accounts'", "action": "'GET'"}, True),
        ({"endpoint": "'crm/Accounts'", "method": "'DELETE'"}, True),
        ({"endpoint": "'financialtransaction/TransactionLines'", "action": "'POST'"}, False),
        ({"endpoint": "'no/Such'", "action": "'GET'"}, False),
    ]:
        response = eol.get(path, params)
        assert response.json() == {"d": {"UserHasRights": expected}}, params
    missing = eol.get(path, {"action": "'GET'"})
    assert missing.status_code == 400
    assert missing.json()["error"]["message"]["value"] == "Bad Request - Error in query syntax."


# §10: Atom/XML ------------------------------------------------------------------------------------------


def test_atom_feeds_have_typed_properties_and_links(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    lines = f"{division}/financialtransaction/TransactionLines"
    response = _atom(eol, lines, {"$filter": "ID ne guid'00000000-0000-0000-0000-000000000000'"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    root = f"{BASE}/api/v1/{division}/financialtransaction/"
    assert feed.get("{http://www.w3.org/XML/1998/namespace}base") == root
    assert feed.findtext(f"{ATOM}id") == f"{BASE}/api/v1/{lines}"
    assert feed.findtext(f"{ATOM}updated")
    links = feed.findall(f"{ATOM}link")  # a list, as hotglue's tap reads them: self first, next last
    assert [link.get("rel") for link in links] == ["self", "next"]
    assert links[1].get("href", "").split("&")[-1].startswith("$skiptoken=guid'")
    entry = feed.find(f"{ATOM}entry")
    assert entry is not None
    assert entry.find(f"{ATOM}link[@rel='edit']") is not None
    props = entry.find(f"{ATOM}content/{M}properties")
    assert props is not None
    typed = {p.tag[len(D) :]: p.get(f"{M}type") for p in props}
    assert typed["ID"] == "Edm.Guid" and typed["Description"] is None and typed["AmountDC"] == "Edm.Double"
    assert typed["Date"] == "Edm.DateTime" and typed["Division"] == "Edm.Int32"
    date = props.find(f"{D}Date")
    assert date is not None and date.text and date.text[4] == "-"  # ISO, not /Date()/
    nulls = [p for p in props if p.get(f"{M}null") == "true"]
    assert nulls and all(p.text is None for p in nulls)


def test_atom_pages_follow_next_links(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    truth = _truth(eol, division, "financialtransaction/TransactionLines")
    assert len(truth) > 120
    ids: list[str] = []
    any_line = "ID ne guid'00000000-0000-0000-0000-000000000000'"
    response = _atom(
        eol, f"{division}/financialtransaction/TransactionLines", {"$filter": any_line, "$select": "ID"}
    )
    while True:
        feed = ET.fromstring(response.content)
        ids += [e.findtext(f"{ATOM}content/{M}properties/{D}ID") or "" for e in feed.findall(f"{ATOM}entry")]
        nxt = [link.get("href", "") for link in feed.findall(f"{ATOM}link") if link.get("rel") == "next"]
        if not nxt:
            break
        assert eol.tokens is not None
        response = eol.http.get(nxt[0], headers={"Authorization": f"Bearer {eol.tokens.access}"})
    assert sorted(ids) == sorted(r["ID"] for r in truth)


def test_atom_entry_by_key_and_expanded_lines(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    invoice = eol.get(f"{division}/salesinvoice/SalesInvoices", {**INVOICES, "$top": "1"}).json()["d"][0]
    key = invoice["InvoiceID"]
    response = _atom(
        eol, f"{division}/salesinvoice/SalesInvoices(guid'{key}')", {"$expand": "SalesInvoiceLines"}
    )
    assert response.status_code == 200 and "type=entry" in response.headers["Content-Type"]
    entry = ET.fromstring(response.content)
    assert entry.tag == f"{ATOM}entry"
    inline = entry.find(f"{ATOM}link[@title='SalesInvoiceLines']/{M}inline/{ATOM}feed")
    assert inline is not None and inline.findall(f"{ATOM}entry")

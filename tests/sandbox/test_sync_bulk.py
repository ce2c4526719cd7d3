"""Conformance: sync, bulk and Deleted endpoints, and mandatory filtering (API.md §5)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.sandbox_client import SandboxClient

MANDATORY_PREFIX = (
    "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter "
    "parameter with one of the following fields in the url:"
)


def test_sync_needs_select(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    response = eol.get(f"{division}/sync/Financial/TransactionLines", {"$filter": "Timestamp gt 1"})
    assert response.status_code == 400
    assert "$select" in response.json()["error"]["message"]["value"]


def test_sync_pages_by_timestamp_and_returns_every_row_once(eol: SandboxClient) -> None:
    eol.control("POST", "settings", json={"bulk_page_size": 250})  # several pages from the small set
    division = eol.divisions[0]
    truth = eol.control("GET", f"snapshot/{division}/financialtransaction/TransactionLines")["rows"]
    rows, nexts = eol.follow(
        f"{division}/sync/Financial/TransactionLines",
        {"$select": "Timestamp,ID,AmountDC", "$filter": "Timestamp gt 1"},
    )
    assert len(rows) == len(truth)
    assert sorted(r["ID"] for r in rows) == sorted(r["ID"] for r in truth)
    assert all(isinstance(r["Timestamp"], str) for r in rows)  # Edm.Int64: JSON strings
    stamps = [int(r["Timestamp"]) for r in rows]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert len(nexts) == -(-len(truth) // 250) - 1
    token = parse_qs(urlsplit(nexts[0]).query)["$skiptoken"][0]
    assert re.fullmatch(r"\d+L", token)
    assert int(token[:-1]) == stamps[249]


def test_sync_caps_pages_at_1000(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    d = eol.get(f"{division}/sync/Financial/TransactionLines", {"$select": "Timestamp"}).json()["d"]
    total = len(eol.control("GET", f"snapshot/{division}/financialtransaction/TransactionLines")["rows"])
    assert len(d["results"]) == min(1000, total)
    assert ("__next" in d) == (total > 1000)


def test_sync_accepts_timestamp_with_and_without_l_and_refuses_other_filters(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    path = f"{division}/sync/CRM/Accounts"
    rows, _ = eol.follow(path, {"$select": "Timestamp,ID"})
    middle = rows[len(rows) // 2]["Timestamp"]
    with_l, _ = eol.follow(path, {"$select": "ID", "$filter": f"Timestamp gt {middle}L"})
    without_l, _ = eol.follow(path, {"$select": "ID", "$filter": f"Timestamp gt {middle}"})
    expected = [r["ID"] for r in rows if r["Timestamp"] > middle]
    assert [r["ID"] for r in with_l] == expected == [r["ID"] for r in without_l]
    refused = eol.get(path, {"$select": "ID", "$filter": "Name eq 'x'"})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"]["value"] == "Filtering on these fields is not supported: Name"


def test_changes_come_back_through_sync_and_deletions_through_deleted(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    path = f"{division}/sync/Financial/TransactionLines"
    before, _ = eol.follow(path, {"$select": "Timestamp,ID"})
    cursor = max(r["Timestamp"] for r in before)
    done = eol.control(
        "POST",
        "mutate",
        json={
            "division": division,
            "entity": "financialtransaction/TransactionLines",
            "inserts": 10,
            "updates": 5,
            "deletes": 3,
        },
    )
    assert done["inserted"] >= 10 and done["updated"] == 5 and done["deleted"] >= 3
    changed, _ = eol.follow(path, {"$select": "Timestamp,ID", "$filter": f"Timestamp gt {cursor}L"})
    assert (
        len(changed) >= done["inserted"] + done["updated"] - done["deleted"]
    )  # deleted rows do not come back
    assert len(changed) <= done["inserted"] + done["updated"]
    assert all(r["Timestamp"] > cursor for r in changed)
    deleted, _ = eol.follow(
        f"{division}/sync/Deleted",
        {"$select": "Timestamp,EntityKey,EntityType,Division", "$filter": f"Timestamp gt {cursor}L"},
    )
    assert len(deleted) == done["deleted"]
    assert {r["EntityType"] for r in deleted} == {1}
    gone = {r["EntityKey"] for r in deleted}
    truth = eol.control("GET", f"snapshot/{division}/financialtransaction/TransactionLines")["rows"]
    assert not gone & {r["ID"] for r in truth}
    assert gone <= {r["ID"] for r in before}
    assert all(r["Timestamp"] > cursor for r in deleted)
    only_accounts = eol.get(
        f"{division}/sync/Deleted",
        {"$select": "EntityKey", "$filter": f"Timestamp gt {cursor}L and EntityType eq 2"},
    )
    assert only_accounts.json()["d"]["results"] == []


def test_bulk_pages_hold_1000_rows_and_need_select(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    no_select = eol.get(
        f"{division}/bulk/Financial/TransactionLines",
        {"$filter": "ID ne guid'00000000-0000-0000-0000-000000000000'"},
    )
    assert no_select.status_code == 400
    rows, nexts = eol.follow(
        f"{division}/bulk/Financial/TransactionLines",
        {"$select": "ID", "$filter": "ID ne guid'00000000-0000-0000-0000-000000000000'"},
    )
    truth = eol.control("GET", f"snapshot/{division}/financialtransaction/TransactionLines")["rows"]
    assert len(rows) == len(truth)
    assert len(nexts) == -(-len(truth) // 1000) - 1
    if nexts:
        assert parse_qs(urlsplit(nexts[0]).query)["$skiptoken"][0].startswith("guid'")


def test_bulk_refuses_filters_outside_its_list(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    response = eol.get(f"{division}/bulk/CRM/Contacts", {"$select": "ID", "$filter": "FullName eq 'x'"})
    assert response.status_code == 400
    assert (
        response.json()["error"]["message"]["value"] == "Filtering on these fields is not supported: FullName"
    )
    assert (
        eol.get(f"{division}/bulk/CRM/Contacts", {"$select": "ID", "$filter": "Account ne null"}).status_code
        == 200
    )


def test_mandatory_filter_on_accounts_uses_the_documented_list(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    missing = eol.get(f"{division}/crm/Accounts", {"$select": "ID"})
    assert missing.status_code == 400
    text = missing.json()["error"]["message"]["value"]
    assert text.startswith(MANDATORY_PREFIX + "Accountant,AccountManager,AddressLine1")
    assert text.endswith("Type,VATNumber.")
    not_listed = eol.get(f"{division}/crm/Accounts", {"$select": "ID", "$filter": "Website eq 'x'"})
    assert not_listed.status_code == 400
    assert eol.get(f"{division}/crm/Accounts", {"$select": "ID", "$filter": "Name ne 'x'"}).status_code == 200
    bulk = eol.get(f"{division}/bulk/CRM/Accounts", {"$select": "ID"})
    assert bulk.status_code == 400 and bulk.json()["error"]["message"]["value"].startswith(MANDATORY_PREFIX)
    assert eol.get(f"{division}/sync/CRM/Accounts", {"$select": "ID"}).status_code == 200


def test_mandatory_filter_on_items_and_none_where_no_sync_exists(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    items = eol.get(f"{division}/logistics/Items", {"$select": "ID"})
    assert items.status_code == 400
    assert "Barcode,Class_01" in items.json()["error"]["message"]["value"]
    assert (
        eol.get(f"{division}/logistics/Items", {"$select": "ID", "$filter": "Code ne ''"}).status_code == 200
    )
    # sales invoice lines and receivables have no sync endpoint: no mandatory filter
    assert eol.get(f"{division}/salesinvoice/SalesInvoiceLines", {"$select": "ID"}).status_code == 200
    assert eol.get(f"{division}/cashflow/Receivables", {"$select": "ID"}).status_code == 200


def test_mandatory_filtering_is_a_setting(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    eol.control("POST", "settings", json={"mandatory_filtering": False})
    assert eol.get(f"{division}/crm/Accounts", {"$select": "ID"}).status_code == 200

"""Writes against a real sandbox server: POST with inline lines, PUT, DELETE, Exact's refusals, lost responses."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.sandbox_client import SandboxClient

INVOICES = "salesinvoice/SalesInvoices"
LINES = "salesinvoice/SalesInvoiceLines"
ENTRIES = "generaljournalentry/GeneralJournalEntries"


def send(eol: SandboxClient, method: str, path: str, body: object = None) -> httpx.Response:
    """An authorised write to ``/api/v1/{path}`` with a JSON body."""
    if eol.tokens is None:
        eol.login()
    assert eol.tokens is not None
    headers = {"Authorization": f"Bearer {eol.tokens.access}", "Accept": "application/json"}
    return eol.http.request(method, f"/api/v1/{path}", json=body, headers=headers)


def first(eol: SandboxClient, path: str, flt: str, select: str) -> list[dict]:
    response = eol.get(path, {"$filter": flt, "$select": select, "$top": "2"})
    assert response.status_code == 200, response.text
    d = response.json()["d"]
    return d if isinstance(d, list) else d["results"]


@pytest.fixture()
def books(eol: SandboxClient) -> dict:
    """A division with a customer, two items and two GL accounts of its books."""
    division = eol.divisions[0]
    items = first(eol, f"{division}/logistics/Items", "Code ne null", "ID")
    accounts = first(eol, f"{division}/crm/Accounts", "Status eq 'C'", "ID")
    gls = first(eol, f"{division}/financial/GLAccounts", "Code ne null", "ID")
    return {"division": division, "items": [i["ID"] for i in items], "customer": accounts[0]["ID"],
            "gls": [g["ID"] for g in gls]}  # fmt: skip


def invoice(books: dict, **extra: object) -> dict:
    lines = [{"Item": books["items"][0], "Quantity": 2, "UnitPrice": 10.0},
             {"Item": books["items"][1], "Quantity": 1, "UnitPrice": 5.5}]  # fmt: skip
    return {"OrderedBy": books["customer"], "Journal": "70", "Description": "Sandbox test",
            "SalesInvoiceLines": lines, **extra}  # fmt: skip


def test_post_sales_invoice_with_lines_is_readable_everywhere(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    response = send(eol, "POST", f"{division}/{INVOICES}", invoice(books))
    assert response.status_code == 201, response.text
    assert list(response.json()) == ["d"]  # ossobv/exactonline's unwrap refuses anything beside "d"
    d = response.json()["d"]
    key = d["InvoiceID"]
    assert len(key) == 36 and d["__metadata"]["uri"].endswith(f"{INVOICES}(guid'{key}')")
    assert response.headers["Location"] == d["__metadata"]["uri"]
    assert d["OrderedBy"] == books["customer"] and d["OrderedByName"]
    assert d["Status"] == 10 and d["AmountFC"] == 25.5 and d["Created"] == d["Modified"]
    assert "__deferred" in d["SalesInvoiceLines"]

    found = first(eol, f"{division}/{INVOICES}", f"InvoiceID eq guid'{key}'", "InvoiceID,Description")
    assert [r["Description"] for r in found] == ["Sandbox test"]
    lines = eol.get(
        f"{division}/{LINES}",
        {"$filter": f"InvoiceID eq guid'{key}'", "$select": "ID,LineNumber,AmountFC,ItemCode,GLAccount"},
    )
    rows = sorted(lines.json()["d"]["results"], key=lambda r: r["LineNumber"])
    assert [(r["LineNumber"], r["AmountFC"]) for r in rows] == [(1, 20), (2, 5.5)]
    assert all(r["ItemCode"] and r["GLAccount"] for r in rows)  # filled from the item, as Exact does
    navigated = eol.get(f"{division}/{INVOICES}(guid'{key}')/SalesInvoiceLines", {"$select": "ID"})
    assert sorted(r["ID"] for r in navigated.json()["d"]["results"]) == sorted(r["ID"] for r in rows)
    expanded = eol.get(f"{division}/{INVOICES}(guid'{key}')", {"$expand": "SalesInvoiceLines"})
    assert len(expanded.json()["d"]["SalesInvoiceLines"]["results"]) == 2
    synced, _ = eol.follow(
        f"{division}/sync/SalesInvoice/SalesInvoices", {"$select": "InvoiceID", "$filter": "Timestamp gt 1L"}
    )
    assert key in [r["InvoiceID"] for r in synced]
    bulk, _ = eol.follow(
        f"{division}/bulk/SalesInvoice/SalesInvoiceLines",
        {"$select": "ID", "$filter": f"InvoiceID eq guid'{key}'"},
    )
    assert len(bulk) == 2  # fmt: skip


def test_put_changes_fields_and_modified_and_sync_sees_it(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    key = send(eol, "POST", f"{division}/{INVOICES}", invoice(books)).json()["d"]["InvoiceID"]
    sync = f"{division}/sync/SalesInvoice/SalesInvoices"
    before = {
        r["InvoiceID"]: r["Timestamp"]
        for r in eol.follow(sync, {"$select": "InvoiceID,Timestamp", "$filter": "Timestamp gt 1L"})[0]
    }
    eol.advance(90)
    response = send(
        eol, "PUT", f"{division}/{INVOICES}(guid'{key}')", {"Description": "Changed", "YourRef": "PO-7"}
    )
    assert response.status_code == 204 and response.content == b""
    row = eol.get(
        f"{division}/{INVOICES}(guid'{key}')", {"$select": "Description,YourRef,Created,Modified"}
    ).json()["d"]
    assert (row["Description"], row["YourRef"]) == ("Changed", "PO-7") and row["Modified"] > row["Created"]
    after = eol.follow(sync, {"$select": "InvoiceID,Timestamp", "$filter": f"Timestamp gt {before[key]}L"})[0]
    assert [r["InvoiceID"] for r in after] == [key]  # fmt: skip


def test_delete_removes_the_invoice_and_logs_it_in_sync_deleted(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    key = send(eol, "POST", f"{division}/{INVOICES}", invoice(books)).json()["d"]["InvoiceID"]
    response = send(eol, "DELETE", f"{division}/{INVOICES}(guid'{key}')")
    assert response.status_code == 204 and response.content == b""
    assert eol.get(f"{division}/{INVOICES}(guid'{key}')").status_code == 404
    lines = eol.get(f"{division}/{LINES}", {"$filter": f"InvoiceID eq guid'{key}'", "$select": "ID"})
    assert lines.json()["d"]["results"] == []
    deleted, _ = eol.follow(
        f"{division}/sync/Deleted", {"$select": "EntityKey,EntityType", "$filter": "Timestamp gt 1L"}
    )
    assert {"EntityKey": key, "EntityType": 13} in [
        {k: r[k] for k in ("EntityKey", "EntityType")} for r in deleted
    ]
    snapshot = eol.control("GET", f"snapshot/{division}/salesinvoice/SalesInvoices")
    assert key not in [r["InvoiceID"] for r in snapshot["rows"]]  # fmt: skip


def test_snapshot_shows_created_and_updated_rows(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    key = send(eol, "POST", f"{division}/{INVOICES}", invoice(books)).json()["d"]["InvoiceID"]
    send(eol, "PUT", f"{division}/{INVOICES}(guid'{key}')", {"Description": "In the snapshot"})
    rows = eol.control("GET", f"snapshot/{division}/salesinvoice/SalesInvoices")["rows"]
    assert [r["Description"] for r in rows if r["InvoiceID"] == key] == ["In the snapshot"]


def test_balanced_journal_entry_and_its_lines(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    lines = [
        {"GLAccount": books["gls"][0], "AmountFC": 100.0},
        {"GLAccount": books["gls"][1], "AmountFC": -100.0},
    ]
    response = send(
        eol, "POST", f"{division}/{ENTRIES}", {"JournalCode": "90", "GeneralJournalEntryLines": lines}
    )
    assert response.status_code == 201, response.text
    key = response.json()["d"]["EntryID"]
    got = eol.get(
        f"{division}/{ENTRIES}(guid'{key}')/GeneralJournalEntryLines", {"$select": "AmountFC,AmountDC"}
    )
    assert sorted(r["AmountDC"] for r in got.json()["d"]["results"]) == [-100, 100]  # fmt: skip


REFUSALS = [
    ("missing mandatory", INVOICES, lambda b: {k: v for k, v in invoice(b).items() if k != "OrderedBy"}, 500,
     "Mandatory: Ordered by"),
    ("no lines", INVOICES, lambda b: invoice(b, SalesInvoiceLines=[]), 500, "Mandatory: Sales invoice lines"),
    ("unknown property", INVOICES, lambda b: invoice(b, Colour="red"), 400,
     "Error processing request stream. The property name 'Colour' specified for type "
     "'Exact.Web.Api.Models.SalesInvoice' is not valid."),
    ("read-only property", INVOICES, lambda b: invoice(b, AmountDC=3.0), 400,
     "Error processing request stream. The property 'AmountDC' is read-only and cannot be set."),
    ("wrong type", INVOICES, lambda b: invoice(b, OrderedBy="1000"), 400,
     "Error processing request stream. Error encountered in converting the value from request payload for "
     "property 'OrderedBy' to type 'Guid', which is the property's expected type. See inner exception for "
     "more detail."),
    ("too long", INVOICES, lambda b: invoice(b, YourRef="x" * 31), 500, "Invalid: Your ref (too long: 31 characters, at most 30)"),
    ("unknown account", INVOICES, lambda b: invoice(b, OrderedBy="00000000-0000-0000-0000-000000000001"), 500,
     "Invalid reference: Ordered by"),
    ("unknown journal", INVOICES, lambda b: invoice(b, Journal="99"), 500, "Invalid reference: Journal"),
    ("lines not an array", INVOICES, lambda b: invoice(b, SalesInvoiceLines={"Item": b["items"][0]}), 400,
     "Error processing request stream. The request should be a valid top-level resource object."),
    ("unbalanced entry", ENTRIES, lambda b: {"JournalCode": "90", "FinancialYear": 2026, "FinancialPeriod": 3,
     "GeneralJournalEntryLines": [{"GLAccount": b["gls"][0], "AmountFC": 100.0},
                                  {"GLAccount": b["gls"][1], "AmountFC": -90.0}]}, 500,
     "The entry is not in balance on: 2026 / 3 (Type: General journal) - Difference: EUR 10.00"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "endpoint", "make", "status", "message"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_refusals_carry_exacts_status_and_error_body(
    eol: SandboxClient,
    books: dict,
    name: str,
    endpoint: str,
    make: Callable[[dict], object],
    status: int,
    message: str,
) -> None:
    division = books["division"]
    before = eol.control("GET", f"snapshot/{division}/{endpoint}")["count"]
    response = send(eol, "POST", f"{division}/{endpoint}", make(books))
    assert response.status_code == status, response.text
    assert response.json() == {"error": {"code": "", "message": {"lang": "", "value": message}}}
    assert eol.control("GET", f"snapshot/{division}/{endpoint}")["count"] == before  # nothing was written


def test_400s_count_in_the_error_budget_and_block_the_endpoint(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    eol.control("POST", "settings", json={"error_limit": 3})
    for _ in range(3):
        assert send(eol, "POST", f"{division}/{INVOICES}", invoice(books, Colour="red")).status_code == 400
    blocked = send(eol, "POST", f"{division}/{INVOICES}", invoice(books))
    assert blocked.status_code == 429 and "error responses" in blocked.text
    assert (
        eol.get(f"{division}/crm/Accounts", {"$filter": "Status eq 'C'", "$select": "ID"}).status_code == 200
    )


def test_validation_errors_take_the_configured_status_and_then_count(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    eol.control("POST", "settings", json={"validation_error_status": 400, "error_limit": 2})
    broken = invoice(books, Journal="99")
    assert [send(eol, "POST", f"{division}/{INVOICES}", broken).status_code for _ in range(3)] == [
        400,
        400,
        429,
    ]


def test_writes_count_in_the_minute_limit(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    eol.control("POST", "settings", json={"minutely_limit": 2})
    eol.advance(60)  # a fresh minute: the reads of the fixture counted in the last one
    statuses = [send(eol, "PUT", f"{division}/{INVOICES}(guid'{k}')", {"Description": "x"}).status_code
                for k in ["00000000-0000-0000-0000-000000000001"] * 3]  # fmt: skip
    assert statuses == [404, 404, 429]


def test_lost_response_commits_but_the_client_hears_nothing(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    eol.control(
        "POST",
        "faults",
        json={"kind": "lost_response", "count": 1, "path_prefix": f"/api/v1/{division}/salesinvoice"},
    )
    # a read is not a write: it passes and leaves the fault armed
    assert first(eol, f"{division}/{INVOICES}", "Description eq 'Lost'", "InvoiceID") == []
    with pytest.raises(httpx.TransportError):
        send(eol, "POST", f"{division}/{INVOICES}", invoice(books, Description="Lost"))
    landed = first(eol, f"{division}/{INVOICES}", "Description eq 'Lost'", "InvoiceID")
    assert len(landed) == 1
    assert eol.control("GET", "faults")["faults"] == []  # fmt: skip


def test_methods_the_endpoint_does_not_take_are_405(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    key = "00000000-0000-0000-0000-000000000001"
    cases = [("PUT", f"{division}/{ENTRIES}(guid'{key}')"), ("POST", f"{division}/bulk/SalesInvoice/SalesInvoices"),
             ("DELETE", f"{division}/{INVOICES}"), ("POST", f"{division}/{INVOICES}(guid'{key}')"),
             ("PATCH", f"{division}/{INVOICES}(guid'{key}')")]  # fmt: skip
    for method, path in cases:
        response = send(eol, method, path, {})
        assert response.status_code == 405, (method, path, response.text)
        assert response.json()["error"]["message"]["value"] == (
            f"The requested resource does not support http method '{method}'."
        )


def test_put_of_lines_through_the_header_is_refused(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    key = send(eol, "POST", f"{division}/{INVOICES}", invoice(books)).json()["d"]["InvoiceID"]
    response = send(
        eol, "PUT", f"{division}/{INVOICES}(guid'{key}')", {"SalesInvoiceLines": [{"Quantity": 3}]}
    )
    assert response.status_code == 400
    assert "Deep updates are not supported" in response.json()["error"]["message"]["value"]


def header_bodies(b: dict) -> dict[str, tuple[str, dict]]:
    """A POST body with two inline lines for each header entity, and the name of its lines."""
    item_lines = [{"Item": b["items"][0], "Quantity": 1.0}, {"Item": b["items"][1], "Quantity": 2.0}]
    gl_lines = [{"GLAccount": b["gls"][0], "AmountFC": 40.0}, {"GLAccount": b["gls"][1], "AmountFC": -40.0}]
    order_lines = [{"Item": line["Item"], "QuantityInPurchaseUnits": line["Quantity"]} for line in item_lines]
    return {
        "salesorder/SalesOrders": (
            "SalesOrderLines",
            {"OrderedBy": b["customer"], "SalesOrderLines": item_lines},
        ),
        "purchaseentry/PurchaseEntries": (
            "PurchaseEntryLines",
            {"Journal": "60", "Supplier": b["customer"], "PurchaseEntryLines": gl_lines},
        ),
        "salesentry/SalesEntries": (
            "SalesEntryLines",
            {"Journal": "70", "Customer": b["customer"], "SalesEntryLines": gl_lines},
        ),
        ENTRIES: ("GeneralJournalEntryLines", {"JournalCode": "90", "GeneralJournalEntryLines": gl_lines}),
        "financialtransaction/BankEntries": (
            "BankEntryLines",
            {"JournalCode": "20", "BankEntryLines": gl_lines},
        ),
        "financialtransaction/CashEntries": (
            "CashEntryLines",
            {"JournalCode": "10", "CashEntryLines": gl_lines},
        ),
        "crm/Quotations": ("QuotationLines", {"OrderAccount": b["customer"], "QuotationLines": item_lines}),
        "purchaseorder/PurchaseOrders": (
            "PurchaseOrderLines",
            {"Supplier": b["customer"], "PurchaseOrderLines": order_lines},
        ),
        "purchase/PurchaseInvoices": (
            "PurchaseInvoiceLines",
            {"Journal": "60", "Supplier": b["customer"], "Type": 8030, "PurchaseInvoiceLines": item_lines},
        ),
    }


HEADERS = [INVOICES, "salesorder/SalesOrders", "purchaseentry/PurchaseEntries", "salesentry/SalesEntries", ENTRIES,
           "financialtransaction/BankEntries", "financialtransaction/CashEntries", "crm/Quotations",
           "purchaseorder/PurchaseOrders", "purchase/PurchaseInvoices"]  # fmt: skip


@pytest.mark.parametrize("endpoint", HEADERS)
def test_inline_lines_of_each_header_are_rows_of_their_own(
    eol: SandboxClient, books: dict, endpoint: str
) -> None:
    division = books["division"]
    nav, body = (
        ("SalesInvoiceLines", invoice(books)) if endpoint == INVOICES else header_bodies(books)[endpoint]
    )
    response = send(eol, "POST", f"{division}/{endpoint}", body)
    assert response.status_code == 201, response.text
    d = response.json()["d"]
    key = d["__metadata"]["uri"].rsplit("(", 1)[1].rstrip(")")
    lines = eol.get(f"{division}/{endpoint}({key})/{nav}")
    assert lines.status_code == 200, lines.text
    got = lines.json()["d"]["results"]
    assert len(got) == 2 and len({r["ID"] for r in got}) == 2
    expanded = eol.get(f"{division}/{endpoint}({key})", {"$expand": nav})
    assert [r["ID"] for r in expanded.json()["d"][nav]["results"]] == [r["ID"] for r in got]


def test_a_line_written_through_its_own_endpoint_moves_its_header(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    key = send(eol, "POST", f"{division}/{INVOICES}", invoice(books)).json()["d"]["InvoiceID"]
    line = {"InvoiceID": key, "Item": books["items"][0], "Quantity": 1.0, "UnitPrice": 4.5}
    created = send(eol, "POST", f"{division}/{LINES}", line)
    assert created.status_code == 201, created.text
    amount = eol.get(f"{division}/{INVOICES}(guid'{key}')", {"$select": "AmountFC"}).json()["d"]["AmountFC"]
    assert amount == 30  # 25.5 + 4.5
    line_key = created.json()["d"]["ID"]
    assert send(eol, "PUT", f"{division}/{LINES}(guid'{line_key}')", {"Quantity": 3.0}).status_code == 204
    got = eol.get(f"{division}/{LINES}(guid'{line_key}')", {"$select": "AmountFC"}).json()["d"]["AmountFC"]
    assert got == 13.5
    assert (
        eol.get(f"{division}/{INVOICES}(guid'{key}')", {"$select": "AmountFC"}).json()["d"]["AmountFC"] == 39
    )
    assert send(eol, "DELETE", f"{division}/{LINES}(guid'{line_key}')").status_code == 204
    assert (
        eol.get(f"{division}/{INVOICES}(guid'{key}')", {"$select": "AmountFC"}).json()["d"]["AmountFC"]
        == 25.5
    )
    orphan = send(
        eol, "POST", f"{division}/{LINES}", {**line, "InvoiceID": "00000000-0000-0000-0000-000000000009"}
    )
    assert orphan.status_code == 500
    assert orphan.json()["error"]["message"]["value"] == "Invalid reference: Invoice ID"


def test_put_cannot_clear_a_mandatory_property_and_a_taken_key_is_refused(
    eol: SandboxClient, books: dict
) -> None:
    division = books["division"]
    key = send(eol, "POST", f"{division}/{INVOICES}", invoice(books)).json()["d"]["InvoiceID"]
    cleared = send(eol, "PUT", f"{division}/{INVOICES}(guid'{key}')", {"OrderedBy": None})
    assert (cleared.status_code, cleared.json()["error"]["message"]["value"]) == (
        500,
        "Mandatory: Ordered by",
    )
    again = send(eol, "POST", f"{division}/{INVOICES}", invoice(books, InvoiceID=key))
    assert (again.status_code, again.json()["error"]["message"]["value"]) == (
        500,
        "Already exists: Invoice ID",
    )
    fresh = "5c1f4c36-0d55-4f41-9c43-0b43a4a1e001"
    chosen = send(eol, "POST", f"{division}/{INVOICES}", invoice(books, InvoiceID=fresh))
    assert chosen.status_code == 201 and chosen.json()["d"]["InvoiceID"] == fresh


def test_generated_rows_still_grow_change_and_go_around_written_ones(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    keys = [send(eol, "POST", f"{division}/{INVOICES}", invoice(books, Description=f"Kept {i}")).json()["d"]["InvoiceID"]
            for i in range(2)]  # fmt: skip
    before = eol.control("GET", f"snapshot/{division}/salesinvoice/SalesInvoices")["count"]
    done = eol.control(
        "POST",
        "mutate",
        json={"division": division, "entity": INVOICES, "inserts": 3, "updates": 40, "deletes": 2},
    )
    after = eol.control("GET", f"snapshot/{division}/salesinvoice/SalesInvoices")["rows"]
    assert len(after) == before + done["inserted"] - done["deleted"]
    assert len({r["InvoiceID"] for r in after}) == len(after)
    for key in keys:  # written rows keep their values unless a mutation deleted them
        got = eol.get(f"{division}/{INVOICES}(guid'{key}')", {"$select": "InvoiceID,OrderedBy"})
        assert got.status_code in (200, 404)
        if got.status_code == 200:
            assert got.json()["d"]["OrderedBy"] == books["customer"]
    generated = [r["InvoiceID"] for r in after if r["InvoiceID"] not in keys]
    by_key = eol.get(f"{division}/{INVOICES}(guid'{generated[-1]}')", {"$select": "InvoiceID"})
    assert by_key.json()["d"]["InvoiceID"] == generated[-1]  # fmt: skip


def test_post_an_account_with_exacts_value_forms(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    body = {"Name": "Bakkerij Test", "Code": "4711", "Status": "C", "StartDate": "2026-03-01T00:00:00",
            "EndDate": "/Date(1767225600000)/", "IsSupplier": True}  # fmt: skip
    response = send(eol, "POST", f"{division}/crm/Accounts", body)
    assert response.status_code == 201, response.text
    d = response.json()["d"]
    assert d["Code"] == "4711".rjust(18)  # right-aligned in 18 characters, as Exact keeps it
    assert (d["StartDate"], d["EndDate"]) == ("/Date(1772323200000)/", "/Date(1767225600000)/")
    found = first(eol, f"{division}/crm/Accounts", "Name eq 'Bakkerij Test'", "ID,Code,IsSupplier")
    assert [(r["ID"], r["IsSupplier"]) for r in found] == [(d["ID"], True)]
    missing = send(eol, "POST", f"{division}/crm/Accounts", {"Code": "4712"})
    assert missing.json()["error"]["message"]["value"] == "Mandatory: Name"
    too_long = send(eol, "POST", f"{division}/crm/Accounts", {"Name": "X", "Code": "1" * 19})
    assert (
        too_long.json()["error"]["message"]["value"] == "Invalid: Code (too long: 19 characters, at most 18)"
    )


def test_a_general_journal_entry_books_transaction_lines(eol: SandboxClient, books: dict) -> None:
    division = books["division"]
    lines = [{"GLAccount": books["gls"][0], "AmountFC": 75.0, "Description": "Accrual"},
             {"GLAccount": books["gls"][1], "AmountFC": -75.0, "Description": "Accrual"}]  # fmt: skip
    body = {
        "JournalCode": "90",
        "FinancialYear": 2026,
        "FinancialPeriod": 2,
        "GeneralJournalEntryLines": lines,
    }
    key = send(eol, "POST", f"{division}/{ENTRIES}", body).json()["d"]["EntryID"]
    select = (
        "ID,EntryID,Type,Status,AmountDC,GLAccountCode,JournalCode,FinancialYear,FinancialPeriod,LineNumber"
    )
    booked = first(
        eol, f"{division}/financialtransaction/TransactionLines", f"EntryID eq guid'{key}'", select
    )
    assert sorted((r["LineNumber"], r["AmountDC"], r["Type"], r["Status"]) for r in booked) == [
        (1, 75, 90, 20), (2, -75, 90, 20)]  # fmt: skip
    assert all(r["GLAccountCode"] and (r["FinancialYear"], r["FinancialPeriod"]) == (2026, 2) for r in booked)
    synced, _ = eol.follow(
        f"{division}/sync/Financial/TransactionLines", {"$select": "ID", "$filter": "Timestamp gt 1L"}
    )
    assert {r["ID"] for r in booked} <= {r["ID"] for r in synced}
    assert send(eol, "DELETE", f"{division}/{ENTRIES}(guid'{key}')").status_code == 204
    assert (
        first(eol, f"{division}/financialtransaction/TransactionLines", f"EntryID eq guid'{key}'", "ID") == []
    )
    deleted, _ = eol.follow(
        f"{division}/sync/Deleted", {"$select": "EntityKey,EntityType", "$filter": "Timestamp gt 1L"}
    )
    assert {r["EntityKey"] for r in deleted if r["EntityType"] == 1} == {r["ID"] for r in booked}

"""The generated books as the API serves them: balanced entries, invoices matching their entries, roles."""

from __future__ import annotations

import collections
import datetime as dt

from tests.sandbox_client import SandboxClient


def _rows(eol: SandboxClient, division: int, entity: str) -> list[dict]:
    return eol.control("GET", f"snapshot/{division}/{entity}")["rows"]


def test_every_entry_balances(eol: SandboxClient) -> None:
    for division in eol.divisions:
        lines = _rows(eol, division, "financialtransaction/TransactionLines")
        assert 500 <= len(lines) <= 2000
        totals: dict[str, int] = collections.defaultdict(int)
        for line in lines:
            totals[line["EntryID"]] += round(line["AmountDC"] * 100)
        assert totals and all(v == 0 for v in totals.values())


def test_sales_invoices_match_their_transaction_lines(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    invoices = _rows(eol, division, "salesinvoice/SalesInvoices")
    invoice_lines = _rows(eol, division, "salesinvoice/SalesInvoiceLines")
    lines = _rows(eol, division, "financialtransaction/TransactionLines")
    by_invoice = collections.defaultdict(list)
    for line in invoice_lines:
        by_invoice[line["InvoiceID"]].append(line)
    sales = collections.defaultdict(list)
    for line in lines:
        if line["InvoiceNumber"] is not None and line["Type"] in (20, 21):  # sales entry or credit note
            sales[line["InvoiceNumber"]].append(line)
    assert invoices
    for invoice in invoices:
        own = by_invoice[invoice["InvoiceID"]]
        assert 1 <= len(own) <= 5
        assert round(sum(line["AmountFC"] for line in own), 2) == round(invoice["AmountFCExclVat"], 2)
        entry = sales[invoice["InvoiceNumber"]]
        assert entry, f"invoice {invoice['InvoiceNumber']} has no sales entry"
        debtor = [line for line in entry if line["GLAccountCode"].strip() == "1300"]
        assert len(debtor) == 1
        assert round(debtor[0]["AmountDC"], 2) == round(invoice["AmountDC"], 2)
        assert debtor[0]["Account"] == invoice["InvoiceTo"]


def test_gl_codes_look_like_a_dutch_chart_of_accounts(eol: SandboxClient) -> None:
    accounts = _rows(eol, eol.divisions[0], "financial/GLAccounts")
    codes = {a["Code"].strip(): a for a in accounts}
    for code in ("1000", "1100", "1300", "1600", "8000"):
        assert code in codes
    assert codes["1300"]["BalanceType"] == "B"
    assert codes["8000"]["BalanceType"] == "W"


def test_user_roles_include_manage_subscriptions_with_and_without_end_dates(eol: SandboxClient) -> None:
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    seen_open = seen_past = False
    for division in eol.divisions:
        roles = [r for r in _rows(eol, division, "users/UserRoles") if r["Role"] == 274]
        users = {u["UserID"] for u in _rows(eol, division, "users/Users")}
        assert all(r["UserID"] in users for r in roles)
        seen_open |= any(r["EndDate"] is None for r in roles)
        seen_past |= any(r["EndDate"] is not None and int(r["EndDate"][6:-2]) < now_ms for r in roles)
    assert seen_open and seen_past

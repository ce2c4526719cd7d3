"""What a posted general journal entry books: one financial transaction line per entry line.

Exact posts a general journal entry at once: its lines appear in ``financialtransaction/TransactionLines``
(and so in the bulk and sync endpoints of the ledger) with the entry's ID, number and journal, type 90
("general journal") and status 20 (open). Only general journal entries are booked here: their lines balance
by themselves, where a sales, purchase, bank or cash entry would add receivable, payable, VAT or bank lines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

LEDGER = "financialtransaction/TransactionLines"
#: The entities whose POST books transaction lines, and the transaction type of those lines.
BOOKED = {"generaljournalentry/GeneralJournalEntries": 90}
#: Line properties that go to the transaction line as they are.
_COPIED = ("GLAccount", "Account", "Description", "Notes", "Quantity", "VATCode", "VATPercentage", "Project",
           "CostCenter", "CostUnit", "Asset", "Document", "OffsetID")  # fmt: skip


def ledger_lines(
    entry_type: int, header: Mapping[str, object], lines: list[Mapping[str, object]], today_ms: int
) -> list[dict[str, object]]:
    """The transaction lines of a posted entry (``header`` as stored, with its key and number)."""
    out = []
    for number, line in enumerate(lines, 1):
        amount = line.get("AmountFC")
        given = line.get("Date")
        date = given if isinstance(given, int) else today_ms
        moment = dt.datetime.fromtimestamp(date / 1000, dt.UTC)
        row: dict[str, object] = {name: line.get(name) for name in _COPIED if line.get(name) is not None}
        row.update(
            {
                "EntryID": header.get("EntryID"),
                "EntryNumber": header.get("EntryNumber"),
                "JournalCode": header.get("JournalCode"),
                "LineNumber": number,
                "Type": entry_type,
                "Status": 20,
                "Date": date,
                "FinancialYear": header.get("FinancialYear") or moment.year,
                "FinancialPeriod": header.get("FinancialPeriod") or moment.month,
                "AmountFC": amount,
                "AmountDC": amount,
                "Currency": header.get("Currency") or "EUR",
            }
        )
        out.append(row)
    return out

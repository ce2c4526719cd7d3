"""Reference lists the books use by code, as generic entities with fixed rows: journals, VAT codes,
payment conditions, currencies, units and financial periods; and the journal entries of the books.

Their codes are the ones the hand-made generators write (``JournalCode`` 70, ``VATCode`` 2, ``Unit``
"pc", ``PaymentCondition`` 30 …), so every code in the books names a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from exactsql.sandbox import datagen_pools as P
from exactsql.sandbox import datagen_templates as T
from exactsql.sandbox.datagen_base import Column, Table, const, day_ms, fk, pool, year_month
from exactsql.sandbox.datagen_books import Books
from exactsql.sandbox.datagen_generic import Spec
from exactsql.sandbox.datagen_links import ENTRIES

if TYPE_CHECKING:
    from exactsql.sandbox.datagen import DivisionData

_JOURNALS = sorted(T.JOURNALS)
JOURNAL_TYPES = {10: 10, 20: 12, 60: 22, 70: 20, 90: 90}
"""Exact's journal type of each journal of the books: cash, bank, purchase, sales, general."""
JOURNAL_ROW = {j: k for k, j in enumerate(_JOURNALS)}
"""The row of financial/Journals of each journal of the books."""
_UNITS = sorted({(p[1], p[2]) for _, products in P.PROFILES for p in products})
_CURRENCIES = (
    ("EUR", "Euro"),
    ("USD", "Amerikaanse dollar"),
    ("GBP", "Brits pond"),
    ("CHF", "Zwitserse frank"),
)


def _fixed(values: list) -> Column:
    """A column of fixed values by row (rows beyond them, added later, repeat the last one)."""
    table = pool(values)
    return lambda i: np.take(table, np.minimum(i, len(table) - 1))


def _master_anchor(div: DivisionData) -> Column:
    return lambda i: np.full(len(i), div.created_day, dtype=np.int64)


def journals(div: DivisionData) -> Spec:
    gl = {10: "1000", 20: "1100", 60: "1600", 70: "1300"}
    gl_rows = np.array([div.gl.index[gl[j]] if j in gl else -1 for j in _JOURNALS], dtype=np.int64)
    return Spec(
        len(_JOURNALS),
        cols={
            "Code": _fixed([T.JOURNALS[j][0] for j in _JOURNALS]),
            "Description": _fixed([T.JOURNALS[j][1] for j in _JOURNALS]),
            "Type": lambda i: np.array([JOURNAL_TYPES[j] for j in _JOURNALS])[
                np.minimum(i, len(_JOURNALS) - 1)
            ],
            "Currency": lambda i: const("EUR", len(i)),
        },
        roles={"GLAccount": lambda i: gl_rows[np.minimum(i, len(gl_rows) - 1)]},
        anchor=_master_anchor(div),
    )


def vat_codes(div: DivisionData) -> Spec:
    claim, pay = div.gl.index["1520"], [div.gl.index["1500"], div.gl.index["1510"]]
    to_pay = np.array([pay[0], pay[1], -1, -1], dtype=np.int64)
    to_claim = np.array([-1, -1, claim, claim], dtype=np.int64)
    return Spec(
        len(P.VAT_CODES),
        cols={
            "Code": _fixed([v[0] for v in P.VAT_CODES]),
            "Description": _fixed([v[1] for v in P.VAT_CODES]),
            "Percentage": lambda i: np.array([v[2] for v in P.VAT_CODES])[
                np.minimum(i, len(P.VAT_CODES) - 1)
            ],
            "Type": _fixed(["E", "E", "I", "I"]),
        },
        roles={
            "GLToPay": lambda i: to_pay[np.minimum(i, 3)],
            "GLToClaim": lambda i: to_claim[np.minimum(i, 3)],
        },
        anchor=_master_anchor(div),
    )


def payment_conditions(div: DivisionData) -> Spec:
    rows = P.PAYMENT_CONDITIONS
    return Spec(
        len(rows),
        cols={
            "Code": _fixed([r[0] for r in rows]),
            "Description": _fixed([r[1] for r in rows]),
            "PaymentDays": lambda i: np.array([r[2] for r in rows])[np.minimum(i, len(rows) - 1)],
            "DiscountPaymentDays": lambda i: np.zeros(len(i), dtype=np.int64),
            "DiscountPercentage": lambda i: np.zeros(len(i)),
            "Percentage": lambda i: np.zeros(len(i)),
            "PaymentEndOfMonths": lambda i: np.zeros(len(i), dtype=np.int64),
        },
        anchor=_master_anchor(div),
    )


def currencies(div: DivisionData) -> Spec:
    return Spec(
        len(_CURRENCIES),
        cols={
            "Code": _fixed([c[0] for c in _CURRENCIES]),
            "Description": _fixed([c[1] for c in _CURRENCIES]),
            "AmountPrecision": lambda i: np.full(len(i), 0.01),
            "PricePrecision": lambda i: np.full(len(i), 0.01),
        },
        anchor=_master_anchor(div),
    )


def units(div: DivisionData) -> Spec:
    return Spec(
        len(_UNITS),
        cols={
            "Code": _fixed([u[0] for u in _UNITS]),
            "Description": _fixed([u[1] for u in _UNITS]),
            "Type": _fixed(["T" if u[0] == "h" else "Q" for u in _UNITS]),
            "TimeUnit": _fixed(["h" if u[0] == "h" else None for u in _UNITS]),
            "Active": lambda i: np.ones(len(i), dtype=bool),
            "Main": lambda i: (i == 0).astype(np.int64),
        },
        anchor=_master_anchor(div),
    )


def financial_periods(div: DivisionData) -> Spec:
    """Twelve monthly periods of every financial year of the books and of the next one."""
    cal = div.cal
    years = cal.today.year - cal.first_year + 2
    months = (cal.first_year - 1970) * 12 + np.arange(years * 12)
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    last = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1
    year, period = year_month(first)
    at = lambda i: np.minimum(i, len(first) - 1)  # noqa: E731
    return Spec(
        len(first),
        cols={
            "FinYear": lambda i: year[at(i)],
            "FinPeriod": lambda i: period[at(i)],
            "StartDate": lambda i: day_ms(first[at(i)]),
            "EndDate": lambda i: day_ms(last[at(i)]),
        },
        anchor=lambda i: np.minimum(first[at(i)] - 31, cal.ref_day),
    )


class Entries(Table):
    """The journal entries of the books (the target of ``EntryID`` columns; no endpoint of its own)."""

    entity = ENTRIES

    def __init__(self, div: DivisionData, books: Books) -> None:
        super().__init__(div)
        self.books = books
        self.n = books.n_entries
        journal = np.array([T.JOURNALS[j][0] for j in _JOURNALS], dtype=object)
        self.cols["EntryNumber"] = lambda e: books.e_number[e]
        self.cols["Date"] = lambda e: day_ms(books.e_day[e])
        self.cols["JournalCode"] = lambda e: journal[np.searchsorted(_JOURNALS, books.e_journal(e))]
        self.cols["Description"] = lambda e: div.lookup(
            "financialtransaction/TransactionLines", "Description", books.e_lstart[e]
        )
        self.cols["Account"] = lambda e: fk(div.key_salt("crm/Accounts"), books.e_account[e].astype(np.int64))

    def count(self) -> int:
        return self.books.n_entries


REFERENCE: dict[str, Callable[[DivisionData], Spec]] = {
    "financial/Journals": journals,
    "vat/VATCodes": vat_codes,
    "cashflow/PaymentConditions": payment_conditions,
    "general/Currencies": currencies,
    "logistics/Units": units,
    "financial/FinancialPeriods": financial_periods,
}

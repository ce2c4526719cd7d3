"""Report entities computed from the books, so that they add up to what the transaction lines say:
reporting balances, revenue per month, profit and loss, open items and their ageing, opening balances
and the journal status per period.

Reports are snapshots of the books as generated (changes made later through the control plane do not
move them), with rows as Exact reports them; the generic generator fills the remaining columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from exactsql.sandbox import datagen_pools as P
from exactsql.sandbox import datagen_templates as T
from exactsql.sandbox.datagen_base import Column, const, day_ms, obj_ints, pool, year_month
from exactsql.sandbox.datagen_books import K_PAYMENT, K_PURCHASE
from exactsql.sandbox.datagen_finance import TransactionLines
from exactsql.sandbox.datagen_generic import Spec
from exactsql.sandbox.datagen_reference import JOURNAL_ROW, JOURNAL_TYPES

if TYPE_CHECKING:
    from exactsql.sandbox.datagen import DivisionData

TL = "financialtransaction/TransactionLines"
_AGE_GROUPS = ("0 - 30 dagen", "31 - 60 dagen", "61 - 90 dagen", "Meer dan 90 dagen")


def _at(values: np.ndarray) -> Column:
    """A column of precomputed values by row."""
    return lambda i: values[i]


def _same(value: object) -> Column:
    """The same value in every row (int64 and float64 columns for numbers)."""
    if isinstance(value, int | float):
        dtype = np.int64 if isinstance(value, int) else np.float64
        return lambda i: np.full(len(i), value, dtype=dtype)
    return lambda i: const(value, len(i))


def _none(i: np.ndarray) -> np.ndarray:
    """No target row (the books book no cost centers or units)."""
    return np.full(len(i), -1, dtype=np.int64)


def _month_end(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    months = (year - 1970) * 12 + month
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1


class Ledger:
    """The base lines of the books as arrays: GL account, cents, day, year and month per line."""

    def __init__(self, div: DivisionData) -> None:
        b = div.books
        self.div = div
        self.gl = b.l_gl.astype(np.int64)
        self.cents = b.l_cents
        self.day = b.e_day[b.l_entry].astype(np.int64)
        self.year, self.month = year_month(self.day)
        self.pl = div.books.m.pl_gl[self.gl]
        revenue = np.array([str(code).startswith("8") for code in div.gl.p_code.tolist()], dtype=bool)
        self.revenue = revenue[self.gl]
        self.opening = b.e_type(b.l_entry.astype(np.int64)) == 10

    def balances(self) -> Spec:
        """financial/ReportingBalance: one row per GL account, year and month with lines."""
        key = (self.gl * 10_000 + self.year) * 100 + self.month
        uniq, inv = np.unique(key, return_inverse=True)
        debit = np.bincount(inv, weights=np.maximum(self.cents, 0))
        credit = np.bincount(inv, weights=np.maximum(-self.cents, 0))
        gl, year, month = uniq // 1_000_000, uniq // 100 % 10_000, uniq % 100
        accounts = self.div.gl  # the columns below keep the results only, not the lines
        classes = {c[0]: c[2] for c in P.CLASSIFICATIONS}
        return Spec(
            len(uniq),
            cols={
                "ID": lambda i: i + 1,
                "Amount": _at(np.round((debit - credit) / 100, 2)),
                "AmountDebit": _at(np.round(debit / 100, 2)),
                "AmountCredit": _at(np.round(credit / 100, 2)),
                "Count": _at(np.bincount(inv).astype(np.int64)),
                "ReportingYear": _at(year),
                "ReportingPeriod": _at(month),
                "BalanceType": lambda i: np.take(accounts.p_btype, gl[i]),
                "Status": lambda i: np.full(len(i), 50, dtype=np.int64),
                "Type": lambda i: obj_ints(np.zeros(len(i), np.int64), np.zeros(len(i), bool)),
                "ClassificationCode": lambda i: np.take(accounts.p_report, gl[i]),
                "ClassificationDescription": lambda i: pool(
                    classes.get(c) for c in np.take(accounts.p_report, gl[i]).tolist()
                ),
            },
            roles={"GLAccount": _at(gl), "CostCenter": _none, "CostUnit": _none},
            anchor=_at(_month_end(year, month)),
        )

    def monthly(self, mask: np.ndarray, sign: int = -1) -> np.ndarray:
        """Cents per month of the books (first January first) of the lines in ``mask``."""
        cal = self.div.cal
        slot = (self.year - cal.first_year) * 12 + self.month - 1
        return (
            sign * np.bincount(slot[mask], weights=self.cents[mask], minlength=cal.n_months)[: cal.n_months]
        )

    def revenue_list(self) -> Spec:
        """read_financial/RevenueList: revenue per month from the first financial year up to this month."""
        cal = self.div.cal
        months = np.arange(cal.n_months)
        revenue = np.round(self.monthly(self.revenue) / 100, 2) + 0.0  # no -0.0
        year, month = cal.first_year + months // 12, months % 12 + 1
        return Spec(
            cal.n_months,
            cols={"Year": _at(year), "Period": _at(month), "Amount": _at(revenue)},
            anchor=_at(np.minimum(_month_end(year, month), cal.ref_day)),
        )

    def profit_and_loss(self) -> Spec:
        """read_financial/ProfitLossOverview: this year and period against the previous year's."""
        cal = self.div.cal
        now = (cal.today.year - cal.first_year) * 12 + cal.today.month - 1
        revenue = self.monthly(self.revenue) / 100
        result = self.monthly(self.pl) / 100
        costs = revenue - result
        year_of = lambda m: slice(m - m % 12, m + 1)  # noqa: E731
        figures = {}
        for name, values in (("Revenue", revenue), ("Costs", costs), ("Result", result)):
            figures[f"{name}CurrentPeriod"] = values[now]
            figures[f"{name}CurrentYear"] = values[year_of(now)].sum()
            figures[f"{name}PreviousYearPeriod"] = values[now - 12] if now >= 12 else 0.0
            figures[f"{name}PreviousYear"] = (
                values[now - 12 - now % 12 : now - now % 12].sum() if now >= 12 else 0.0
            )
        cols = {name: _same(round(float(value), 2)) for name, value in figures.items()}
        cols["CurrentYear"] = _same(cal.today.year)
        cols["PreviousYear"] = _same(cal.today.year - 1)
        cols["CurrentPeriod"] = cols["PreviousYearPeriod"] = _same(cal.today.month)
        return Spec(1, cols=cols, anchor=_same(cal.ref_day))

    def opening_balances(self, previous: bool) -> Spec:
        """openingbalance_*: the balance of each balance-sheet account at the start of the year; the result
        of the years before goes to the general reserve."""
        div = self.div
        year = div.cal.today.year - (1 if previous else 0)
        before = (self.year < year) | (self.opening & (self.year == year))
        gl = np.where(self.pl, div.gl.index["0710"], self.gl)
        total = np.bincount(gl[before], weights=self.cents[before], minlength=div.gl.n)
        rows = np.flatnonzero(np.round(total) != 0)
        amount = np.round(total[rows] / 100, 2)
        return Spec(
            len(rows),
            cols={
                "ReportingYear": _same(year),
                "Amount": _at(np.abs(amount)),
                "BalanceSide": _at(np.where(amount >= 0, "D", "C").astype(object)),
            },
            roles={"GLAccount": _at(rows.astype(np.int64))},
            anchor=_same(div.cal.start_day),
        )


class OpenItems:
    """Open sales invoices (the receivables) and open purchase entries, with their age today."""

    def __init__(self, div: DivisionData) -> None:
        b = div.books
        self.div = div
        ref = div.cal.ref_day
        inv = b.open_invoices.astype(np.int64)
        paid = set(b.e_ref[b.e_kind == K_PAYMENT].tolist())
        purchases = np.flatnonzero(b.e_kind == K_PURCHASE)
        open_p = purchases[[e not in paid for e in purchases.tolist()]].astype(np.int64)
        p_account = b.e_account[open_p].astype(np.int64)
        self.sides = {
            "receivable": {
                "account": b.inv_account[inv].astype(np.int64),
                "entry": b.inv_entry[inv].astype(np.int64),
                "cents": b.inv_excl[inv] + b.inv_vatamt[inv],
                "day": b.inv_day[inv].astype(np.int64),
                "due": b.inv_due[inv].astype(np.int64),
                "journal": 70,
                "invoice": inv,
            },
            "payable": {
                "account": p_account,
                "entry": open_p,
                "cents": -b.l_cents[b.e_lstart[open_p]],
                "day": b.e_day[open_p].astype(np.int64),
                "due": b.e_day[open_p] + div.accounts.pay_days(np.maximum(p_account, 0)),
                "journal": 60,
                "invoice": np.full(len(open_p), -1, dtype=np.int64),
            },
        }
        for side in self.sides.values():
            overdue = ref - side["due"]
            side["group"] = np.clip(np.maximum(overdue, 0) // 30, 0, 3) + 1

    def items(self, which: str) -> Spec:
        """read_financial/ReceivablesList or PayablesList: one row per open item."""
        side, div = self.sides[which], self.div
        entry = side["entry"]
        invoices = "salesinvoice/SalesInvoices"
        tl = div._table(TL)
        assert isinstance(tl, TransactionLines)

        def description(i: np.ndarray) -> np.ndarray:
            if which == "receivable":
                return div.lookup(invoices, "Description", side["invoice"][i])
            return div.lookup(TL, "Description", div.books.e_lstart[entry[i]])

        def your_ref(i: np.ndarray) -> np.ndarray:
            if which == "receivable":
                return div.lookup(invoices, "YourRef", side["invoice"][i])
            return tl.purchase_refs(entry[i])

        return Spec(
            len(entry),
            cols={
                "HID": lambda i: i + 1,
                "Amount": lambda i: side["cents"][i] / 100,
                "AmountInTransit": lambda i: np.zeros(len(i)),
                "InvoiceDate": lambda i: day_ms(side["day"][i]),
                "DueDate": lambda i: day_ms(side["due"][i]),
                "EntryNumber": lambda i: div.books.e_number[entry[i]],
                "InvoiceNumber": lambda i: div.books.e_number[entry[i]],
                "Description": description,
                "YourRef": your_ref,
                "ApprovalStatus": lambda i: np.full(len(i), 1, dtype=np.int64),
            },
            roles={
                "AccountId": _at(side["account"]),
                "Journal": lambda i: np.full(len(i), JOURNAL_ROW[side["journal"]]),
            },
            anchor=_at(side["day"]),
        )

    def aging(self, which: str) -> Spec:
        """read_financial/AgingReceivablesList or AgingPayablesList: per account the open amounts by age."""
        side = self.sides[which]
        accounts, inv = np.unique(side["account"], return_inverse=True)
        cents = np.zeros((len(accounts), 4))
        np.add.at(cents, (inv, side["group"] - 1), side["cents"])
        cols: dict[str, Column] = {"TotalAmount": _at(np.round(cents.sum(axis=1) / 100, 2))}
        for g in range(4):
            cols[f"AgeGroup{g + 1}"] = _same(g + 1)
            cols[f"AgeGroup{g + 1}Amount"] = _at(np.round(cents[:, g] / 100, 2))
            cols[f"AgeGroup{g + 1}Description"] = _same(_AGE_GROUPS[g])
        return Spec(len(accounts), cols=cols, roles={"AccountId": _at(accounts.astype(np.int64))})

    def overview(self) -> Spec:
        """read_financial/AgingOverview: the open amounts of both sides per age group."""
        cols: dict[str, Column] = {
            "AgeGroup": lambda i: i + 1,
            "AgeGroupDescription": lambda i: pool(_AGE_GROUPS[k] for k in i.tolist()),
        }
        for which, name in (("receivable", "AmountReceivable"), ("payable", "AmountPayable")):
            side = self.sides[which]
            totals = np.bincount(side["group"] - 1, weights=side["cents"], minlength=4)[:4]
            cols[name] = _at(np.round(totals / 100, 2))
        return Spec(4, cols=cols)

    def outstanding(self) -> Spec:
        """read_financial/OutstandingInvoicesOverview: counts and amounts, open and overdue, in euro."""
        ref, cols = self.div.cal.ref_day, {}
        for which, name in (("receivable", "Receivable"), ("payable", "Payable")):
            side = self.sides[which]
            late = side["due"] < ref
            figures = {
                f"Outstanding{name}InvoiceAmount": side["cents"].sum() / 100,
                f"Outstanding{name}InvoiceCount": float(len(side["cents"])),
                f"Overdue{name}InvoiceAmount": side["cents"][late].sum() / 100,
                f"Overdue{name}InvoiceCount": float(late.sum()),
            }
            for key, value in figures.items():
                cols[key] = _same(round(float(value), 2))
        return Spec(1, cols=cols)


def journal_status(div: DivisionData) -> Spec:
    """read_financial/JournalStatusList: every journal in every period of the books; past periods closed."""
    cal = div.cal
    journals = sorted(T.JOURNALS)
    n = cal.n_months * len(journals)
    months = np.arange(n) // len(journals)
    journal = np.array(journals)[np.arange(n) % len(journals)]
    year, period = cal.first_year + months // 12, months % 12 + 1
    closed = months < cal.n_months - 2
    return Spec(
        n,
        cols={
            "Year": _at(year),
            "Period": _at(period),
            "JournalType": lambda i: np.array(
                [JOURNAL_TYPES[j] for j in journal[i].tolist()], dtype=np.int64
            ),
            "JournalTypeDescription": lambda i: pool(T.JOURNALS[j][1] for j in journal[i].tolist()),
            "Status": lambda i: np.where(closed[i], 2, 1).astype(np.int64),
            "StatusDescription": lambda i: np.take(pool(["Open", "Afgesloten"]), closed[i].astype(np.int64)),
        },
        roles={"Journal": lambda i: np.array([JOURNAL_ROW[j] for j in journal[i].tolist()], dtype=np.int64)},
        anchor=_at(np.minimum(_month_end(year, period), cal.ref_day)),
    )


def _ledger(method: str, *args: object) -> Callable[[DivisionData], Spec]:
    return lambda div: getattr(Ledger(div), method)(*args)


def _open(method: str, *args: object) -> Callable[[DivisionData], Spec]:
    return lambda div: getattr(OpenItems(div), method)(*args)


REPORTS: dict[str, Callable[[DivisionData], Spec]] = {
    "financial/ReportingBalance": _ledger("balances"),
    "read_financial/ReportingBalanceByClassification": _ledger("balances"),
    "read_financial/RevenueList": _ledger("revenue_list"),
    "read_financial/RevenueListByYear": _ledger("revenue_list"),
    "read_financial/RevenueListByYearAndStatus": _ledger("revenue_list"),
    "read_financial/ProfitLossOverview": _ledger("profit_and_loss"),
    "openingbalance_currentyear/AfterEntry": _ledger("opening_balances", False),
    "openingbalance_currentyear/Processed": _ledger("opening_balances", False),
    "openingbalance_previousyear/AfterEntry": _ledger("opening_balances", True),
    "openingbalance_previousyear/Processed": _ledger("opening_balances", True),
    "read_financial/AgingOverview": _open("overview"),
    "read_financial/AgingOverviewByAccount": _open("overview"),
    "read_financial/OutstandingInvoicesOverview": _open("outstanding"),
    "read_financial/JournalStatusList": journal_status,
    "read_financial/JournalStatusByFinancialPeriod": journal_status,
    **{
        f"read_financial/{kind}List{variant}": _open("items", side)
        for kind, side in (("Receivables", "receivable"), ("Payables", "payable"))
        for variant in ("", "ByAccount", "ByAccountAndAgeGroup", "ByAgeGroup")
    },
    **{
        f"read_financial/Aging{kind}List{variant}": _open("aging", side)
        for kind, side in (("Receivables", "receivable"), ("Payables", "payable"))
        for variant in ("", "ByAgeGroup")
    },
}
"""The report entities and how their rows follow from the books."""

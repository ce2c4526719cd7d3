"""Financial tables of one division: sales invoices and their lines, transaction lines, receivables.

Their values are derived lazily from the integer arrays of ``datagen_books.Books``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from exactsql.sandbox import datagen_names as N
from exactsql.sandbox import datagen_pools as P
from exactsql.sandbox import datagen_templates as T
from exactsql.sandbox.datagen_base import (
    Table,
    const,
    day_ms,
    fk,
    moment_ms,
    nulls,
    obj_ints,
    pool,
    rint,
    runi,
    take,
    year_month,
)
from exactsql.sandbox.datagen_books import (
    K_BANK,
    K_MEMO,
    K_PAYMENT,
    K_PURCHASE,
    K_RECEIPT,
    K_SALES,
    Books,
    vat_of,
)
from exactsql.sandbox.values import NULL_DATE

if TYPE_CHECKING:
    from exactsql.sandbox.datagen import DivisionData

A, C, G, IT, PR = (
    "crm/Accounts",
    "crm/Contacts",
    "financial/GLAccounts",
    "logistics/Items",
    "project/Projects",
)
INV = "salesinvoice/SalesInvoices"
_VAT_CODE = pool(v[0] for v in P.VAT_CODES)
_VAT_DESC = pool(v[1] for v in P.VAT_CODES)
_VAT_FRACTION = np.array([v[2] for v in P.VAT_CODES] + [0.0])  # index -1: no VAT
_TEMPLATE_DESC = [t.description for t in T.TEMPLATES]
_TEMPLATE_BACK = np.array([t.back for t in T.TEMPLATES], dtype=np.int64)
_ITEM_TEMPLATES = [k for k, text in enumerate(P.INVOICE_DESCRIPTIONS) if "{item}" in text]


def _month_year(days: np.ndarray) -> tuple[list[str], list[int]]:
    year, month = year_month(days)
    return [N.MONTHS_NL[m - 1] for m in month.tolist()], year.tolist()


_JOURNAL_CODES = np.array(sorted(T.JOURNALS))


def _journal(codes: np.ndarray, describe: bool) -> np.ndarray:
    table = pool(T.JOURNALS[j][1 if describe else 0] for j in _JOURNAL_CODES.tolist())
    return np.take(table, np.searchsorted(_JOURNAL_CODES, codes))


class SalesInvoices(Table):
    entity = INV
    key = "InvoiceID"

    def __init__(self, div: DivisionData, books: Books) -> None:
        super().__init__(div)
        self.books = b = books
        acc = div.accounts
        s, c = self.s, self.cols
        contact_salt = div.key_salt(C)
        c["InvoiceID"] = self.ids
        c["InvoiceNumber"] = self.numbers
        c["InvoiceDate"] = lambda i: day_ms(b.inv_day[i])
        c["OrderDate"] = lambda i: day_ms(b.inv_day[i] - rint(s("order"), i, 15))
        c["DueDate"] = lambda i: day_ms(b.inv_due[i])
        c["Type"] = lambda i: np.where(b.inv_credit[i], 8021, 8020).astype(np.int64)
        c["TypeDescription"] = lambda i: np.take(
            pool(["Verkoopfactuur", "Creditnota"]), b.inv_credit[i].astype(int)
        )
        c["Status"] = lambda i: b.inv_status[i].astype(np.int64)
        c["StatusDescription"] = lambda i: np.take(
            pool(["Concept", "Verwerkt"]), (b.inv_status[i] == 50).astype(int)
        )
        c["Journal"] = lambda i: const("70", len(i))
        c["JournalDescription"] = lambda i: const("Verkoopboek", len(i))
        c["Currency"] = lambda i: const("EUR", len(i))
        c["AmountFCExclVat"] = lambda i: b.inv_excl[i] / 100
        c["VATAmountFC"] = c["VATAmountDC"] = lambda i: b.inv_vatamt[i] / 100
        c["AmountFC"] = c["AmountDC"] = lambda i: (b.inv_excl[i] + b.inv_vatamt[i]) / 100
        c["AmountDiscount"] = c["AmountDiscountExclVat"] = c["Discount"] = lambda i: np.zeros(len(i))
        for role in ("InvoiceTo", "OrderedBy", "DeliverTo"):
            c[role] = lambda i: fk(acc.salt, b.inv_account[i])
            c[role + "Name"] = lambda i: div.lookup(A, "Name", b.inv_account[i])
            c[role + "ContactPerson"] = lambda i: fk(contact_salt, acc.main_contact(b.inv_account[i]))
            c[role + "ContactPersonFullName"] = lambda i: div.lookup(
                C, "FullName", acc.main_contact(b.inv_account[i])
            )
        c["Description"] = self.descriptions
        pc = pool(p[0] for p in P.PAYMENT_CONDITIONS)
        pcd = pool(p[1] for p in P.PAYMENT_CONDITIONS)
        c["PaymentCondition"] = lambda i: np.take(pc, acc.condition(b.inv_account[i]))
        c["PaymentConditionDescription"] = lambda i: np.take(pcd, acc.condition(b.inv_account[i]))
        c["YourRef"] = lambda i: take(
            pool(f"PO-{x}" for x in (10000 + rint(s("ref"), i, 90000)).tolist()),
            np.where(runi(s("ref?"), i) < 0.3, np.arange(len(i)), -1),
        )
        c["Remarks"] = lambda i: nulls(len(i))
        c["Salesperson"] = lambda i: np.take(div.world.user_guids, div.user_of(s("sales"), i))
        c["SalespersonFullName"] = lambda i: np.take(div.world.user_full_names, div.user_of(s("sales"), i))
        c["IsExtraDuty"] = lambda i: np.zeros(len(i), dtype=bool)
        self.audit(lambda i: b.inv_day[i])

    def count(self) -> int:
        return self.books.n_invoices

    def numbers(self, i: np.ndarray) -> np.ndarray:
        entry = self.books.inv_entry[i]
        return obj_ints(self.books.e_number[np.maximum(entry, 0)], entry >= 0)

    def descriptions(self, i: np.ndarray) -> np.ndarray:
        b = self.books
        months, years = _month_year(b.inv_day[i])
        credit = b.inv_credit[i].tolist()
        project = b.inv_project[i]
        projects = self.div.lookup(PR, "Description", project).tolist()
        which = rint(self.s("desc"), i, len(P.INVOICE_DESCRIPTIONS))
        need = np.isin(which, _ITEM_TEMPLATES) & (project < 0)
        items = self.div.lookup(IT, "Description", np.where(need, b.il_item[b.inv_lstart[i]], -1)).tolist()
        out = []
        for k, w in enumerate(which.tolist()):
            if credit[k]:
                out.append(f"Creditnota {months[k]} {years[k]}")
            elif projects[k] is not None:
                out.append(projects[k])
            else:
                out.append(P.INVOICE_DESCRIPTIONS[w].format(m=months[k], y=years[k], item=items[k]))
        return pool(out)

    def extend(self, count: int) -> range:
        rng = np.random.default_rng(self.div.rng_salt("invoices-extend", self.count()))
        return self.books.extend_invoices(rng, count)[0]

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        texts = ["Graag betalen onder vermelding van het factuurnummer", "Levering in overleg", "Zie bijlage"]
        return {"Remarks": pool(rng.choice(texts, len(idx)).tolist())}


class SalesInvoiceLines(Table):
    entity = "salesinvoice/SalesInvoiceLines"

    def __init__(self, div: DivisionData, books: Books) -> None:
        super().__init__(div)
        self.books = b = books
        items = div.items
        c = self.cols
        item_gl = lambda i: items.p_revenue[items.product(b.il_item[i].astype(np.int64))]  # noqa: E731
        vat = lambda i: b.inv_vat[b.il_invoice[i]].astype(np.int64)  # noqa: E731
        c["InvoiceID"] = lambda i: fk(div.key_salt(INV), b.il_invoice[i].astype(np.int64))
        c["LineNumber"] = lambda i: i - b.inv_lstart[b.il_invoice[i]] + 1
        c["Item"] = lambda i: fk(items.salt, b.il_item[i].astype(np.int64))
        c["ItemCode"] = lambda i: div.lookup(IT, "Code", b.il_item[i])
        c["ItemDescription"] = c["Description"] = lambda i: div.lookup(IT, "Description", b.il_item[i])
        c["UnitCode"] = lambda i: div.lookup(IT, "Unit", b.il_item[i])
        c["UnitDescription"] = lambda i: div.lookup(IT, "UnitDescription", b.il_item[i])
        c["Quantity"] = lambda i: b.il_qty[i].astype(np.float64)
        c["UnitPrice"] = c["NetPrice"] = lambda i: b.il_price[i] / 100
        c["AmountFC"] = c["AmountDC"] = lambda i: b.il_amount[i] / 100
        c["VATAmountFC"] = c["VATAmountDC"] = lambda i: b.il_vat[i] / 100
        c["VATCode"] = lambda i: np.take(_VAT_CODE, vat(i))
        c["VATCodeDescription"] = lambda i: np.take(_VAT_DESC, vat(i))
        c["VATPercentage"] = lambda i: _VAT_FRACTION[vat(i)]
        c["GLAccount"] = lambda i: fk(div.gl.salt, item_gl(i))
        c["GLAccountDescription"] = lambda i: div.lookup(G, "Description", item_gl(i))
        c["DeliveryDate"] = lambda i: day_ms(b.inv_day[b.il_invoice[i]])
        c["Discount"] = lambda i: np.zeros(len(i))
        c["Project"] = lambda i: fk(div.key_salt(PR), b.inv_project[b.il_invoice[i]].astype(np.int64))
        c["ProjectDescription"] = lambda i: div.lookup(PR, "Description", b.inv_project[b.il_invoice[i]])
        c["Notes"] = lambda i: nulls(len(i))

    def count(self) -> int:
        return len(self.books.il_invoice)

    def extend(self, count: int) -> range:
        rng = np.random.default_rng(self.div.rng_salt("invoices-extend", len(self.books.inv_account)))
        return self.books.extend_invoices(rng, max(1, round(count / 2.3)) if count > 0 else 0)[1]

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "Notes": pool(rng.choice(["Geleverd", "Nalevering volgt", "Conform afspraak"], len(idx)).tolist())
        }


class TransactionLines(Table):
    entity = "financialtransaction/TransactionLines"

    def __init__(self, div: DivisionData, books: Books) -> None:
        super().__init__(div)
        self.books = b = books
        self.entry_salt = div.key_salt("financialtransaction/Transactions")
        acc, gl = div.accounts, div.gl
        c = self.cols
        E = self.entry
        c["EntryID"] = lambda i: fk(self.entry_salt, E(i))
        c["EntryNumber"] = lambda i: b.e_number[E(i)]
        c["LineNumber"] = lambda i: i - b.e_lstart[E(i)]
        c["Date"] = lambda i: day_ms(b.e_day[E(i)])
        c["FinancialYear"] = lambda i: year_month(b.e_day[E(i)])[0]
        c["FinancialPeriod"] = lambda i: year_month(b.e_day[E(i)])[1]
        c["JournalCode"] = lambda i: _journal(b.e_journal(E(i)), False)
        c["JournalDescription"] = lambda i: _journal(b.e_journal(E(i)), True)
        c["Type"] = self.types
        c["Status"] = lambda i: np.full(len(i), 50, dtype=np.int64)
        c["Account"] = lambda i: fk(acc.salt, b.e_account[E(i)].astype(np.int64))
        c["AccountCode"] = lambda i: div.lookup(A, "Code", b.e_account[E(i)])
        c["AccountName"] = lambda i: div.lookup(A, "Name", b.e_account[E(i)])
        c["GLAccount"] = lambda i: fk(gl.salt, b.l_gl[i].astype(np.int64))
        c["GLAccountCode"] = lambda i: np.take(gl.p_code, b.l_gl[i])
        c["GLAccountDescription"] = lambda i: np.take(gl.p_desc, b.l_gl[i])
        c["AmountDC"] = c["AmountFC"] = lambda i: b.l_cents[i] / 100
        c["AmountVATFC"] = self.vat_amounts
        c["AmountVATBaseFC"] = self.vat_bases
        c["VATCode"] = lambda i: take(_VAT_CODE, b.l_vat[i].astype(np.int64))
        c["VATCodeDescription"] = lambda i: take(_VAT_DESC, b.l_vat[i].astype(np.int64))
        c["VATPercentage"] = lambda i: _VAT_FRACTION[b.l_vat[i]]
        c["Currency"] = lambda i: const("EUR", len(i))
        c["ExchangeRate"] = lambda i: np.ones(len(i))
        c["Description"] = self.descriptions
        c["InvoiceNumber"] = self.invoice_numbers
        c["DueDate"] = self.due_dates
        c["YourRef"] = self.your_refs
        item = lambda i: np.where(b.l_sub[i] >= 0, b.il_item[np.maximum(b.l_sub[i], 0)], -1)  # noqa: E731
        c["Item"] = lambda i: fk(div.items.salt, item(i))
        c["ItemCode"] = lambda i: div.lookup(IT, "Code", item(i))
        c["ItemDescription"] = lambda i: div.lookup(IT, "Description", item(i))
        c["Quantity"] = lambda i: np.where(b.l_sub[i] >= 0, -b.il_qty[np.maximum(b.l_sub[i], 0)], 0).astype(
            float
        )
        project = lambda i: np.where(  # noqa: E731
            b.l_sub[i] >= 0, b.inv_project[b.il_invoice[np.maximum(b.l_sub[i], 0)]], -1
        )
        c["Project"] = lambda i: fk(div.key_salt(PR), project(i))
        c["ProjectCode"] = lambda i: div.lookup(PR, "Code", project(i))
        c["ProjectDescription"] = lambda i: div.lookup(PR, "Description", project(i))
        c["Notes"] = lambda i: nulls(len(i))

        def created(i: np.ndarray) -> np.ndarray:
            lag = rint(self.s("lag"), E(i), 3)
            day = np.minimum(b.e_day[E(i)] + lag, np.maximum(b.e_day[E(i)], div.cal.ref_day))
            return moment_ms(self.s("created"), E(i), day)

        c["Created"] = c["Modified"] = created
        users = div.world
        c["Creator"] = c["Modifier"] = lambda i: np.take(users.user_guids, b.e_user[E(i)])
        c["CreatorFullName"] = c["ModifierFullName"] = lambda i: np.take(
            users.user_full_names, b.e_user[E(i)]
        )
        self.acc = acc

    def entry(self, i: np.ndarray) -> np.ndarray:
        return self.books.l_entry[i].astype(np.int64)

    def count(self) -> int:
        return self.books.n_lines

    def types(self, i: np.ndarray) -> np.ndarray:
        return self.books.e_type(self.entry(i)).astype(np.int64)

    def _is_vat_line(self, i: np.ndarray) -> np.ndarray:
        return np.isin(self.books.l_gl[i], self.books.vat_gl)

    def vat_amounts(self, i: np.ndarray) -> np.ndarray:
        b = self.books
        code = b.l_vat[i].astype(np.int64)
        cents = np.where(self._is_vat_line(i), b.l_cents[i], vat_of(b.l_cents[i], code))
        return np.where(code >= 0, cents, 0) / 100

    def vat_bases(self, i: np.ndarray) -> np.ndarray:
        b = self.books
        e = self.entry(i)
        base = np.where(b.e_kind[e] == K_SALES, -b.e_base[e], b.e_base[e])
        cents = np.where(self._is_vat_line(i), base, b.l_cents[i])
        return np.where(b.l_vat[i] >= 0, cents, 0) / 100

    def invoice_numbers(self, i: np.ndarray) -> np.ndarray:
        b = self.books
        e = self.entry(i)
        kind, ref = b.e_kind[e], b.e_ref[e].astype(np.int64)
        source = np.select(
            [(kind == K_SALES) | (kind == K_PURCHASE), kind == K_RECEIPT, kind == K_PAYMENT],
            [e, b.inv_entry[np.where(kind == K_RECEIPT, ref, 0)], ref],
            -1,
        )
        return obj_ints(b.e_number[np.maximum(source, 0)], source >= 0)

    def due_dates(self, i: np.ndarray) -> np.ndarray:
        b = self.books
        e = self.entry(i)
        kind = b.e_kind[e]
        sales = b.inv_due[np.where(kind == K_SALES, b.e_ref[e], 0)]
        purchase = b.e_day[e] + self.acc.pay_days(np.maximum(b.e_account[e], 0).astype(np.int64))
        return np.select([kind == K_SALES, kind == K_PURCHASE], [day_ms(sales), day_ms(purchase)], NULL_DATE)

    def purchase_refs(self, e: np.ndarray) -> np.ndarray:
        """The supplier's invoice number of purchase entries ``e``."""
        n = rint(self.s("ref"), e, 90_000) + 10_000
        fmt = rint(self.s("reffmt"), e, 4).tolist()
        year = year_month(self.books.e_day[e])[0].tolist()
        forms = ("{n}", "F{y}-{n}", "INV{n}", "{y}{n}")
        return pool(forms[f].format(n=x, y=y) for f, x, y in zip(fmt, n.tolist(), year, strict=True))

    def your_refs(self, i: np.ndarray) -> np.ndarray:
        b = self.books
        e = self.entry(i)
        kind = b.e_kind[e]
        source = np.select([kind == K_PURCHASE, kind == K_PAYMENT], [e, b.e_ref[e]], -1)
        uniq, inv = np.unique(source, return_inverse=True)
        refs = nulls(len(uniq))
        ok = uniq >= 0
        if ok.any():
            refs[ok] = self.purchase_refs(uniq[ok])
        return refs[inv]

    def entry_descriptions(self, e: np.ndarray) -> np.ndarray:
        """Descriptions of entries ``e`` (each one once)."""
        b, div = self.books, self.div
        kind, ref = b.e_kind[e], b.e_ref[e].astype(np.int64)
        template = kind >= K_BANK
        period = b.e_day[e] - np.where(template, _TEMPLATE_BACK[np.where(template, ref, 0)], 0)
        months, years = _month_year(period)
        quarters = ((year_month(period)[1] - 1) // 3 + 1).tolist()
        sales = div.lookup(INV, "Description", np.where(kind == K_SALES, ref, -1)).tolist()
        first_cost = b.l_gl[np.minimum(b.e_lstart[e] + 1, b.n_lines - 1)]
        cost_desc = np.take(div.gl.p_desc, first_cost).tolist()
        inv_number = b.e_number[b.inv_entry[np.where(kind == K_RECEIPT, ref, 0)]].tolist()
        pay_refs = nulls(len(e))
        if (kind == K_PAYMENT).any():
            pay_refs[kind == K_PAYMENT] = self.purchase_refs(ref[kind == K_PAYMENT])
        out = []
        for k, kd in enumerate(kind.tolist()):
            if kd == K_SALES:
                out.append(sales[k])
            elif kd == K_PURCHASE:
                out.append(f"{cost_desc[k]} {months[k]} {years[k]}")
            elif kd == K_RECEIPT:
                out.append(f"Ontvangst factuur {inv_number[k]}")
            elif kd == K_PAYMENT:
                out.append(f"Betaling factuur {pay_refs[k]}")
            else:
                assert kd in (K_BANK, K_MEMO)
                out.append(_TEMPLATE_DESC[int(ref[k])].format(m=months[k], y=years[k], q=quarters[k]))
        return pool(out)

    def descriptions(self, i: np.ndarray) -> np.ndarray:
        b = self.books
        e = self.entry(i)
        uniq, inv = np.unique(e, return_inverse=True)
        out = self.entry_descriptions(uniq)[inv]
        sub = b.l_sub[i]
        has = sub >= 0
        if has.any():
            out[has] = self.div.lookup(IT, "Description", b.il_item[sub[has]])
        return out

    def extend(self, count: int) -> range:
        rng = np.random.default_rng(self.div.rng_salt("entries-extend", self.count()))
        return self.books.extend_entries(rng, count)

    def group_of(self, idx: np.ndarray) -> np.ndarray:
        b = self.books
        e = np.unique(b.l_entry[idx])
        starts, ends = b.e_lstart[e], b.e_lstart[e + 1]
        lengths = ends - starts
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(starts, lengths) + offsets

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        texts = ["Gecontroleerd", "Zie bijlage", "Afgestemd met leverancier", "Bon ontvangen"]
        return {"Notes": pool(rng.choice(texts, len(idx)).tolist())}


class Receivables(Table):
    """Open items: the base sales invoices that were not paid by today."""

    entity = "cashflow/Receivables"

    def __init__(self, div: DivisionData, books: Books) -> None:
        super().__init__(div)
        self.books = b = books
        self.n = len(b.open_invoices)
        acc = div.accounts
        c = self.cols
        inv = lambda i: b.open_invoices[i].astype(np.int64)  # noqa: E731
        acct = lambda i: b.inv_account[inv(i)].astype(np.int64)  # noqa: E731
        entry = lambda i: b.inv_entry[inv(i)].astype(np.int64)  # noqa: E731
        c["Account"] = lambda i: fk(acc.salt, acct(i))
        c["AccountCode"] = lambda i: div.lookup(A, "Code", acct(i))
        c["AccountName"] = lambda i: div.lookup(A, "Name", acct(i))
        c["AccountCountry"] = lambda i: const("NL ", len(i))
        c["AccountContact"] = lambda i: fk(div.key_salt(C), acc.main_contact(acct(i)))
        c["AccountContactName"] = lambda i: div.lookup(C, "FullName", acc.main_contact(acct(i)))
        total = lambda i: (b.inv_excl[inv(i)] + b.inv_vatamt[inv(i)]) / 100  # noqa: E731
        c["AmountDC"] = c["AmountFC"] = c["TransactionAmountDC"] = c["TransactionAmountFC"] = total
        c["AmountDiscountDC"] = c["AmountDiscountFC"] = lambda i: np.zeros(len(i))
        c["RateFC"] = lambda i: np.ones(len(i))
        c["Currency"] = lambda i: const("EUR", len(i))
        c["Description"] = lambda i: div.lookup(INV, "Description", inv(i))
        c["YourRef"] = lambda i: div.lookup(INV, "YourRef", inv(i))
        c["InvoiceNumber"] = c["EntryNumber"] = lambda i: b.e_number[entry(i)]
        c["InvoiceDate"] = c["EntryDate"] = lambda i: day_ms(b.inv_day[inv(i)])
        c["DueDate"] = c["TransactionDueDate"] = lambda i: day_ms(b.inv_due[inv(i)])
        c["EntryID"] = c["TransactionEntryID"] = lambda i: fk(
            div.key_salt("financialtransaction/Transactions"), entry(i)
        )
        c["TransactionID"] = lambda i: fk(div.key_salt(TransactionLines.entity), b.e_lstart[entry(i)])
        c["TransactionReportingYear"] = lambda i: year_month(b.inv_day[inv(i)])[0]
        c["TransactionReportingPeriod"] = lambda i: year_month(b.inv_day[inv(i)])[1]
        c["TransactionType"] = lambda i: np.where(b.inv_credit[inv(i)], 21, 20).astype(np.int64)
        c["TransactionStatus"] = lambda i: np.full(len(i), 50, dtype=np.int64)
        c["TransactionIsReversal"] = c["IsFullyPaid"] = lambda i: np.zeros(len(i), dtype=bool)
        c["Status"] = lambda i: np.full(len(i), 20, dtype=np.int64)
        c["GLAccount"] = lambda i: fk(div.gl.salt, np.full(len(i), div.gl.index["1300"]))
        c["GLAccountCode"] = lambda i: const("1300", len(i))
        c["GLAccountDescription"] = lambda i: np.take(div.gl.p_desc, np.full(len(i), div.gl.index["1300"]))
        c["Journal"] = lambda i: const("70", len(i))
        c["JournalDescription"] = lambda i: const("Verkoopboek", len(i))
        pc = pool(p[0] for p in P.PAYMENT_CONDITIONS)
        pcd = pool(p[1] for p in P.PAYMENT_CONDITIONS)
        c["PaymentCondition"] = lambda i: np.take(pc, acc.condition(acct(i)))
        c["PaymentConditionDescription"] = lambda i: np.take(pcd, acc.condition(acct(i)))
        c["PaymentDays"] = lambda i: acc.pay_days(acct(i)).astype(np.int64)
        self.audit(lambda i: b.inv_day[inv(i)])

    def extend(self, count: int) -> range:
        return range(self.n, self.n)  # open items only come from booked invoices

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        desc = self.div.values(self.entity, "Description", idx).tolist()
        level = rng.integers(1, 3, len(idx)).tolist()
        return {"Description": pool(f"{d} ({n}e herinnering)" for d, n in zip(desc, level, strict=True))}

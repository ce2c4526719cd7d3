"""The compact structure of one division's books: sales invoices, their lines and balanced journal entries.

Everything here is integer arrays (indexes, day numbers, amounts in cents); the column functions in
``datagen_finance`` turn them into API values lazily.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exactsql.sandbox import datagen_pools as P
from exactsql.sandbox import datagen_templates as T
from exactsql.sandbox.datagen_base import Calendar, cumcount, weekday_shift, year_month

# Entry kinds.
K_SALES, K_PURCHASE, K_RECEIPT, K_PAYMENT, K_BANK, K_MEMO = range(6)
# VAT code indexes into P.VAT_CODES.
V_SALES_HIGH, V_SALES_LOW, V_PURCHASE_HIGH, V_PURCHASE_LOW = range(4)
VAT_PCT = np.array(P.VAT_PERCENT, dtype=np.int64)


def _starts(sizes: np.ndarray) -> np.ndarray:
    """Start offsets of consecutive blocks of the given sizes."""
    out = np.zeros(len(sizes), dtype=np.int64)
    out[1:] = np.cumsum(sizes)[:-1]
    return out


def vat_of(cents: np.ndarray, vat_code: np.ndarray) -> np.ndarray:
    """VAT in cents of amounts in cents, rounded half away from zero (vat_code -1: no VAT)."""
    pct = np.where(vat_code >= 0, VAT_PCT[np.maximum(vat_code, 0)], 0)
    return np.sign(cents) * ((np.abs(cents) * pct + 50) // 100)


@dataclass
class Masters:
    """What the books need from the master data of the division (index arrays of the base rows)."""

    gl: dict[str, int]  # GL account code -> row index
    customers: np.ndarray  # account indexes
    suppliers: np.ndarray
    pay_days: np.ndarray  # per account
    supplier_gl: np.ndarray  # per account: GL index of its usual costs (-1 when not a supplier)
    item_price: np.ndarray  # per item, cents
    item_low: np.ndarray  # per item: low VAT rate
    item_service: np.ndarray
    item_gl: np.ndarray  # per item: revenue GL index
    account_project: np.ndarray  # per account: a project index or -1
    cost_gls: np.ndarray  # GL indexes of cost accounts for "*" template lines
    cost_weights: np.ndarray
    pl_gl: np.ndarray  # per GL index: a profit-and-loss account
    n_users: int


class Books:
    """Invoices, invoice lines, entries and lines of one division, as integer arrays.

    Built once from a seeded generator; ``extend_*`` appends rows so that the arrays only ever grow.
    """

    def __init__(self, rng: np.random.Generator, n_lines: int, m: Masters, cal: Calendar) -> None:
        self.m = m
        self.cal = cal
        self.start, self.ref = cal.start_day, cal.ref_day
        self.vat_gl = np.array([m.gl["1500"], m.gl["1510"], m.gl["1520"], m.gl["1520"]], dtype=np.int16)
        self.e_lstart = np.zeros(1, np.int64)  # one longer than the entries: the end of the last entry
        self.e_kind = np.zeros(0, np.int8)
        self.e_day = np.zeros(0, np.int32)
        self.e_account = np.zeros(0, np.int32)
        self.e_ref = np.zeros(0, np.int32)
        self.e_base = np.zeros(0, np.int64)
        self.e_user = np.zeros(0, np.int8)
        self.e_number = np.zeros(0, np.int64)
        self.l_entry = np.zeros(0, np.int32)
        self.l_gl = np.zeros(0, np.int16)
        self.l_cents = np.zeros(0, np.int64)
        self.l_sub = np.zeros(0, np.int32)
        self.l_vat = np.zeros(0, np.int8)
        self._build(rng, n_lines)

    # ---------------------------------------------------------------- generation of entries per kind

    def _days(self, rng: np.random.Generator, k: int, lo: int, hi: int) -> np.ndarray:
        """Booking days in [lo, hi], slightly more recent ones (a growing business), on weekdays."""
        u = rng.random(k) ** 0.85
        return weekday_shift(lo + (u * (hi - lo + 1)).astype(np.int64), hi).astype(np.int32)

    def _invoices(self, rng: np.random.Generator, count: int, lo: int, hi: int) -> dict[str, np.ndarray]:
        m = self.m
        k = rng.choice(np.arange(1, 6), size=count, p=[0.35, 0.27, 0.18, 0.12, 0.08])
        credit = rng.random(count) < 0.02
        k[credit] = 1
        acct = m.customers[(len(m.customers) * rng.random(count) ** 1.7).astype(np.int64)]
        day = self._days(rng, count, lo, hi)
        low_items = np.flatnonzero(m.item_low)
        high_items = np.flatnonzero(~m.item_low)
        low_share = len(low_items) / len(m.item_low)
        low = rng.random(count) < low_share
        if len(low_items) == 0:
            low[:] = False
        if len(high_items) == 0:
            low[:] = True
        inv_of_line = np.repeat(np.arange(count), k)
        line_low = low[inv_of_line]
        item = np.empty(len(inv_of_line), dtype=np.int64)
        for flag, items in ((True, low_items), (False, high_items)):
            sel = line_low == flag
            if sel.any():
                item[sel] = items[rng.integers(0, len(items), int(sel.sum()))]
        price = m.item_price[item]
        scale = np.clip(20_000 / np.maximum(price, 1), 0.3, 12.0)
        qty = 1 + np.floor(rng.exponential(scale)).astype(np.int64)
        qty = np.where(m.item_service[item], np.minimum(qty, 40), np.minimum(qty, 250))
        qty = np.where(credit[inv_of_line], -np.minimum(qty, 3), qty)
        amount = qty * price
        vat_code = np.where(line_low, V_SALES_LOW, V_SALES_HIGH).astype(np.int8)
        line_vat = vat_of(amount, vat_code)
        starts = _starts(k)
        excl = np.add.reduceat(amount, starts) if count else np.zeros(0, np.int64)
        vat = np.add.reduceat(line_vat, starts) if count else np.zeros(0, np.int64)
        proj = m.account_project[acct]
        proj = np.where((proj >= 0) & (rng.random(count) < 0.6), proj, -1)
        return {
            "account": acct.astype(np.int32),
            "day": day,
            "nlines": k.astype(np.int32),
            "vat": np.where(low, V_SALES_LOW, V_SALES_HIGH).astype(np.int8),
            "credit": credit,
            "excl": excl.astype(np.int64),
            "vatamt": vat.astype(np.int64),
            "due": (day + m.pay_days[acct]).astype(np.int32),
            "project": proj.astype(np.int32),
            "l_invoice": inv_of_line.astype(np.int32),
            "l_item": item.astype(np.int32),
            "l_qty": qty.astype(np.int32),
            "l_price": price.astype(np.int64),
            "l_amount": amount,
            "l_vat": line_vat.astype(np.int64),
        }

    def _purchases(self, rng: np.random.Generator, count: int, lo: int, hi: int) -> dict[str, np.ndarray]:
        """Purchase invoices: supplier, day and cost lines with unscaled amounts (see ``_purchase_lines``)."""
        m = self.m
        supplier = m.suppliers[(len(m.suppliers) * rng.random(count) ** 1.5).astype(np.int64)]
        day = self._days(rng, count, lo, hi)
        nc = rng.choice(np.array([1, 2, 3]), size=count, p=[0.55, 0.3, 0.15])
        ent = np.repeat(np.arange(count), nc)
        gl = m.supplier_gl[supplier][ent].astype(np.int64)
        first = np.zeros(len(ent), dtype=bool)
        first[_starts(nc)] = True
        other = (rng.random(len(ent)) < 0.3) & ~first
        cum = np.cumsum(m.cost_weights) / np.sum(m.cost_weights)
        gl[other] = m.cost_gls[np.searchsorted(cum, rng.random(int(other.sum())), side="right")]
        goods = np.isin(gl, [m.gl["7000"], m.gl["7010"]])
        raw = np.exp(rng.normal(np.where(goods, np.log(600.0), np.log(90.0)), 0.6))
        return {"supplier": supplier.astype(np.int32), "day": day, "nc": nc, "gl": gl, "raw": raw}

    def _purchase_lines(self, p: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
        """Lines of purchase entries: creditor (credit total), cost lines (debit), VAT to claim (debit)."""
        m = self.m
        nc = p["nc"]
        count = len(nc)
        cents = np.clip(np.round(p["raw"] * scale * 100), 100, 50_000_000).astype(np.int64)
        starts = _starts(nc)
        ent = np.repeat(np.arange(count), nc)
        low = p["gl"][starts] == m.gl["7010"] if count else np.zeros(0, dtype=bool)
        entry_vat = np.where(low, V_PURCHASE_LOW, V_PURCHASE_HIGH).astype(np.int8)
        line_vat = vat_of(cents, entry_vat[ent])
        excl = np.add.reduceat(cents, starts) if count else np.zeros(0, np.int64)
        vat = np.add.reduceat(line_vat, starts) if count else np.zeros(0, np.int64)
        total = excl + vat
        size = nc + 2
        bstart = _starts(size)
        n = int(size.sum())
        l_gl = np.empty(n, dtype=np.int16)
        l_cents = np.empty(n, dtype=np.int64)
        l_vat = np.full(n, -1, dtype=np.int8)
        l_gl[bstart] = m.gl["1600"]
        l_cents[bstart] = -total
        pos = bstart[ent] + 1 + (np.arange(len(ent)) - starts[ent])
        l_gl[pos] = p["gl"]
        l_cents[pos] = cents
        l_vat[pos] = entry_vat[ent]
        vpos = bstart + nc + 1
        l_gl[vpos] = m.gl["1520"]
        l_cents[vpos] = vat
        l_vat[vpos] = entry_vat
        return {
            "account": p["supplier"],
            "day": p["day"],
            "total": total,
            "excl": excl,
            "size": size.astype(np.int32),
            "l_gl": l_gl,
            "l_cents": l_cents,
            "l_vat": l_vat,
            "due": (p["day"] + m.pay_days[p["supplier"]]).astype(np.int32),
        }

    def _template_values(self, rng: np.random.Generator, t: int, k: int) -> np.ndarray:
        """Random amount variables in cents of ``k`` entries of template ``t`` (k x variables)."""
        variables = T.TEMPLATES[t].variables
        vals = np.zeros((k, len(variables)), dtype=np.int64)
        for j, (lo, hi, of) in enumerate(variables):
            if of >= 0:
                vals[:, j] = np.round(vals[:, of] * rng.uniform(lo, hi, k))
            elif of == -2:
                vals[:, j] = np.round(rng.uniform(lo, hi, k) * self.month_revenue * 100)
            elif of == -3:
                vals[:, j] = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), k)) * self.avg_invoice * 100)
            else:
                vals[:, j] = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), k)) * 100)
        return vals

    def _templates(
        self,
        rng: np.random.Generator,
        which: np.ndarray,
        days: np.ndarray,
        given: dict[int, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Entries of ``T.TEMPLATES`` (``which``, on ``days``) and their followers, lines in entry order.

        ``given`` holds the amount variables of some templates instead of random ones. Followers dated
        after today are left out (they are still to come).
        """
        m = self.m
        groups: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for t in np.unique(which).tolist():
            sel = which == t
            vals = given[t] if given and t in given else self._template_values(rng, t, int(sel.sum()))
            groups.setdefault(t, []).append((days[sel].astype(np.int64), vals))
            for f, offset, coef, lo, hi in T.TEMPLATES[t].followers:
                amount = np.round(vals @ np.array(coef, dtype=np.float64) * rng.uniform(lo, hi, len(vals)))
                fday = weekday_shift(days[sel].astype(np.int64) + offset, self.ref + 10)
                keep = fday <= self.ref
                groups.setdefault(f, []).append((fday[keep], amount[keep].astype(np.int64)[:, None]))
        cum = np.cumsum(m.cost_weights) / np.sum(m.cost_weights)
        out_which, out_days, out_gl, out_cents = [], [], [], []
        for t, parts in sorted(groups.items()):
            tdays = np.concatenate([d for d, _ in parts])
            vals = np.concatenate([v for _, v in parts])
            lines = T.TEMPLATES[t].lines
            coef = np.array([c for _, c in lines], dtype=np.int64)  # lines x variables
            cents = vals @ coef.T  # entries x lines
            gl = np.empty(cents.shape, dtype=np.int16)
            for j, (code, _c) in enumerate(lines):
                if code == "*":
                    gl[:, j] = m.cost_gls[np.searchsorted(cum, rng.random(len(tdays)), side="right")]
                else:
                    gl[:, j] = m.gl[code]
            out_which.append(np.full(len(tdays), t))
            out_days.append(tdays)
            out_gl.append(gl.ravel())
            out_cents.append(cents.ravel())
        w = np.concatenate(out_which) if out_which else np.zeros(0, np.int64)
        return {
            "which": w.astype(np.int32),
            "day": (np.concatenate(out_days) if out_days else w).astype(np.int32),
            "size": _SIZES[w],
            "kind": np.where(_TEMPLATE_JOURNALS[w] == 20, K_BANK, K_MEMO),
            "l_gl": np.concatenate(out_gl) if out_gl else np.zeros(0, np.int16),
            "l_cents": np.concatenate(out_cents) if out_cents else np.zeros(0, np.int64),
        }

    def _vat_returns(
        self, s_gl: np.ndarray, s_cents: np.ndarray, s_day: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Quarterly VAT returns from the VAT lines (gl, cents, day): days and variables (a, b, c)."""
        m = self.m
        first = self.cal.first_year
        nq = (self.cal.today.year - first + 1) * 4
        year, month = year_month(s_day)
        quarter = (year - first) * 4 + (month - 1) // 3
        ends = np.array([np.datetime64(f"{first + q // 4}-{q % 4 * 3 + 3:02d}", "M") + 1 for q in range(nq)])
        end_days = ends.astype("datetime64[D]").astype(np.int64) - 1
        vals = np.zeros((nq, 3), dtype=np.int64)
        for j, (code, sign) in enumerate((("1500", -1), ("1510", -1), ("1520", 1))):
            sel = s_gl == m.gl[code]
            vals[:, j] = sign * np.bincount(quarter[sel], weights=s_cents[sel], minlength=nq)[:nq].astype(
                np.int64
            )
        keep = vals.any(axis=1) & (end_days <= self.ref)
        return weekday_shift(end_days[keep], self.ref), vals[keep]

    # ---------------------------------------------------------------- assembly

    def _build(self, rng: np.random.Generator, n_lines: int) -> None:
        m = self.m
        start, ref = self.start, self.ref
        n_inv = max(8, round(0.40 * n_lines / 4.3))
        inv = self._invoices(rng, n_inv, start, ref)
        revenue = int(inv["excl"].sum())
        self.month_revenue = max(revenue / self.cal.n_months / 100, 1000.0)  # euro
        self.avg_invoice = max(revenue / n_inv / 100, 50.0)
        pay = weekday_shift(inv["due"] + rng.integers(-7, 25, n_inv), ref + 1000)
        pay = np.maximum(pay, inv["day"] + 1)
        paid = (pay <= ref) & (rng.random(n_inv) > 0.03)
        n_pur = max(6, round(0.22 * n_lines / 3.6))
        raw_pur = self._purchases(rng, n_pur, start, ref)
        ppay = weekday_shift(
            raw_pur["day"] + m.pay_days[raw_pur["supplier"]] + rng.integers(-10, 15, n_pur), ref + 1000
        )
        ppay = np.maximum(ppay, raw_pur["day"] + 1)
        ppaid = (ppay <= ref) & (rng.random(n_pur) > 0.03)
        total = inv["excl"] + inv["vatamt"]
        used = int((inv["nlines"] + 2).sum()) + 2 * int(paid.sum()) + int((raw_pur["nc"] + 2).sum())
        used += 2 * int(ppaid.sum())
        # The opening balance and the quarterly VAT returns (with their payments) always; monthly entries
        # (salaries, depreciation, bank costs ...) when the budget allows them; random ones fill the rest.
        rest = n_lines - used - 8 - (self.cal.n_months // 3) * 6
        months = (self.cal.first_year - 1970) * 12 + np.arange(self.cal.n_months)
        first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        last = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1
        monthly = [t for t, tp in enumerate(T.TEMPLATES) if tp.monthly >= 0]
        monthly_lines = len(months) * int(sum(_EFFECTIVE_SIZES[t] for t in monthly))
        t_which: list[np.ndarray] = [np.array([T.T_OPENING])]
        t_days: list[np.ndarray] = [np.array([start])]
        self.monthly = rest >= 2 * monthly_lines
        if self.monthly:
            for t in monthly:
                dom = T.TEMPLATES[t].monthly
                day = weekday_shift(last if dom == 0 else np.minimum(first + dom - 1, last), ref)
                t_which.append(np.full(int((day <= ref).sum()), t))
                t_days.append(day[day <= ref])  # this month's entries are not due yet
            rest -= monthly_lines
        which, days = self._filler(rng, rest, start, ref)
        if not self.monthly:  # a few lines only: one filler entry in each month at least
            few = min(len(days), len(months))
            mid = first[-few:] + 8 + rng.integers(0, 12, few) if few else first[:0]
            days[:few] = weekday_shift(np.minimum(mid, ref), ref)
        if len(days):
            days[-1] = ref  # the books always reach today
        tpl = self._templates(rng, np.concatenate([*t_which, which]), np.concatenate([*t_days, days]))
        # Purchases make up the costs the other entries do not, for a net margin of about 10%.
        template_costs = int(tpl["l_cents"][m.pl_gl[tpl["l_gl"]]].sum())
        target = max(0.9 * revenue - template_costs, 0.25 * revenue) / 100
        self.purchase_scale = target / max(float(raw_pur["raw"].sum()), 1.0)
        pur = self._purchase_lines(raw_pur, self.purchase_scale)

        # Sales entry lines: debtor (total), revenue per invoice line (credit), VAT (credit).
        k = inv["nlines"].astype(np.int64)
        ssize = k + 2
        sb = _starts(ssize)
        ns = int(ssize.sum())
        s_gl = np.empty(ns, dtype=np.int16)
        s_cents = np.empty(ns, dtype=np.int64)
        s_sub = np.full(ns, -1, dtype=np.int32)
        s_vat = np.full(ns, -1, dtype=np.int8)
        s_gl[sb] = m.gl["1300"]
        s_cents[sb] = total
        li = inv["l_invoice"].astype(np.int64)
        lstart = _starts(k)
        pos = sb[li] + 1 + (np.arange(len(li)) - lstart[li])
        s_gl[pos] = m.item_gl[inv["l_item"]]
        s_cents[pos] = -inv["l_amount"]
        s_sub[pos] = np.arange(len(li))
        s_vat[pos] = inv["vat"][li]
        vpos = sb + k + 1
        s_gl[vpos] = self.vat_gl[inv["vat"]]
        s_cents[vpos] = -inv["vatamt"]
        s_vat[vpos] = inv["vat"]

        vat_lines = np.concatenate([vpos, ns + _starts(pur["size"]) + pur["size"] - 1])
        vat_days = np.concatenate([np.repeat(inv["day"], ssize), np.repeat(pur["day"], pur["size"])])[
            vat_lines
        ]
        vdays, vvals = self._vat_returns(
            np.concatenate([s_gl, pur["l_gl"]])[vat_lines],
            np.concatenate([s_cents, pur["l_cents"]])[vat_lines],
            vat_days,
        )
        vat = self._templates(rng, np.full(len(vdays), T.T_VAT_RETURN), vdays, {T.T_VAT_RETURN: vvals})
        tpl = {key: np.concatenate([tpl[key], vat[key]]) for key in tpl}

        # Receipts of paid invoices and payments of purchases: bank line first.
        ri = np.flatnonzero(paid)
        pi = np.flatnonzero(ppaid)
        bank, debtors, creditors = m.gl["1100"], m.gl["1300"], m.gl["1600"]
        r_gl = np.tile(np.array([bank, debtors], dtype=np.int16), len(ri))
        r_cents = np.column_stack([total[ri], -total[ri]]).ravel()
        p_gl = np.tile(np.array([bank, creditors], dtype=np.int16), len(pi))
        p_cents = np.column_stack([-pur["total"][pi], pur["total"][pi]]).ravel()

        n_s, n_p, n_r, n_q, n_t = n_inv, n_pur, len(ri), len(pi), len(tpl["which"])
        nl_t = len(tpl["l_gl"])
        newpos = self._append(
            kind=np.concatenate(
                [
                    np.full(n_s, K_SALES),
                    np.full(n_p, K_PURCHASE),
                    np.full(n_r, K_RECEIPT),
                    np.full(n_q, K_PAYMENT),
                    tpl["kind"],
                ]
            ),
            day=np.concatenate([inv["day"], pur["day"], pay[ri], ppay[pi], tpl["day"]]),
            size=np.concatenate([ssize, pur["size"], np.full(n_r, 2), np.full(n_q, 2), tpl["size"]]),
            account=np.concatenate(
                [inv["account"], pur["account"], inv["account"][ri], pur["account"][pi], np.full(n_t, -1)]
            ),
            ref=np.concatenate([np.arange(n_s), np.full(n_p, -1), ri, pi, tpl["which"]]),
            base=np.concatenate([inv["excl"], pur["excl"], np.zeros(n_r + n_q + n_t, np.int64)]),
            user=(m.n_users * rng.random(n_s + n_p + n_r + n_q + n_t) ** 2),
            l_gl=np.concatenate([s_gl, pur["l_gl"], r_gl, p_gl, tpl["l_gl"]]),
            l_cents=np.concatenate([s_cents, pur["l_cents"], r_cents, p_cents, tpl["l_cents"]]),
            l_sub=np.concatenate([s_sub, np.full(len(pur["l_gl"]) + 2 * (n_r + n_q) + nl_t, -1)]),
            l_vat=np.concatenate([s_vat, pur["l_vat"], np.full(2 * (n_r + n_q) + nl_t, -1)]),
        )
        # Payments refer to the entry of the purchase they pay.
        self.e_ref[newpos[n_s + n_p + n_r : n_s + n_p + n_r + n_q]] = newpos[n_s + pi]

        self.inv_account = inv["account"]
        self.inv_day = inv["day"]
        self.inv_due = inv["due"]
        self.inv_vat = inv["vat"]
        self.inv_credit = inv["credit"]
        self.inv_excl = inv["excl"]
        self.inv_vatamt = inv["vatamt"]
        self.inv_project = inv["project"]
        self.inv_entry = newpos[:n_s].astype(np.int32)
        self.inv_lstart = np.r_[0, np.cumsum(k)].astype(np.int64)  # one longer: end of the last invoice
        self.inv_status = np.full(n_s, 50, dtype=np.int16)
        self.inv_payday = np.where(paid, pay, -1).astype(np.int32)
        self.il_invoice = inv["l_invoice"]
        self.il_item = inv["l_item"]
        self.il_qty = inv["l_qty"]
        self.il_price = inv["l_price"]
        self.il_amount = inv["l_amount"]
        self.il_vat = inv["l_vat"]
        self.open_invoices = np.flatnonzero(~paid).astype(np.int32)

    def _filler(
        self, rng: np.random.Generator, lines: int, lo: int, hi: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Random template entries with about ``lines`` lines in all (followers included), days in [lo, hi]."""
        if lines <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        weights = np.array([t.weight for t in T.TEMPLATES], dtype=np.float64)
        if self.monthly:
            weights[[t for t, tp in enumerate(T.TEMPLATES) if tp.monthly >= 0]] = 0.0
        avg = float((weights * _EFFECTIVE_SIZES).sum() / weights.sum())
        which = rng.choice(len(weights), size=int(lines / avg * 1.2) + 2, p=weights / weights.sum())
        keep = np.cumsum(_EFFECTIVE_SIZES[which]) <= lines
        keep[0] = True
        which = which[keep]
        return which, self._days(rng, len(which), lo, hi)

    def _append(
        self,
        *,
        kind: np.ndarray,
        day: np.ndarray,
        size: np.ndarray,
        account: np.ndarray,
        ref: np.ndarray,
        base: np.ndarray,
        user: np.ndarray,
        l_gl: np.ndarray,
        l_cents: np.ndarray,
        l_sub: np.ndarray,
        l_vat: np.ndarray,
    ) -> np.ndarray:
        """Appends entries (ordered by day) with their lines (in entry order); returns their new indexes."""
        offset = self.n_entries
        local = np.arange(len(kind))
        order = np.lexsort((local, kind, day))
        newpos = np.empty(len(kind), dtype=np.int64)
        newpos[order] = local
        line_entry = np.repeat(newpos, size)
        lorder = np.argsort(line_entry, kind="stable")
        end = int(self.e_lstart[-1])
        self.e_lstart = np.concatenate([self.e_lstart, end + np.cumsum(size[order])]).astype(np.int64)
        self.e_kind = np.concatenate([self.e_kind, kind[order].astype(np.int8)])
        self.e_day = np.concatenate([self.e_day, day[order].astype(np.int32)])
        self.e_account = np.concatenate([self.e_account, account[order].astype(np.int32)])
        self.e_ref = np.concatenate([self.e_ref, ref[order].astype(np.int32)])
        self.e_base = np.concatenate([self.e_base, base[order].astype(np.int64)])
        self.e_user = np.concatenate([self.e_user, user[order].astype(np.int8)])
        self.l_entry = np.concatenate([self.l_entry, (line_entry[lorder] + offset).astype(np.int32)])
        self.l_gl = np.concatenate([self.l_gl, l_gl[lorder].astype(np.int16)])
        self.l_cents = np.concatenate([self.l_cents, l_cents[lorder].astype(np.int64)])
        self.l_sub = np.concatenate([self.l_sub, l_sub[lorder].astype(np.int32)])
        self.l_vat = np.concatenate([self.l_vat, l_vat[lorder].astype(np.int8)])
        self.e_number = self._numbers()
        return newpos + offset

    def _numbers(self) -> np.ndarray:
        """Entry numbers ``yyJJnnnnn``: year, journal and a sequence per journal and year in index order.

        Base entries are in date order; appended entries continue the sequences, old numbers never change.
        """
        year, _ = year_month(self.e_day)
        journal = self.e_journal(np.arange(self.n_entries))
        return (year % 100) * 10_000_000 + journal * 100_000 + cumcount(year * 100 + journal) + 1

    def e_journal(self, e: np.ndarray) -> np.ndarray:
        kind = self.e_kind[e]
        tj = _TEMPLATE_JOURNALS[np.where(kind >= K_BANK, self.e_ref[e], 0)]
        return np.select([kind == K_SALES, kind == K_PURCHASE, kind <= K_PAYMENT], [70, 60, 20], default=tj)

    def e_type(self, e: np.ndarray) -> np.ndarray:
        """TransactionLines ``Type`` of entries ``e``: 20/21 sales, 30 purchase, 40 cash flow, 90 general ..."""
        kind = self.e_kind[e]
        ref = self.e_ref[e]
        credit = self.inv_credit[np.where(kind == K_SALES, ref, 0)]
        tt = _TEMPLATE_TYPES[np.where(kind >= K_BANK, ref, 0)]
        return np.select(
            [kind == K_SALES, kind == K_PURCHASE, kind <= K_PAYMENT], [20 + credit, 30, 40], default=tt
        )

    # ---------------------------------------------------------------- growth

    def extend_entries(self, rng: np.random.Generator, lines: int) -> range:
        """New purchase and other entries dated in the last four weeks, at least ``lines`` lines in all."""
        start = self.n_lines
        if lines <= 0:
            return range(start, start)
        lo = self.ref - 27
        n_pur = int(0.4 * lines / 3.6)
        pur = self._purchase_lines(self._purchases(rng, n_pur, lo, self.ref), self.purchase_scale)
        parts = []
        budget = lines - int(pur["size"].sum())
        for _ in range(8):  # followers after today are left out: top up to at least ``lines``
            which, days = self._filler(rng, budget, lo, self.ref)
            parts.append(self._templates(rng, which, days))
            budget -= len(parts[-1]["l_gl"])
            if budget <= 0:
                break
        tpl = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        n_t = len(tpl["which"])
        nl = len(pur["l_gl"]) + len(tpl["l_gl"])
        self._append(
            kind=np.concatenate([np.full(n_pur, K_PURCHASE), tpl["kind"]]),
            day=np.concatenate([pur["day"], tpl["day"]]),
            size=np.concatenate([pur["size"], tpl["size"]]),
            account=np.concatenate([pur["account"], np.full(n_t, -1)]),
            ref=np.concatenate([np.full(n_pur, -1), tpl["which"]]),
            base=np.concatenate([pur["excl"], np.zeros(n_t, np.int64)]),
            user=self.m.n_users * rng.random(n_pur + n_t) ** 2,
            l_gl=np.concatenate([pur["l_gl"], tpl["l_gl"]]),
            l_cents=np.concatenate([pur["l_cents"], tpl["l_cents"]]),
            l_sub=np.full(nl, -1),
            l_vat=np.concatenate([pur["l_vat"], np.full(len(tpl["l_gl"]), -1)]),
        )
        return range(start, self.n_lines)

    def extend_invoices(self, rng: np.random.Generator, count: int) -> tuple[range, range]:
        """New draft invoices (status 10, not booked yet) with their lines; returns both new ranges."""
        i0, l0 = len(self.inv_account), len(self.il_invoice)
        if count <= 0:
            return range(i0, i0), range(l0, l0)
        inv = self._invoices(rng, count, self.ref - 20, self.ref)
        k = inv["nlines"].astype(np.int64)
        self.inv_account = np.concatenate([self.inv_account, inv["account"]])
        self.inv_day = np.concatenate([self.inv_day, inv["day"]])
        self.inv_due = np.concatenate([self.inv_due, inv["due"]])
        self.inv_vat = np.concatenate([self.inv_vat, inv["vat"]])
        self.inv_credit = np.concatenate([self.inv_credit, inv["credit"]])
        self.inv_excl = np.concatenate([self.inv_excl, inv["excl"]])
        self.inv_vatamt = np.concatenate([self.inv_vatamt, inv["vatamt"]])
        self.inv_project = np.concatenate([self.inv_project, inv["project"]])
        self.inv_entry = np.concatenate([self.inv_entry, np.full(count, -1, np.int32)])
        self.inv_lstart = np.concatenate([self.inv_lstart, l0 + np.cumsum(k)])
        self.inv_status = np.concatenate([self.inv_status, np.full(count, 10, np.int16)])
        self.inv_payday = np.concatenate([self.inv_payday, np.full(count, -1, np.int32)])
        self.il_invoice = np.concatenate([self.il_invoice, inv["l_invoice"] + i0])
        self.il_item = np.concatenate([self.il_item, inv["l_item"]])
        self.il_qty = np.concatenate([self.il_qty, inv["l_qty"]])
        self.il_price = np.concatenate([self.il_price, inv["l_price"]])
        self.il_amount = np.concatenate([self.il_amount, inv["l_amount"]])
        self.il_vat = np.concatenate([self.il_vat, inv["l_vat"]])
        return range(i0, i0 + count), range(l0, len(self.il_invoice))

    @property
    def n_entries(self) -> int:
        return len(self.e_kind)

    @property
    def n_lines(self) -> int:
        return len(self.l_entry)

    @property
    def n_invoices(self) -> int:
        return len(self.inv_account)


_SIZES = np.array([len(t.lines) for t in T.TEMPLATES], dtype=np.int64)
_EFFECTIVE_SIZES = _SIZES + np.array(
    [sum(len(T.TEMPLATES[f[0]].lines) for f in t.followers) for t in T.TEMPLATES]
)
_TEMPLATE_JOURNALS = np.array([t.journal for t in T.TEMPLATES], dtype=np.int64)
_TEMPLATE_TYPES = np.array([t.type for t in T.TEMPLATES], dtype=np.int64)

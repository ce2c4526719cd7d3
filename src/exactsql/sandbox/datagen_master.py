"""Master data of one division: GL accounts and classifications, accounts, contacts, items, projects."""

from __future__ import annotations

from math import gcd
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
    nulls,
    pool,
    rint,
    runi,
    slug,
    take,
    weighted,
    year_month,
)
from exactsql.sandbox.values import NULL_DATE

if TYPE_CHECKING:
    from exactsql.sandbox.datagen import DivisionData

_SURNAME_CAP = pool((p[0].upper() + p[1:] + " " + b) if p else b for p, b in N.SURNAMES)
_SURNAME_PREFIX = pool(p or None for p, _ in N.SURNAMES)
_SURNAME_BASE = pool(b for _, b in N.SURNAMES)
_SURNAME_SLUG = [slug(p + b) for p, b in N.SURNAMES]
_FIRST_SLUG = {f: slug(f) for f in N.FIRST_NAMES_M + N.FIRST_NAMES_F}
_CITY = pool(c[0] for c in N.CITIES)
_CITY_LO = np.array([c[1] for c in N.CITIES], dtype=np.int64)
_CITY_SPAN = np.array([c[2] - c[1] + 1 for c in N.CITIES], dtype=np.int64)
_CITY_AREA = [c[3] for c in N.CITIES]
_CITY_LAT = np.array([c[4] for c in N.CITIES])
_CITY_LON = np.array([c[5] for c in N.CITIES])
_CITY_WEIGHTS = np.linspace(3.0, 1.0, len(N.CITIES))
_LETTERS = "ABCDEGHJKLMNPRTVWXZ"
_PRIMES = (7919, 104729, 1299709, 15485863, 179424673)


def _permute(salt: int, rank: np.ndarray, space: int) -> np.ndarray:
    """A bijection of ``[0, space)`` chosen by ``salt``, applied to ``rank % space``."""
    mult = next(p for p in _PRIMES[salt % 3 :] + _PRIMES if gcd(p, space) == 1)
    return (rank % space * mult + salt % space) % space


def city_of(salt: int, idx: np.ndarray) -> np.ndarray:
    return weighted(salt, idx, _CITY_WEIGHTS)


def postcodes(salt: int, idx: np.ndarray, city: np.ndarray) -> np.ndarray:
    digits = _CITY_LO[city] + rint(salt, idx, 1 << 20) % _CITY_SPAN[city]
    r = rint(salt + 1, idx, len(_LETTERS) ** 2)
    return pool(
        f"{d} {_LETTERS[x // 19]}{_LETTERS[x % 19]}" for d, x in zip(digits.tolist(), r.tolist(), strict=True)
    )


def phones(salt: int, idx: np.ndarray, city: np.ndarray) -> np.ndarray:
    num = rint(salt, idx, 9_000_000) + 1_000_000
    out = []
    for c, x in zip(city.tolist(), num.tolist(), strict=True):
        area = _CITY_AREA[c]
        out.append(f"{area}-{x}" if len(area) == 3 else f"{area}-{x % 1_000_000:06d}")
    return pool(out)


def mobiles(salt: int, idx: np.ndarray) -> np.ndarray:
    return pool(f"06-{x:08d}" for x in (rint(salt, idx, 90_000_000) + 10_000_000).tolist())


# ------------------------------------------------------------------------------------------- GL accounts


def _reporting_code(code: str) -> str:
    c = int(code[:2])
    table = (
        (6, "BMva"),
        (7, "BFva"),
        (8, "BEiv"),
        (9, "BLas"),
        (10, "BVrz"),
        (12, "BLim"),
        (13, "BSch"),
        (15, "BVor"),
        (30, "BSch"),
        (40, "BVrd"),
        (41, "WPer"),
        (42, "WBedHui"),
        (43, "WBedAut"),
        (44, "WBedKan"),
        (45, "WBedVkk"),
        (46, "WBedAlk"),
        (47, "WAfs"),
        (70, "WBedAlk"),
        (80, "WKpr"),
        (90, "WOmz"),
        (95, "WFbe"),
        (99, "WBel"),
    )
    return next((name for bound, name in table if c < bound), "WBedAlk")


class GLAccounts(Table):
    entity = "financial/GLAccounts"

    def __init__(self, div: DivisionData) -> None:
        super().__init__(div)
        self.rows: list[tuple[str, str, int, str, str]] = list(P.CHART)
        self._refresh()
        vat = {"8000": 0, "8010": 0, "8100": 1}
        c = self.cols
        c["Code"] = lambda i: np.take(self.p_code, i)
        c["Description"] = lambda i: np.take(self.p_desc, i)
        c["SearchCode"] = lambda i: np.take(self.p_code, i)
        c["Type"] = lambda i: self.types[i]
        c["TypeDescription"] = lambda i: np.take(self.p_typedesc, i)
        c["BalanceSide"] = lambda i: np.take(self.p_side, i)
        c["BalanceType"] = lambda i: np.take(self.p_btype, i)
        c["ReportingCode"] = lambda i: np.take(self.p_report, i)
        c["Compress"] = lambda i: np.zeros(len(i), dtype=bool)
        c["IsBlocked"] = lambda i: np.zeros(len(i), dtype=bool)
        c["RevalueCurrency"] = lambda i: np.zeros(len(i), dtype=bool)
        c["Matching"] = lambda i: np.isin(i, [self.index[x] for x in ("1200", "1900", "2000", "2100")])
        c["UseCostcenter"] = lambda i: np.full(len(i), 2, dtype=np.int64)
        c["UseCostunit"] = lambda i: np.full(len(i), 2, dtype=np.int64)
        vat_code = np.array([vat.get(r[0], -1) for r in P.CHART])
        c["VATCode"] = lambda i: take(pool(v[0] for v in P.VAT_CODES), self._vat(vat_code, i))
        c["VATDescription"] = lambda i: take(pool(v[1] for v in P.VAT_CODES), self._vat(vat_code, i))
        self.audit(
            lambda i: np.where(
                i < len(P.CHART), div.created_day, div.cal.ref_day - rint(self.s("new"), i, 30)
            )
        )

    def _vat(self, codes: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.where(i < len(codes), codes[np.minimum(i, len(codes) - 1)], -1)

    def _refresh(self) -> None:
        self.n = len(self.rows)
        self.index = {r[0]: k for k, r in enumerate(self.rows)}
        self.p_code = pool(r[0] for r in self.rows)
        self.p_desc = pool(r[1] for r in self.rows)
        self.types = np.array([r[2] for r in self.rows], dtype=np.int64)
        self.p_typedesc = pool(P.GL_TYPE_DESCRIPTIONS[r[2]] for r in self.rows)
        self.p_btype = pool(r[3] for r in self.rows)
        self.p_side = pool(r[4] for r in self.rows)
        self.p_report = pool(_reporting_code(r[0]) for r in self.rows)

    def extend(self, count: int) -> range:
        start = self.n
        for _ in range(max(count, 0)):
            k = len(self.rows) - len(P.CHART)
            code = str(4801 + k) if k < 99 else str(48000 + k)
            self.rows.append((code, f"Overige kosten {k + 1}", 120, "W", "D"))
        self._refresh()
        return range(start, self.n)

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "SearchCode": pool(
                f"{c}{'X' if b else ''}"
                for c, b in zip(np.take(self.p_code, idx).tolist(), rng.random(len(idx)) < 0.5, strict=True)
            )
        }


class GLClassifications(Table):
    entity = "financial/GLClassifications"

    def __init__(self, div: DivisionData) -> None:
        super().__init__(div)
        self.rows: list[tuple[str, str, str, str, str]] = list(P.CLASSIFICATIONS)
        self._refresh()
        c = self.cols
        c["Code"] = lambda i: np.take(self.p_code, i)
        c["Description"] = lambda i: np.take(self.p_desc, i)
        c["Name"] = lambda i: np.take(self.p_name, i)
        c["Balance"] = lambda i: np.take(self.p_balance, i)
        c["PeriodType"] = lambda i: np.take(self.p_period, i)
        c["Parent"] = lambda i: fk(self.salt, self.parent[i])
        c["Abstract"] = lambda i: self.abstract[i]
        c["Nillable"] = lambda i: np.zeros(len(i), dtype=bool)
        c["IsTupleSubElement"] = lambda i: np.zeros(len(i), dtype=bool)
        self.audit(lambda i: np.full(len(i), div.created_day))

    def _refresh(self) -> None:
        self.n = len(self.rows)
        index = {r[0]: k for k, r in enumerate(self.rows)}
        self.p_code = pool(r[0] for r in self.rows)
        self.p_desc = pool(r[2] for r in self.rows)
        self.p_name = pool(r[3] for r in self.rows)
        self.p_balance = pool(r[4] for r in self.rows)
        self.p_period = pool("I" if r[0].startswith("B") else "D" for r in self.rows)
        self.parent = np.array([index.get(r[1], -1) for r in self.rows], dtype=np.int64)
        self.abstract = np.isin(np.arange(self.n), self.parent)

    def extend(self, count: int) -> range:
        start = self.n
        for _ in range(max(count, 0)):
            k = len(self.rows) - len(P.CLASSIFICATIONS) + 1
            self.rows.append((f"WBedAlk{k:03d}", "WBedAlk", f"Overige kosten {k}", f"OtherExpenses{k}", "D"))
        self._refresh()
        return range(start, self.n)


# ------------------------------------------------------------------------------------------- accounts

# Name patterns by slot of a 20-slot block: 0 "{Trade} {Surname}{legal}", 1 "{Surname} {Sector}{legal}",
# 2 "{Surname} & {Surname}", 3 "{Region} {Sector}{legal}".
_TAB = np.array([0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0, 0, 1, 3, 0, 1])
_OCC = np.array([int((_TAB[:j] == _TAB[j]).sum()) for j in range(20)])
_CNT = np.bincount(_TAB)
_NS, _NT, _NC, _NR = len(N.SURNAMES), len(N.TRADES), len(N.SECTORS), len(N.REGIONS)
_SPACE = (_NT * _NS * 3, _NS * _NC * 2, _NS * (_NS - 1) * 2, _NR * _NC * 4)
_LEGAL = (("", " B.V.", " V.O.F."), (" B.V.", ""), ("", " V.O.F."), (" B.V.", "", " Groep", " Holding B.V."))


def _company_parts(salt: int, idx: np.ndarray) -> tuple[list[int], list[int], list[int], list[int]]:
    """Pattern and the indexes of its words per row (unique per ``salt`` for the first ~9,000 indexes)."""
    block, r = idx // 20, idx % 20
    j = (r + rint(salt, block, 20)) % 20
    pat = _TAB[j]
    rank = block * _CNT[pat] + _OCC[j]
    c = np.zeros(len(idx), dtype=np.int64)
    for p, space in enumerate(_SPACE):
        sel = pat == p
        if sel.any():
            c[sel] = _permute(salt + p, rank[sel], space)
    n1 = np.select([pat == 0, pat == 3], [_NT, _NR], _NS)
    n2 = np.select([pat == 0, pat == 2], [_NS, _NS - 1], _NC)
    a, b = c % n1, c // n1 % n2
    b = np.where((pat == 2) & (b >= a), b + 1, b)
    legal = c // n1 // n2 % np.array([3, 2, 2, 4])[pat]
    return pat.tolist(), a.tolist(), b.tolist(), legal.tolist()


_WORDS = (
    (N.TRADES, list(_SURNAME_CAP)),
    (list(_SURNAME_CAP), N.SECTORS),
    (list(_SURNAME_CAP), list(_SURNAME_CAP)),
    (N.REGIONS, N.SECTORS),
)
_SEP = (" ", " ", " & ", " ")
_SLUGS = tuple(([slug(w) for w in first], [slug(w) for w in second]) for first, second in _WORDS)
_LEGAL_SLUG = tuple(tuple(slug(x) for x in forms) for forms in _LEGAL)


def company_names(salt: int, idx: np.ndarray) -> np.ndarray:
    """Dutch company names such as "Bakkerij De Vries B.V." (mostly unique per ``salt``)."""
    return pool(
        f"{_WORDS[p][0][a]}{_SEP[p]}{_WORDS[p][1][b]}{_LEGAL[p][g]}"
        for p, a, b, g in zip(*_company_parts(salt, idx), strict=True)
    )


def company_slugs(salt: int, idx: np.ndarray) -> list[str]:
    """``slug()`` of :func:`company_names` ("bakkerijdevries"), for e-mail and web addresses."""
    return [
        f"{_SLUGS[p][0][a]}{'en' if p == 2 else ''}{_SLUGS[p][1][b]}{_LEGAL_SLUG[p][g]}"
        for p, a, b, g in zip(*_company_parts(salt, idx), strict=True)
    ]


# Account roles.
R_CUSTOMER, R_SUPPLIER, R_BOTH, R_PROSPECT = range(4)


class Accounts(Table):
    entity = "crm/Accounts"

    def __init__(self, div: DivisionData, count: int) -> None:
        super().__init__(div)
        self.n = self.base = count
        base = np.arange(count)
        role = self.role(base)
        self.customers = np.flatnonzero((role == R_CUSTOMER) | (role == R_BOTH))
        self.suppliers = np.flatnonzero((role == R_SUPPLIER) | (role == R_BOTH))
        self.contact_count = np.where(
            role == R_PROSPECT,
            1,
            1 + rint(self.s("contacts"), base, 3) % 3 // 2 + (runi(self.s("contacts2"), base) < 0.25),
        )
        self.contact_start = np.r_[0, np.cumsum(self.contact_count)].astype(np.int64)
        gl = div.gl
        costs = [gl.index[c] for c, _ in T.SUPPLIER_COSTS]
        if div.profile_name == "Food":
            costs = [gl.index["7010"] if x == gl.index["7000"] else x for x in costs]
        self.cost_gls = np.array(costs, dtype=np.int64)
        self.cost_weights = np.array([w for _, w in T.SUPPLIER_COSTS], dtype=np.float64)
        s = self.s
        c = self.cols
        c["Code"] = lambda i: pool(str(1000 + x).rjust(18) for x in i.tolist())
        c["Name"] = self.names
        c["SearchCode"] = lambda i: pool(x[:10].upper() for x in self.slugs(i))
        c["Status"] = lambda i: np.take(pool(["C", "A", "C", "P"]), self.role(i))
        c["Type"] = lambda i: const("A", len(i))
        c["IsSales"] = lambda i: np.isin(self.role(i), [R_CUSTOMER, R_BOTH])
        c["IsSupplier"] = c["IsPurchase"] = lambda i: np.isin(self.role(i), [R_SUPPLIER, R_BOTH])
        c["IsReseller"] = c["IsBank"] = c["Blocked"] = lambda i: np.zeros(len(i), dtype=bool)
        c["IsAccountant"] = c["IsAgency"] = c["IsCompetitor"] = c["IsAnonymised"] = lambda i: np.zeros(
            len(i), dtype=np.int64
        )
        c["IsMailing"] = lambda i: (runi(s("mailing"), i) < 0.3).astype(np.int64)
        c["AddressLine1"] = lambda i: pool(
            f"{N.STREETS[a]} {b}"
            for a, b in zip(
                rint(s("street"), i, len(N.STREETS)).tolist(),
                (1 + rint(s("number"), i, 180)).tolist(),
                strict=True,
            )
        )
        c["Postcode"] = lambda i: postcodes(s("postcode"), i, self.city(i))
        c["City"] = lambda i: np.take(_CITY, self.city(i))
        c["Country"] = lambda i: const("NL ", len(i))
        c["CountryName"] = lambda i: const("Nederland", len(i))
        c["Language"] = lambda i: const("NL", len(i))
        c["Currency"] = c["SalesCurrency"] = c["PurchaseCurrency"] = lambda i: const("EUR", len(i))
        c["Phone"] = lambda i: phones(s("phone"), i, self.city(i))
        c["Email"] = lambda i: pool(
            f"{('info', 'administratie', 'contact', 'post')[k]}@{x}.nl"
            for x, k in zip(self.slugs(i), rint(s("mailbox"), i, 4).tolist(), strict=True)
        )
        c["Website"] = lambda i: pool(f"www.{x}.nl" for x in self.slugs(i))
        c["VATNumber"] = lambda i: pool(f"NL{x:09d}B01" for x in rint(s("vat"), i, 10**9).tolist())
        c["ChamberOfCommerce"] = lambda i: pool(
            f"{x:08d}" for x in (rint(s("kvk"), i, 9 * 10**7) + 10**7).tolist()
        )
        c["Latitude"] = lambda i: np.round(_CITY_LAT[self.city(i)] + (runi(s("lat"), i) - 0.5) * 0.04, 6)
        c["Longitude"] = lambda i: np.round(_CITY_LON[self.city(i)] + (runi(s("lon"), i) - 0.5) * 0.06, 6)
        sales = lambda i: np.isin(self.role(i), [R_CUSTOMER, R_BOTH])  # noqa: E731
        purchase = lambda i: np.isin(self.role(i), [R_SUPPLIER, R_BOTH])  # noqa: E731
        pc_code = pool(p[0] for p in P.PAYMENT_CONDITIONS)
        pc_desc = pool(p[1] for p in P.PAYMENT_CONDITIONS)
        c["PaymentConditionSales"] = lambda i: take(pc_code, np.where(sales(i), self.condition(i), -1))
        c["PaymentConditionSalesDescription"] = lambda i: take(
            pc_desc, np.where(sales(i), self.condition(i), -1)
        )
        c["PaymentConditionPurchase"] = lambda i: take(pc_code, np.where(purchase(i), self.condition(i), -1))
        c["PaymentConditionPurchaseDescription"] = lambda i: take(
            pc_desc, np.where(purchase(i), self.condition(i), -1)
        )
        vat_code = pool(v[0] for v in P.VAT_CODES)
        c["SalesVATCode"] = lambda i: take(vat_code, np.where(sales(i), 0, -1))
        c["PurchaseVATCode"] = lambda i: take(
            vat_code, np.where(purchase(i), np.where(self.supplier_gl(i) == gl.index["7010"], 3, 2), -1)
        )
        c["GLAR"] = lambda i: fk(gl.salt, np.where(sales(i), gl.index["1300"], -1))
        c["GLAP"] = lambda i: fk(gl.salt, np.where(purchase(i), gl.index["1600"], -1))
        c["GLAccountPurchase"] = lambda i: fk(gl.salt, self.supplier_gl(i))
        c["MainContact"] = lambda i: fk(div.key_salt("crm/Contacts"), self.main_contact(i))
        c["AccountManager"] = lambda i: take(div.world.user_guids, self.manager(i))
        c["AccountManagerFullName"] = lambda i: take(div.world.user_full_names, self.manager(i))
        c["CreditLineSales"] = lambda i: np.where(sales(i), (1 + rint(s("credit"), i, 20)) * 500.0, 0.0)
        c["DiscountSales"] = c["DiscountPurchase"] = lambda i: np.zeros(len(i))
        c["CustomerSince"] = lambda i: np.where(sales(i), day_ms(self.created_day(i)), NULL_DATE)
        c["StartDate"] = lambda i: day_ms(self.created_day(i))
        c["Remarks"] = lambda i: nulls(len(i))
        self.audit(self.created_day)

    def role(self, i: np.ndarray) -> np.ndarray:
        u = runi(self.s("role"), i)
        role = np.select([u < 0.66, u < 0.90, u < 0.95], [R_CUSTOMER, R_SUPPLIER, R_BOTH], R_PROSPECT)
        return np.where(i == 0, R_CUSTOMER, np.where(i == 1, R_SUPPLIER, role))

    def names(self, i: np.ndarray) -> np.ndarray:
        return self.memo("names", lambda x: company_names(self.s("name"), x), i)

    def slugs(self, i: np.ndarray) -> list[str]:
        return self.memo("slugs", lambda x: pool(company_slugs(self.s("name"), x)), i).tolist()

    def city(self, i: np.ndarray) -> np.ndarray:
        return city_of(self.s("city"), i)

    def condition(self, i: np.ndarray) -> np.ndarray:
        return weighted(self.s("condition"), i, np.array([3.0, 5.0, 1.0, 0.5, 0.5]))

    def pay_days(self, i: np.ndarray) -> np.ndarray:
        return np.array([p[2] for p in P.PAYMENT_CONDITIONS])[self.condition(i)]

    def supplier_gl(self, i: np.ndarray) -> np.ndarray:
        sup = np.isin(self.role(i), [R_SUPPLIER, R_BOTH])
        return np.where(sup, self.cost_gls[weighted(self.s("costs"), i, self.cost_weights)], -1)

    def main_contact(self, i: np.ndarray) -> np.ndarray:
        inside = i < self.base
        return np.where(inside, self.contact_start[np.minimum(i, self.base)], -1)

    def manager(self, i: np.ndarray) -> np.ndarray:
        return np.where(
            np.isin(self.role(i), [R_CUSTOMER, R_BOTH, R_PROSPECT]),
            self.div.user_of(self.s("manager"), i),
            -1,
        )

    def created_day(self, i: np.ndarray) -> np.ndarray:
        cal = self.div.cal
        old = cal.start_day - 30 - rint(self.s("created"), i, 2000)
        return np.where(i < self.base, old, cal.ref_day - rint(self.s("new"), i, 28))

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        salt = int(rng.integers(1 << 62))
        city = city_of(salt, idx)
        return {
            "Phone": phones(salt + 1, idx, city),
            "City": np.take(_CITY, city),
            "Postcode": postcodes(salt + 2, idx, city),
            "AddressLine1": pool(
                f"{N.STREETS[a]} {b}"
                for a, b in zip(
                    rng.integers(0, len(N.STREETS), len(idx)).tolist(),
                    rng.integers(1, 180, len(idx)).tolist(),
                    strict=True,
                )
            ),
            "Remarks": pool(
                rng.choice(
                    ["Verhuisd", "Nieuw adres doorgegeven", "Gegevens gecontroleerd"], len(idx)
                ).tolist()
            ),
        }


class Contacts(Table):
    entity = "crm/Contacts"

    def __init__(self, div: DivisionData, accounts: Accounts) -> None:
        super().__init__(div)
        self.accounts = accounts
        self.n = self.base = int(accounts.contact_start[-1])
        self.account_of = np.repeat(np.arange(accounts.base), accounts.contact_count).astype(np.int32)
        s, c, A = self.s, self.cols, "crm/Accounts"
        c["Account"] = lambda i: fk(accounts.salt, self.account(i))
        c["AccountName"] = lambda i: div.lookup(A, "Name", self.account(i))
        c["AccountIsCustomer"] = lambda i: np.isin(accounts.role(self.account(i)), [R_CUSTOMER, R_BOTH])
        c["AccountIsSupplier"] = lambda i: np.isin(accounts.role(self.account(i)), [R_SUPPLIER, R_BOTH])
        c["AccountMainContact"] = lambda i: fk(self.salt, accounts.main_contact(self.account(i)))
        c["IsMainContact"] = lambda i: accounts.main_contact(self.account(i)) == i
        c["Gender"] = lambda i: np.take(pool(["M", "V"]), self.female(i).astype(np.int64))
        c["Title"] = lambda i: np.take(pool(["DHR", "MEVR"]), self.female(i).astype(np.int64))
        c["TitleDescription"] = lambda i: np.take(
            pool(["De heer", "Mevrouw"]), self.female(i).astype(np.int64)
        )
        c["TitleAbbreviation"] = lambda i: np.take(pool(["Dhr.", "Mevr."]), self.female(i).astype(np.int64))
        c["FirstName"] = self.first_names
        c["Initials"] = lambda i: pool(x[0] + "." for x in self.first_names(i))
        c["MiddleName"] = lambda i: np.take(_SURNAME_PREFIX, self.surname(i))
        c["LastName"] = lambda i: np.take(_SURNAME_BASE, self.surname(i))
        c["FullName"] = lambda i: self.memo("full", self.full_names, i)
        c["Email"] = c["BusinessEmail"] = self.emails
        c["Phone"] = c["BusinessPhone"] = lambda i: div.lookup(A, "Phone", self.account(i))
        c["Mobile"] = c["BusinessMobile"] = lambda i: mobiles(s("mobile"), i)
        c["JobTitleDescription"] = lambda i: np.take(
            pool(N.JOB_TITLES),
            np.where(
                accounts.main_contact(self.account(i)) == i,
                rint(s("job"), i, 3),
                rint(s("job"), i, len(N.JOB_TITLES)),
            ),
        )
        c["Language"] = lambda i: const("NL", len(i))
        c["Country"] = lambda i: const("NL ", len(i))
        c["City"] = lambda i: div.lookup(A, "City", self.account(i))
        c["Postcode"] = lambda i: div.lookup(A, "Postcode", self.account(i))
        c["BirthDate"] = lambda i: np.where(
            runi(s("birth?"), i) < 0.4, day_ms(-3650 + rint(s("birth"), i, 40 * 365)), NULL_DATE
        )
        c["HID"] = lambda i: i + 1
        c["StartDate"] = lambda i: day_ms(self.created_day(i))
        c["Notes"] = lambda i: nulls(len(i))
        self.audit(self.created_day)

    def account(self, i: np.ndarray) -> np.ndarray:
        inside = i < self.base
        extra = rint(self.s("account"), i, max(self.accounts.base, 1))
        return np.where(inside, self.account_of[np.minimum(i, max(self.base - 1, 0))], extra).astype(np.int64)

    def female(self, i: np.ndarray) -> np.ndarray:
        return runi(self.s("female"), i) < 0.45

    def surname(self, i: np.ndarray) -> np.ndarray:
        return rint(self.s("surname"), i, len(N.SURNAMES))

    def first_names(self, i: np.ndarray) -> np.ndarray:
        k = rint(self.s("first"), i, len(N.FIRST_NAMES_M))
        return np.where(self.female(i), np.take(pool(N.FIRST_NAMES_F), k), np.take(pool(N.FIRST_NAMES_M), k))

    def full_names(self, i: np.ndarray) -> np.ndarray:
        sn = self.surname(i).tolist()
        return pool(
            f"{f} {N.SURNAMES[k][0]} {N.SURNAMES[k][1]}" if N.SURNAMES[k][0] else f"{f} {N.SURNAMES[k][1]}"
            for f, k in zip(self.first_names(i).tolist(), sn, strict=True)
        )

    def emails(self, i: np.ndarray) -> np.ndarray:
        uniq, inv = np.unique(self.account(i), return_inverse=True)
        domains = pool(self.accounts.slugs(uniq))[inv].tolist()
        sn = self.surname(i).tolist()
        return pool(
            f"{_FIRST_SLUG[f]}.{_SURNAME_SLUG[k]}@{a}.nl"
            for f, k, a in zip(self.first_names(i).tolist(), sn, domains, strict=True)
        )

    def created_day(self, i: np.ndarray) -> np.ndarray:
        acc = self.accounts.created_day(self.account(i))
        return np.minimum(acc + rint(self.s("created"), i, 400), self.div.cal.ref_day)

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        salt = int(rng.integers(1 << 62))
        return {
            "Mobile": mobiles(salt, idx),
            "BusinessMobile": mobiles(salt, idx),
            "JobTitleDescription": np.take(pool(N.JOB_TITLES), rng.integers(0, len(N.JOB_TITLES), len(idx))),
        }


# ------------------------------------------------------------------------------------------- items


class Items(Table):
    entity = "logistics/Items"

    def __init__(self, div: DivisionData, count: int) -> None:
        super().__init__(div)
        self.n = self.base = count
        products = P.PROFILES[div.profile][1]
        self.products = products
        self.space = len(products) * 8 * 16 * 4
        gl = div.gl
        self.p_price = np.array([p[3] for p in products])
        self.p_low = np.array([p[4] for p in products])
        self.p_service = np.array([p[5] for p in products])
        self.p_unit = pool(p[1] for p in products)
        self.p_unitdesc = pool(p[2] for p in products)
        rev = np.where(
            self.p_low, gl.index["8100"], np.where(self.p_service, gl.index["8010"], gl.index["8000"])
        )
        self.p_revenue = rev
        self.p_costs = np.where(
            self.p_service, gl.index["7200"], np.where(self.p_low, gl.index["7010"], gl.index["7000"])
        )
        s, c, G = self.s, self.cols, "financial/GLAccounts"
        prefix = P.PROFILE_CODES[div.profile]
        c["Code"] = lambda i: pool(f"{prefix}{10001 + x}" for x in i.tolist())
        c["SearchCode"] = lambda i: pool(f"{prefix}{10001 + x}" for x in i.tolist())
        c["Description"] = lambda i: self.memo("desc", self.descriptions, i)
        c["Unit"] = lambda i: np.take(self.p_unit, self.product(i))
        c["UnitDescription"] = lambda i: np.take(self.p_unitdesc, self.product(i))
        c["StandardSalesPrice"] = lambda i: self.price(i) / 100
        c["CostPriceStandard"] = c["AverageCost"] = c["CostPriceNew"] = lambda i: self.cost(i) / 100
        c["CostPriceCurrency"] = lambda i: const("EUR", len(i))
        c["IsSalesItem"] = lambda i: np.ones(len(i), dtype=bool)
        c["IsTaxableItem"] = lambda i: np.ones(len(i), dtype=np.int64)
        c["IsPurchaseItem"] = c["IsStockItem"] = lambda i: ~self.service(i)
        c["IsTime"] = lambda i: (self.service(i) & np.isin(self.product(i), self._hourly())).astype(np.int64)
        c["IsFractionAllowedItem"] = lambda i: np.isin(
            np.take(self.p_unit, self.product(i)), ["m", "m2", "kg", "l", "h"]
        )
        c["IsWebshopItem"] = lambda i: (runi(s("web"), i) < 0.3).astype(np.int64)
        c["IsSerialItem"] = c["IsPackageItem"] = lambda i: np.zeros(len(i), dtype=bool)
        c["GLRevenue"] = lambda i: fk(gl.salt, self.p_revenue[self.product(i)])
        c["GLRevenueCode"] = lambda i: div.lookup(G, "Code", self.p_revenue[self.product(i)])
        c["GLRevenueDescription"] = lambda i: div.lookup(G, "Description", self.p_revenue[self.product(i)])
        c["GLCosts"] = lambda i: fk(gl.salt, self.p_costs[self.product(i)])
        c["GLCostsCode"] = lambda i: div.lookup(G, "Code", self.p_costs[self.product(i)])
        c["GLCostsDescription"] = lambda i: div.lookup(G, "Description", self.p_costs[self.product(i)])
        stock = lambda i: np.where(self.service(i), -1, gl.index["3000"])  # noqa: E731
        c["GLStock"] = lambda i: fk(gl.salt, stock(i))
        c["GLStockCode"] = lambda i: div.lookup(G, "Code", stock(i))
        c["GLStockDescription"] = lambda i: div.lookup(G, "Description", stock(i))
        vat = pool(v[0] for v in P.VAT_CODES)
        vat_desc = pool(v[1] for v in P.VAT_CODES)
        c["SalesVatCode"] = lambda i: np.take(vat, self.low(i).astype(np.int64))
        c["SalesVatCodeDescription"] = lambda i: np.take(vat_desc, self.low(i).astype(np.int64))
        c["Barcode"] = self.barcodes
        c["Stock"] = lambda i: np.where(self.service(i), 0.0, rint(s("stock"), i, 400).astype(np.float64))
        c["StartDate"] = lambda i: day_ms(self.created_day(i))
        c["Notes"] = lambda i: nulls(len(i))
        self.audit(self.created_day)

    def _hourly(self) -> list[int]:
        return [k for k, p in enumerate(self.products) if p[1] == "h"]

    def parts(self, i: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        c = _permute(self.s("combo"), i, self.space)
        n = len(self.products)
        return c % n, c // n % 8, c // n // 8 % 16, c // n // 128 % 4

    def product(self, i: np.ndarray) -> np.ndarray:
        return self.parts(i)[0]

    def service(self, i: np.ndarray) -> np.ndarray:
        return self.p_service[self.product(i)]

    def low(self, i: np.ndarray) -> np.ndarray:
        return self.p_low[self.product(i)]

    def price(self, i: np.ndarray) -> np.ndarray:
        """Standard sales price in cents."""
        p, v, sp, sz = self.parts(i)
        mult = np.where(
            self.p_service[p],
            np.array([x[1] for x in P.SERVICE_VARIANTS])[v],
            np.array([x[1] for x in P.VARIANTS])[v],
        )
        eur = self.p_price[p] * mult * (1 + (sp % 5) * 0.03) * (1 + sz * 0.1)
        return np.maximum(np.round(eur * 20) * 5, 5).astype(np.int64)

    def cost(self, i: np.ndarray) -> np.ndarray:
        return np.round(self.price(i) * (0.45 + 0.3 * runi(self.s("cost"), i))).astype(np.int64)

    def descriptions(self, i: np.ndarray) -> np.ndarray:
        p, v, sp, sz = (x.tolist() for x in self.parts(i))
        out = []
        for a, b, c, d in zip(p, v, sp, sz, strict=True):
            prod = self.products[a]
            if prod[5]:
                words = (prod[0], P.SERVICE_VARIANTS[b][0], P.SERVICE_SPECS[c], P.SERVICE_SIZES[d])
            else:
                words = (prod[0], P.VARIANTS[b][0], P.SPECS[c], P.GOODS_SIZES[d])
            out.append(" ".join(w for w in words if w))
        return pool(out)

    def barcodes(self, i: np.ndarray) -> np.ndarray:
        body = 871_000_000_000 + rint(self.s("ean"), i, 10**9)
        digits = [(body // 10**k) % 10 for k in range(12)]  # digits[0] is the last of the 12
        check = (10 - sum(d * (3 if k % 2 == 0 else 1) for k, d in enumerate(digits)) % 10) % 10
        codes = body * 10 + check
        return take(pool(str(x) for x in codes.tolist()), np.where(self.service(i), -1, np.arange(len(i))))

    def created_day(self, i: np.ndarray) -> np.ndarray:
        cal = self.div.cal
        old = cal.start_day - 10 - rint(self.s("created"), i, 1500)
        return np.where(i < self.base, old, cal.ref_day - rint(self.s("new"), i, 28))

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "Stock": rng.integers(0, 400, len(idx)).astype(np.float64),
            "Notes": pool(
                rng.choice(["Levertijd 2 weken", "Op voorraad", "Nieuwe leverancier"], len(idx)).tolist()
            ),
        }


# ------------------------------------------------------------------------------------------- projects


class Projects(Table):
    entity = "project/Projects"

    def __init__(self, div: DivisionData, count: int, accounts: Accounts) -> None:
        super().__init__(div)
        self.n = self.base = count
        self.accounts = accounts
        s, c, A = self.s, self.cols, "crm/Accounts"
        types = pool(t[1] for t in P.PROJECT_TYPES)
        c["Code"] = lambda i: pool(
            f"P{y % 100:02d}{x + 1:04d}"
            for y, x in zip(year_month(self.start_day(i))[0].tolist(), i.tolist(), strict=True)
        )
        c["Description"] = lambda i: self.memo("desc", self.descriptions, i)
        c["Account"] = lambda i: fk(accounts.salt, self.account(i))
        c["AccountCode"] = lambda i: div.lookup(A, "Code", self.account(i))
        c["AccountName"] = lambda i: div.lookup(A, "Name", self.account(i))
        c["AccountContact"] = lambda i: fk(
            div.key_salt("crm/Contacts"), accounts.main_contact(self.account(i))
        )
        c["Type"] = lambda i: np.array([t[0] for t in P.PROJECT_TYPES])[self.type(i)]
        c["TypeDescription"] = lambda i: np.take(types, self.type(i))
        c["Manager"] = lambda i: take(div.world.user_guids, div.user_of(s("manager"), i))
        c["ManagerFullname"] = lambda i: take(div.world.user_full_names, div.user_of(s("manager"), i))
        c["StartDate"] = lambda i: day_ms(self.start_day(i))
        c["EndDate"] = lambda i: np.where(
            runi(s("ended"), i) < 0.4,
            day_ms(np.minimum(self.start_day(i) + 30 + rint(s("end"), i, 400), div.cal.ref_day)),
            NULL_DATE,
        )
        c["BudgetedAmount"] = c["BudgetedRevenue"] = lambda i: self.budget(i) / 100
        c["BudgetedCosts"] = lambda i: np.round(self.budget(i) * 0.65) / 100
        c["DivisionName"] = lambda i: const(div.description, len(i))
        c["Notes"] = c["InternalNotes"] = lambda i: nulls(len(i))
        for flag in (
            "BlockEntry",
            "BlockInvoicing",
            "BlockPlanning",
            "BlockPurchasing",
            "BlockRebilling",
            "AllowAdditionalInvoicing",
            "AllowMemberEntryOnly",
            "InvoiceAsQuoted",
            "UseBillingMilestones",
            "HasWBSLines",
            "EnableWorkInProgress",
            "IncludeSpecificationInInvoicePdf",
        ):
            c[flag] = lambda i: np.zeros(len(i), dtype=bool)
        self.audit(
            lambda i: np.maximum(self.start_day(i) - rint(s("created"), i, 20), div.cal.start_day - 400)
        )

    def account(self, i: np.ndarray) -> np.ndarray:
        cust = self.accounts.customers
        return cust[rint(self.s("account"), i, len(cust))]

    def type(self, i: np.ndarray) -> np.ndarray:
        return weighted(self.s("type"), i, np.array([3.0, 5.0, 1.0, 1.0]))

    def start_day(self, i: np.ndarray) -> np.ndarray:
        cal = self.div.cal
        old = cal.start_day - 200 + rint(self.s("start"), i, cal.ref_day - 30 - cal.start_day + 200)
        return np.where(i < self.base, old, cal.ref_day - rint(self.s("new"), i, 28))

    def budget(self, i: np.ndarray) -> np.ndarray:
        return (5 + rint(self.s("budget"), i, 400)) * 25_000

    def descriptions(self, i: np.ndarray) -> np.ndarray:
        names = self.div.lookup("crm/Accounts", "Name", self.account(i)).tolist()
        words = rint(self.s("word"), i, len(P.PROJECT_WORDS)).tolist()
        out = []
        for w, name in zip(words, names, strict=True):
            short = name.replace(" Holding B.V.", "").replace(" B.V.", "").replace(" V.O.F.", "")
            out.append(f"{P.PROJECT_WORDS[w]} {short}")
        return pool(out)

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        budget = (5 + rng.integers(0, 400, len(idx))) * 250.0
        return {
            "BudgetedAmount": budget,
            "BudgetedRevenue": budget,
            "Notes": pool(
                rng.choice(["Budget herzien", "Planning aangepast", "Fase 2 gestart"], len(idx)).tolist()
            ),
        }

"""Values of the columns of a generic entity, chosen by Edm type and Exact's usual column names.

Each maker returns a column function (row indexes → values in the conventions of ``values.py``), or None
for a column that is always null (notes, free fields, unknown guids, pictures). Dates hang off the row's
anchor day (see ``datagen_generic``); amounts of a row agree (quantity × unit price = amount, VAT 21%).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from exactsql.sandbox import datagen_names as N
from exactsql.sandbox.datagen_base import (
    MS_PER_DAY,
    Column,
    const,
    day_ms,
    moment_ms,
    pool,
    rint,
    runi,
    slug,
    take,
    year_month,
)
from exactsql.sandbox.datagen_master import city_of, company_names, mobiles, phones, postcodes
from exactsql.sandbox.values import NULL_DATE

if TYPE_CHECKING:
    from exactsql.sandbox.datagen_generic import GenericTable

_INTS = ("Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte")
_SAME_DAY = {
    "Date", "EntryDate", "InvoiceDate", "OrderDate", "DocumentDate", "TransactionDate", "QuotationDate",
    "ReceiptDate", "StartDate", "ValidFrom", "From", "FromDate", "ActionDate", "AssemblyDate",
    "TransferDate", "PickedDate", "ReturnDate", "StockCountDate", "VersionDate", "SubscriptionDate",
    "CreatedDate", "syscreated", "InvestmentDate", "SignatureDate", "ContractStartDate", "ItemStartDate",
    "IdentificationDate", "InvoicingStartDate", "PlannedStartDate", "SubscriptionStartDate",
    "StartDateOrganization", "ExecutionFromDate", "DepreciatedStartDate", "EstablishedDate", "CustomerSince",
}  # fmt: skip
_LATER = {
    "DueDate", "TransactionDueDate", "DeliveryDate", "PlannedDate", "PlannedDeliveryDate",
    "PlannedReceiptDate", "DiscountDueDate", "CloseDate", "ExpectedEndDate", "PlannedEndDate",
    "PickedOrderDeliveryDate", "ProjectInvoiceDate", "ReleaseInvoiceTermDate", "NextAction",
    "ProbationEndDate", "ContractProbationEndDate", "ExecutionToDate", "NextCountingCycle",
}  # fmt: skip
_ENDS = {"EndDate", "ValidTo", "To", "ToDate", "ArchiveDate", "ContractEndDate", "ItemEndDate", "ExpiryDate"}
_RECENT = {
    "LastLogin",
    "DateLastUsed",
    "LastUpdated",
    "NotesModified",
    "ModifiedDate",
    "sysmodified",
    "StatusSince",
}
_YEARS = {"Year", "FinancialYear", "ReportingYear", "FinYear", "PayrollYear", "CurrentYear", "FromYear"}
_PERIODS = {"Period", "FinancialPeriod", "ReportingPeriod", "FinPeriod", "PayrollPeriod", "CurrentPeriod"}
_STATUS = {10: "Concept", 20: "Open", 30: "In behandeling", 50: "Verwerkt"}
_BANKS = (
    ("RABO", "RABONL2U", "Rabobank"),
    ("INGB", "INGBNL2A", "ING Bank"),
    ("ABNA", "ABNANL2A", "ABN AMRO"),
)
_FIRST = pool(N.FIRST_NAMES_M + N.FIRST_NAMES_F)
_CITY = pool(c[0] for c in N.CITIES)


def make_column(t: GenericTable, name: str, edm: str) -> Column | None:
    """The column function of ``name`` in generic entity ``t``, or None for an always-null column."""
    maker = {
        "Edm.DateTime": _date,
        "Edm.Double": _double,
        "Edm.Boolean": _boolean,
        "Edm.String": _string,
        "Edm.Guid": _guid,
    }.get(edm)
    if maker is not None:
        return maker(t, name)
    if edm in _INTS:
        return _integer(t, name, edm)
    return None


# ------------------------------------------------------------------------------------------- dates


def _date(t: GenericTable, name: str) -> Column | None:
    cal, s = t.div.cal, t.s(name)

    def clamp(days: np.ndarray) -> np.ndarray:
        return np.minimum(days, cal.ref_day)

    if name in _SAME_DAY or name.endswith("StartDate"):
        return lambda i: day_ms(t.anchor(i))
    if name in _LATER or name.startswith("Planned"):
        return lambda i: day_ms(t.anchor(i) + 7 + rint(s, i, 38))
    if name in _ENDS or name.endswith("EndDate"):
        ends = lambda i: t.anchor(i) + 30 + rint(s, i, 700)  # noqa: E731
        return lambda i: np.where(runi(s + 1, i) < 0.25, day_ms(ends(i)), NULL_DATE)
    if name in _RECENT:
        return lambda i: moment_ms(s, i, clamp(np.maximum(t.anchor(i), cal.ref_day - rint(s + 1, i, 30))))
    if name == "BirthDate":
        return lambda i: (-3650 + rint(s, i, 40 * 365)) * MS_PER_DAY
    if name in ("StartTime", "EndTime"):
        hours = 8 if name == "StartTime" else 16
        return lambda i: t.anchor(i) * MS_PER_DAY + hours * 3_600_000
    return lambda i: moment_ms(s, i, clamp(t.anchor(i) + rint(s + 1, i, 3)))


# ------------------------------------------------------------------------------------------- numbers


def _integer(t: GenericTable, name: str, edm: str) -> Column | None:
    s = t.s(name)
    if name in ("ForDivision", "InternalSolutionDivision", "AccountingDivision", "CurrentDivision"):
        return lambda i: np.full(len(i), t.div.code, dtype=np.int64)
    if name in _YEARS or name.endswith(("ReportingYear", "FinancialYear")):
        return lambda i: year_month(t.anchor(i))[0]
    if name in ("PreviousYear", "EndYear", "ToYear"):
        shift = -1 if name == "PreviousYear" else 1
        return lambda i: year_month(t.anchor(i))[0] + shift
    if name in _PERIODS or name.endswith(("ReportingPeriod", "FinancialPeriod")) or name == "EndPeriod":
        return lambda i: year_month(t.anchor(i))[1]
    if name == "WeekNumber":
        return lambda i: (t.anchor(i) - _new_year(t.anchor(i))) // 7 + 1
    if name in ("LineNumber", "SequenceNumber", "SequenceNr", "PickSequence"):
        return t.line_number
    if name in ("ID", "Id", "Code") or (name.endswith(("HID", "Hid", "Number")) and edm != "Edm.Byte"):
        return lambda i: i + 1
    if name.endswith(("Count", "Counts")) or name.startswith("NumberOf"):
        return lambda i: rint(s, i, 12)
    if name.endswith(("Days", "LeadTime", "Weeks", "Months")):
        return lambda i: rint(s, i, 6) * 7
    if edm == "Edm.Byte" or name.startswith(("Is", "Has", "Use", "Allow", "Block", "Show", "Create")):
        share = 0.9 if name in ("Active", "Main", "IsActive") else 0.15
        return lambda i: (runi(s, i) < share).astype(np.int64)
    if name.endswith("Status"):
        codes = np.array(list(_STATUS), dtype=np.int64)
        return lambda i: codes[rint(s, i, len(codes))]
    k = 2 + rint(s, np.zeros(1, np.int64), 5)[0]  # a small enumeration of 2-6 values per column
    return lambda i: 1 + rint(s + 1, i, int(k))


def _new_year(days: np.ndarray) -> np.ndarray:
    """The day number of 1 January of the year of each day."""
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


def _money(s: int, i: np.ndarray, median: float = 250.0) -> np.ndarray:
    return np.round(median * np.exp((runi(s, i) - 0.5) * 3.0), 2)


def _double(t: GenericTable, name: str) -> Column | None:
    s = t.s(name)
    low = name.lower()
    if name in ("Latitude", "Longitude"):
        base = 52.1 if name == "Latitude" else 5.3
        return lambda i: np.round(base + (runi(s, i) - 0.5) * 2.0, 6)
    if "discount" in low:
        return lambda i: np.zeros(len(i))
    if "percentage" in low or "percent" in low or low in ("probability", "margin"):
        if "vat" in low:
            return lambda i: np.where(runi(s, i) < 0.8, 0.21, 0.09)
        return lambda i: np.round(rint(s, i, 21) * 0.05, 2)
    if low in ("exchangerate", "ratefc", "rate", "amountprecision", "priceprecision", "factor"):
        return lambda i: np.ones(len(i))
    if "hours" in low:
        return lambda i: rint(s, i, 33) * 0.25
    if "quantity" in low or low.endswith("stock") or low.startswith("stock"):
        return lambda i: t.quantity(i)
    if "price" in low:
        if "cost" in low or "purchase" in low:
            return lambda i: np.round(t.price(i) * 0.6, 2)
        return lambda i: t.price(i)
    if "amount" in low:
        if "vat" in low and "excl" not in low:
            share = 1.21 if "incl" in low else 0.21
            return lambda i: np.round(t.amount(i) * share, 2)
        return t.amount
    return lambda i: _money(s, i)


def _boolean(t: GenericTable, name: str) -> Column | None:
    s = t.s(name)
    share = 0.9 if name in ("Active", "IsActive", "Main", "IsValid") else 0.05 if "lock" in name else 0.2
    return lambda i: runi(s, i) < share


# ------------------------------------------------------------------------------------------- strings


def _guid(t: GenericTable, name: str) -> Column | None:
    if name in ("ID", "Id") or name == t.key:
        return t.ids if name == t.key else lambda i: t.own_guids(name, i)
    return None


def _string(t: GenericTable, name: str) -> Column | None:
    s = t.s(name)
    low = name.lower()
    if name == "Code" or name == "SearchCode":
        return t.codes
    if name in ("Description", "Subject") or (name == "Name" and not t.person):
        return t.descriptions
    if name in ("DivisionDescription", "DivisionName"):
        return lambda i: const(t.div.description, len(i))
    person = _person(t, name)
    if person is not None:
        return person
    contact = _contact(t, name, s)
    if contact is not None:
        return contact
    if name.endswith("Description"):
        base = name[: -len("Description")]
        column = t.catalog.column(base) if base else None
        codes = _integer(t, base, column.edm) if column is not None and column.edm in _INTS else None
        if codes is not None:
            return lambda i: pool(_text(base, v) for v in codes(i).tolist())
        return None
    if name in ("BalanceSide",):
        return lambda i: np.take(pool(["D", "C"]), rint(s, i, 2))
    if name in ("BalanceType",):
        return lambda i: np.take(pool(["B", "W"]), rint(s, i, 2))
    if low == "yourref":
        return lambda i: take(pool(f"PO-{x}" for x in (10000 + rint(s, i, 90000)).tolist()), _some(s, i, 0.3))
    if low.endswith("iban") or low == "bankaccountnumber" or low.endswith("bankaccount"):
        return lambda i: pool(
            f"NL{10 + x % 89:02d}{_BANKS[x % 3][0]}0{x:09d}" for x in rint(s, i, 10**9).tolist()
        )
    if low.endswith(("biccode", "bic")):
        return lambda i: np.take(pool(b[1] for b in _BANKS), rint(s, i, 3))
    if low == "bankname":
        return lambda i: np.take(pool(b[2] for b in _BANKS), rint(s, i, 3))
    if low.endswith("vatnumber"):
        return lambda i: pool(f"NL{x:09d}B01" for x in rint(s, i, 10**9).tolist())
    if low.startswith("chamberofcommerce"):
        return lambda i: pool(f"{x:08d}" for x in (10**7 + rint(s, i, 9 * 10**7)).tolist())
    if low in ("serialnumber", "batchnumber", "trackingnumber", "paymentreference"):
        prefix = {"serialnumber": "SN", "batchnumber": "B", "trackingnumber": "3S"}.get(low, "")
        return lambda i: pool(f"{prefix}{x:010d}" for x in rint(s, i, 10**10).tolist())
    if low in ("language", "nationality", "legislation"):
        return lambda i: const("NL", len(i))
    if low in ("country", "countrycode", "accountcountry", "bankaccountcountry"):
        return lambda i: const("NL", len(i))
    if low in ("countryname", "countrydescription"):
        return lambda i: const("Nederland", len(i))
    if low in ("type", "unittype", "timeunit"):
        return lambda i: np.take(pool(["A", "B", "C"]), rint(s, i, 3))
    return None  # notes, free fields, file names, messages …: null


def _some(salt: int, i: np.ndarray, share: float) -> np.ndarray:
    """Positions ``0..len(i)-1`` for a share of the rows, -1 for the others (for ``take``)."""
    return np.where(runi(salt, i) < share, np.arange(len(i)), -1)


def _text(column: str, value: int | None) -> str | None:
    """The description of an enumerated code (``Status`` 20 → "Open")."""
    if value is None:
        return None
    if column.endswith("Status") and value in _STATUS:
        return _STATUS[value]
    return f"{column} {value}"


def _person(t: GenericTable, name: str) -> Column | None:
    """Names of the people of person entities (employees, ...): one person per row."""
    if not t.person:
        return None
    s = t.salt_of("person")
    female = lambda i: runi(s, i) < 0.45  # noqa: E731
    first = lambda i: np.take(_FIRST, np.where(female(i), len(N.FIRST_NAMES_M), 0) + rint(s + 1, i, 40))  # noqa: E731
    surname = lambda i: rint(s + 2, i, len(N.SURNAMES))  # noqa: E731

    def full(i: np.ndarray) -> np.ndarray:
        return pool(
            f"{f} {N.SURNAMES[k][0]} {N.SURNAMES[k][1]}".replace("  ", " ")
            for f, k in zip(first(i).tolist(), surname(i).tolist(), strict=True)
        )

    makers: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "FirstName": first,
        "NickName": first,
        "LastName": lambda i: pool(N.SURNAMES[k][1] for k in surname(i).tolist()),
        "MiddleName": lambda i: pool(N.SURNAMES[k][0] or None for k in surname(i).tolist()),
        "Initials": lambda i: pool(f[0] + "." for f in first(i).tolist()),
        "FullName": full,
        "Name": full,
        "Gender": lambda i: np.take(pool(["M", "V"]), female(i).astype(np.int64)),
        "Title": lambda i: np.take(pool(["DHR", "MEVR"]), female(i).astype(np.int64)),
    }
    if name in makers:
        return makers[name]
    if name.endswith(("Email", "EMail")):
        return lambda i: pool(
            f"{slug(f)}.{slug(N.SURNAMES[k][0] + N.SURNAMES[k][1])}@{slug(t.div.description)}.nl"
            for f, k in zip(first(i).tolist(), surname(i).tolist(), strict=True)
        )
    return None


def _contact(t: GenericTable, name: str, s: int) -> Column | None:
    """Addresses, phones, e-mail and web addresses."""
    low = name.lower()
    city = lambda i: city_of(t.salt_of("city"), i)  # noqa: E731
    if low in ("addressline1", "addressstreet", "street"):
        return lambda i: pool(
            f"{N.STREETS[a]} {b}"
            for a, b in zip(
                rint(s, i, len(N.STREETS)).tolist(), (1 + rint(s + 1, i, 180)).tolist(), strict=True
            )
        )
    if low == "addressstreetnumber":
        return lambda i: pool(str(x) for x in (1 + rint(s, i, 180)).tolist())
    if low.endswith("postcode"):
        return lambda i: postcodes(s, i, city(i))
    if low in ("city", "birthplace", "municipality", "locationdescription"):
        return lambda i: np.take(_CITY, city(i))
    if low.endswith(("phone", "fax")):
        return lambda i: phones(s, i, city(i))
    if low.endswith("mobile"):
        return lambda i: mobiles(s, i)
    if low.endswith(("email", "emailaddress")):
        return lambda i: pool(f"{slug(x)}@{slug(t.div.description)}.nl" for x in t.descriptions(i).tolist())
    if low == "website":
        return lambda i: pool(f"www.{slug(x)}.nl" for x in company_names(s, i).tolist())
    return None

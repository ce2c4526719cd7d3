"""The booking templates of the books: journals, the cost accounts of suppliers, and the kinds of bank, cash
and memorial entries (salaries, depreciation, VAT returns …) with the entries that follow them."""

from __future__ import annotations

from typing import NamedTuple

# Journals: code -> (code, description).
JOURNALS: dict[int, tuple[str, str]] = {
    10: ("10", "Kas"),
    20: ("20", "Bank"),
    60: ("60", "Inkoopboek"),
    70: ("70", "Verkoopboek"),
    90: ("90", "Memoriaal"),
}

# Cost accounts of suppliers and of small payments: (GL code, weight).
SUPPLIER_COSTS: tuple[tuple[str, int], ...] = (
    ("7000", 30),
    ("7200", 6),
    ("4100", 3),
    ("4110", 3),
    ("4200", 4),
    ("4210", 3),
    ("4300", 4),
    ("4310", 3),
    ("4330", 4),
    ("4340", 2),
    ("4400", 3),
    ("4410", 2),
    ("4420", 2),
    ("4500", 2),
    ("4510", 2),
    ("4700", 3),
    ("4800", 3),
    ("4040", 1),
    ("4130", 2),
    ("4120", 2),
)


class Template(NamedTuple):
    """A kind of bank, cash or memorial entry.

    ``lines`` are (GL code, or "*" for a cost account; coefficients over the variables); every column of
    coefficients sums to 0, so each entry balances. A variable is (low, high, of): with ``of`` -1 an amount
    in euro in [low, high] (log-uniform), with -2 that many months of the division's average revenue, with -3
    that many average invoices (log-uniform), with ``of`` >= 0 a fraction in [low, high] of variable ``of``. ``followers`` are entries booked ``days``
    later for an amount of (coefficients . variables) times a factor in [low, high], e.g. the payment of
    net salaries after the salary journal; ``back`` is how many days before its date the period named in
    a follower's description lies.
    """

    journal: int
    type: int
    description: str
    lines: tuple[tuple[str, tuple[float, ...]], ...]
    variables: tuple[tuple[float, float, int], ...] = ((1.0, 1.0, -1),)
    weight: int = 0  # relative frequency among the entries that fill the line budget
    monthly: int = -1  # day of the month it is booked every month (0: the last day), -1: not monthly
    followers: tuple[tuple[int, int, tuple[float, ...], float, float], ...] = ()
    back: int = 0


(
    T_BANK_COSTS,
    T_INTEREST,
    T_NET_SALARIES,
    T_PAYROLL_TAX,
    T_PENSION,
    T_SAVINGS,
    T_CASH_WITHDRAWAL,
    T_CARD,
    T_LOAN,
    T_INSURANCE,
    T_SALARIES,
    T_DEPRECIATION,
    T_DEPRECIATION_IT,
    T_HOLIDAY_PAY,
    T_ACCRUAL,
    T_ACCRUAL_PAYMENT,
    T_CORRECTION,
    T_CASH_EXPENSE,
    T_OPENING,
    T_VAT_RETURN,
    T_VAT_PAYMENT,
) = range(21)

TEMPLATES: tuple[Template, ...] = (
    Template(
        20,
        40,
        "Bankkosten {m} {y}",
        (("1100", (-1,)), ("4530", (1,))),
        ((4.5, 85.0, -1),),
        weight=3,
        monthly=0,
    ),
    Template(
        20,
        40,
        "Rente spaarrekening {m} {y}",
        (("1110", (1,)), ("9000", (-1,))),
        ((1.0, 240.0, -1),),
        weight=1,
    ),
    Template(20, 40, "Nettolonen {m} {y}", (("1100", (-1,)), ("1710", (1,)))),
    Template(20, 40, "Afdracht loonheffing {m} {y}", (("1100", (-1,)), ("1700", (1,))), back=30),
    Template(20, 40, "Pensioenpremie {m} {y}", (("1100", (-1,)), ("1720", (1,))), back=20),
    Template(
        20, 40, "Overboeking spaarrekening", (("1100", (-1,)), ("1110", (1,))), ((0.3, 3.0, -3),), weight=1
    ),
    Template(
        20,
        40,
        "Kasopname",
        (("1100", (-1,)), ("1000", (1,))),
        ((0.05, 0.5, -3),),
        weight=3,
        followers=((T_CASH_EXPENSE, 3, (1.0,), 0.3, 0.9),),
    ),
    Template(20, 40, "Pinbetaling {m} {y}", (("1100", (-1,)), ("*", (1,))), ((0.01, 0.4, -3),), weight=14),
    Template(
        20,
        40,
        "Aflossing lening {m} {y}",
        (("1100", (-1, -1)), ("0810", (1, 0)), ("9010", (0, 1))),
        ((0.01, 0.03, -2), (0.01, 0.08, 0)),
        weight=1,
        monthly=1,
    ),
    Template(
        20,
        40,
        "Verzekeringspremie {m} {y}",
        (("1100", (-1, -1)), ("4520", (1, 0)), ("4220", (0, 1))),
        ((0.004, 0.008, -2), (0.002, 0.005, -2)),
        weight=1,
        monthly=1,
    ),
    Template(
        90,
        90,
        "Loonjournaal {m} {y}",
        (
            ("4000", (1, 0, 0, 0)),
            ("4010", (0, 1, 0, 0)),
            ("4020", (0, 0, 1, 0)),
            ("1700", (0, -1, 0, -1)),
            ("1720", (0, 0, -1, 0)),
            ("1710", (-1, 0, 0, 1)),
        ),
        ((0.22, 0.3, -2), (0.12, 0.2, 0), (0.05, 0.1, 0), (0.2, 0.35, 0)),
        weight=2,
        monthly=25,
        followers=(
            (T_NET_SALARIES, 2, (1, 0, 0, -1), 1.0, 1.0),
            (T_PAYROLL_TAX, 30, (0, 1, 0, 1), 1.0, 1.0),
            (T_PENSION, 20, (0, 0, 1, 0), 1.0, 1.0),
        ),
    ),
    Template(
        90,
        90,
        "Afschrijvingen {m} {y}",
        (
            ("4620", (1, 0)),
            ("0310", (-1, 0)),
            ("4630", (0, 1)),
            ("0410", (0, -1)),
        ),
        ((0.003, 0.006, -2), (0.005, 0.01, -2)),
        weight=1,
        monthly=0,
    ),
    Template(
        90,
        90,
        "Afschrijving computers {m} {y}",
        (("4640", (1,)), ("0510", (-1,))),
        ((0.002, 0.004, -2),),
        weight=1,
        monthly=0,
    ),
    Template(
        90,
        90,
        "Reservering vakantiegeld {m} {y}",
        (("4000", (1,)), ("1730", (-1,))),
        ((0.018, 0.024, -2),),
        weight=1,
        monthly=0,
    ),
    Template(
        90,
        90,
        "Nog te betalen kosten {m} {y}",
        (("*", (1,)), ("1800", (-1,))),
        ((0.05, 1.0, -3),),
        weight=3,
        followers=((T_ACCRUAL_PAYMENT, 35, (1.0,), 1.0, 1.0),),
    ),
    Template(20, 40, "Betaling nog te betalen kosten {m} {y}", (("1100", (-1,)), ("1800", (1,))), back=35),
    Template(90, 90, "Correctie kostenrekening", (("*", (1,)), ("*", (-1,))), ((0.01, 0.5, -3),), weight=2),
    Template(10, 40, "Kasuitgave {m} {y}", (("1000", (-1,)), ("*", (1,)))),
    Template(
        90,
        10,
        "Beginbalans {y}",
        (
            ("0300", (1, 0, 0, 0, 0, 0, 0)),
            ("0310", (0, -1, 0, 0, 0, 0, 0)),
            ("0400", (0, 0, 1, 0, 0, 0, 0)),
            ("0410", (0, 0, 0, -1, 0, 0, 0)),
            ("1100", (0, 0, 0, 0, 1, 0, 0)),
            ("0700", (0, 0, 0, 0, 0, -1, 0)),
            ("0800", (0, 0, 0, 0, 0, 0, -1)),
            ("0710", (-1, 1, -1, 1, -1, 1, 1)),
        ),
        (
            (1.0, 3.0, -2),
            (0.2, 0.5, 0),
            (0.5, 2.0, -2),
            (0.2, 0.5, 2),
            (1.5, 2.5, -2),
            (0.05, 0.1, -2),
            (0.5, 1.5, -2),
        ),
    ),
    Template(
        90,
        50,
        "Btw-aangifte {q}e kwartaal {y}",
        (
            ("1500", (1, 0, 0)),
            ("1510", (0, 1, 0)),
            ("1520", (0, 0, -1)),
            ("1530", (-1, -1, 1)),
        ),
        ((0.0, 0.0, -1), (0.0, 0.0, -1), (0.0, 0.0, -1)),
        followers=((T_VAT_PAYMENT, 30, (1, 1, -1), 1.0, 1.0),),
    ),
    Template(20, 40, "Betaling btw {q}e kwartaal {y}", (("1100", (-1,)), ("1530", (1,))), back=30),
)

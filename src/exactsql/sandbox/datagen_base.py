"""Shared helpers of the sandbox data generator: per-row hashing, dates, pools and the table base class."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from exactsql.sandbox.values import NULL_DATE, guids_for, salt_for

if TYPE_CHECKING:
    from exactsql.sandbox.datagen import DivisionData

MS_PER_DAY = 86_400_000
_EPOCH = dt.date(1970, 1, 1)
YEARS = 3
"""Financial years the books cover: the current one and the two before it."""


def day_number(date: dt.date) -> int:
    """Days since 1970-01-01."""
    return (date - _EPOCH).days


@dataclass(frozen=True)
class Calendar:
    """The "today" of generated data and the span of the books: 1 January two years back up to today."""

    today: dt.date

    @property
    def ref_day(self) -> int:
        """Today as a day number: no booking, creation or change is dated later."""
        return day_number(self.today)

    @property
    def first_year(self) -> int:
        return self.today.year - YEARS + 1

    @property
    def start_day(self) -> int:
        """1 January of the first financial year: the opening balance."""
        return day_number(dt.date(self.first_year, 1, 1))

    @property
    def n_months(self) -> int:
        """Months from the first financial year's January up to this month, both included."""
        return (self.today.year - self.first_year) * 12 + self.today.month


_M64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)

Column = Callable[[np.ndarray], np.ndarray]


def rnd(salt: int, idx: np.ndarray) -> np.ndarray:
    """A pseudo-random uint64 per index (splitmix64 of index and salt): a pure function of both."""
    x = idx.astype(np.uint64) * _GOLDEN + np.uint64(salt & _M64)
    x = (x ^ (x >> np.uint64(30))) * _C1
    x = (x ^ (x >> np.uint64(27))) * _C2
    return x ^ (x >> np.uint64(31))


def rint(salt: int, idx: np.ndarray, n: int) -> np.ndarray:
    """A pseudo-random int64 in ``[0, n)`` per index."""
    return (rnd(salt, idx) % np.uint64(max(n, 1))).astype(np.int64)


def runi(salt: int, idx: np.ndarray) -> np.ndarray:
    """A pseudo-random float in ``[0, 1)`` per index."""
    return (rnd(salt, idx) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def weighted(salt: int, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """A pseudo-random choice in ``[0, len(weights))`` per index, with the given relative weights."""
    cum = np.cumsum(weights, dtype=np.float64)
    return np.searchsorted(cum / cum[-1], runi(salt, idx), side="right").astype(np.int64)


def pool(items: object) -> np.ndarray:
    """An object array of the items (strings, ints, ``None``), for ``np.take``."""
    seq = list(items)  # type: ignore[call-overload]
    out = np.empty(len(seq), dtype=object)
    out[:] = seq
    return out


def take(items: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``items[codes]`` with ``None`` where a code is negative (items is an object pool)."""
    if codes.size and codes.min() < 0:
        out = np.take(items, np.where(codes < 0, 0, codes))
        out[codes < 0] = None
        return out
    return np.take(items, codes)


def nulls(n: int) -> np.ndarray:
    return np.full(n, None, dtype=object)


def const(value: object, n: int) -> np.ndarray:
    """An object array with ``value`` ``n`` times (one shared Python object)."""
    out = np.empty(n, dtype=object)
    out[:] = [value] * n if n else []
    return out


def obj_ints(values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """A nullable integer column: an object array of ``int`` (shared objects), ``None`` where not valid."""
    out = nulls(len(values))
    if valid is None:
        valid = np.ones(len(values), dtype=bool)
    if valid.any():
        uniq, inv = np.unique(values[valid], return_inverse=True)
        out[valid] = pool(uniq.tolist())[inv]
    return out


def fk(salt: int, target: np.ndarray) -> np.ndarray:
    """Guids of the target rows (``None`` for -1); repeated targets share one string object."""
    if target.size == 0:
        return nulls(0)
    uniq, inv = np.unique(target, return_inverse=True)
    guids = nulls(len(uniq))
    ok = uniq >= 0
    guids[ok] = guids_for(salt, uniq[ok])
    return guids[inv]


def day_ms(days: np.ndarray) -> np.ndarray:
    """Midnight (CET wall-clock) of day numbers, in ms; day -1 and below give ``NULL_DATE``."""
    d = days.astype(np.int64)
    return np.where(d >= 0, d * MS_PER_DAY, NULL_DATE)


def moment_ms(salt: int, idx: np.ndarray, days: np.ndarray) -> np.ndarray:
    """A working-hours moment (08:00-18:00) on each day, in ms."""
    return days.astype(np.int64) * MS_PER_DAY + 8 * 3_600_000 + rint(salt, idx, 36_000_000)


def year_month(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar year and month (1-12) of day numbers."""
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months // 12 + 1970, months % 12 + 1


def weekday_shift(days: np.ndarray, last: int) -> np.ndarray:
    """Moves Saturdays to Friday and Sundays to Monday (or Friday when Monday is after ``last``)."""
    wd = (days + 3) % 7  # 0 = Monday
    out = np.where(wd == 5, days - 1, np.where(wd == 6, days + 1, days))
    return np.where(out > last, out - 3, out)


def cumcount(keys: np.ndarray) -> np.ndarray:
    """0-based rank of each element among the earlier elements with the same key."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    starts = np.r_[True, sk[1:] != sk[:-1]] if len(sk) else np.zeros(0, dtype=bool)
    first = np.maximum.accumulate(np.where(starts, np.arange(len(sk)), 0))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.arange(len(sk)) - first
    return out


_SLUG_DROP = (" b.v.", " v.o.f.", " holding")


def slug(name: str) -> str:
    """``"Bakkerij De Vries B.V."`` -> ``"bakkerijdevries"`` (for e-mail and web addresses)."""
    text = name.lower().replace("&", "en")
    for drop in _SLUG_DROP:
        text = text.replace(drop, "")
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum())


def person_slug(first: str, prefix: str, last: str) -> str:
    return slug(first) + "." + slug(prefix + last)


class Table:
    """One entity of one division: row count, column functions and growth; values are pure per index."""

    entity = ""
    key = "ID"
    salt_entity = ""  # the entity whose random properties this table shares (default: its own)

    def __init__(self, div: DivisionData) -> None:
        self.div = div
        self.salt = div.base_salt(self.entity)
        self.n = 0
        self.cols: dict[str, Column] = {"ID": self.ids} if self.key == "ID" else {}
        self._salts: dict[str, int] = {}
        self._memo: dict[str, np.ndarray] = {}

    def s(self, name: str) -> int:
        """The salt of one random property of this table."""
        salt = self._salts.get(name)
        if salt is None:
            entity = self.salt_entity or self.entity
            salt = self._salts[name] = salt_for(self.div.seed, self.div.code, entity, name)
        return salt

    def memo(self, key: str, fn: Column, idx: np.ndarray) -> np.ndarray:
        """``fn(idx)``, from a lazily computed copy of the whole column of small tables (pure either way)."""
        cache = self._memo.get(key)
        if cache is None and self.count() <= 100_000:
            cache = self._memo[key] = fn(np.arange(self.count()))
        if cache is not None and (idx.size == 0 or int(idx.max()) < len(cache)):
            return np.take(cache, idx)
        return fn(idx)

    def ids(self, idx: np.ndarray) -> np.ndarray:
        return guids_for(self.salt, idx)

    def count(self) -> int:
        return self.n

    def extend(self, count: int) -> range:
        start = self.n
        self.n += max(int(count), 0)
        return range(start, self.n)

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {}

    def group_of(self, idx: np.ndarray) -> np.ndarray:
        return np.unique(idx)

    # Shared column makers.

    def audit(self, created_days: Callable[[np.ndarray], np.ndarray], last_day: int | None = None) -> None:
        """Created/Modified (Modified on or after Created) and Creator/Modifier columns from the users."""
        last = self.div.cal.ref_day if last_day is None else last_day

        def created(i: np.ndarray) -> np.ndarray:
            return moment_ms(self.s("created"), i, created_days(i))

        def modified(i: np.ndarray) -> np.ndarray:
            c = created(i)
            days = np.maximum(last - c // MS_PER_DAY, 0)
            later = np.where(runi(self.s("mod?"), i) < 0.35, rint(self.s("mod"), i, 1 << 30) % (days + 1), 0)
            return np.where(later > 0, moment_ms(self.s("modt"), i, c // MS_PER_DAY + later), c)

        def creator(i: np.ndarray) -> np.ndarray:
            return self.div.user_of(self.s("creator"), i, created_days(i))

        def modifier(i: np.ndarray) -> np.ndarray:
            later = runi(self.s("mod?"), i) < 0.35
            return np.where(later, self.div.user_of(self.s("modifier"), i, created_days(i)), creator(i))

        w = self.div.world
        self.cols.update(
            {
                "Created": created,
                "Modified": modified,
                "Creator": lambda i: take(w.user_guids, creator(i)),
                "CreatorFullName": lambda i: take(w.user_full_names, creator(i)),
                "Modifier": lambda i: take(w.user_guids, modifier(i)),
                "ModifierFullName": lambda i: take(w.user_full_names, modifier(i)),
            }
        )

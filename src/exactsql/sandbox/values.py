"""How the sandbox holds column values in memory, and deterministic, reversible row IDs.

Column arrays (one numpy array per column, one element per row) follow these conventions:

- ``Edm.String`` and ``Edm.Guid``: object arrays of ``str`` (guids lowercase, no braces) or ``None``.
- ``Edm.Int16/Int32/Int64/Byte``: ``int64`` arrays, or object arrays of ``int``/``None`` when nullable.
- ``Edm.Double``: ``float64`` arrays, ``NaN`` is null.
- ``Edm.Boolean``: ``bool`` arrays, or object arrays of ``bool``/``None`` when nullable.
- ``Edm.DateTime``: ``int64`` arrays of milliseconds since the epoch of the CET/CEST wall-clock time
  (the number inside ``/Date(ms)/``); ``NULL_DATE`` is null.
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np

NULL_DATE = np.iinfo(np.int64).min

_MASK64 = (1 << 64) - 1
_MULT = 0x9E3779B97F4A7C15  # odd, so multiplication mod 2**64 is a bijection
_MULT_INV = pow(_MULT, -1, 1 << 64)
_XOR = 0x5DEECE66D2B4A7F1


def _mix(value: int) -> int:
    return ((value ^ _XOR) * _MULT) & _MASK64


def _unmix(value: int) -> int:
    return ((value * _MULT_INV) & _MASK64) ^ _XOR


def salt_for(*parts: object) -> int:
    """A stable 64-bit salt for a (seed, division, entity, ...) tuple, independent of PYTHONHASHSEED."""
    text = "\x1f".join(str(p) for p in parts).encode()
    h = 0xCBF29CE484222325
    for byte in text:
        h = ((h ^ byte) * 0x100000001B3) & _MASK64
    return h


def guid_for(salt: int, index: int) -> str:
    """The guid of row ``index`` of the table with ``salt``; reversible with :func:`index_of`."""
    hi = salt & _MASK64
    lo = _mix(index)
    h = f"{hi:016x}{lo:016x}"
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:32]}"


def guids_for(salt: int, indexes: np.ndarray) -> np.ndarray:
    """Vectorised :func:`guid_for`: an object array of guid strings."""
    hi = f"{salt & _MASK64:016x}"
    prefix = f"{hi[0:8]}-{hi[8:12]}-4{hi[13:16]}-"
    lo = (indexes.astype(np.uint64) ^ np.uint64(_XOR)) * np.uint64(_MULT)
    text = lo.astype(">u8").tobytes().hex()
    out = np.empty(len(indexes), dtype=object)
    out[:] = [f"{prefix}{text[i : i + 4]}-{text[i + 4 : i + 16]}" for i in range(0, len(text), 16)]
    return out


def index_of(salt: int, guid: str) -> int | None:
    """The row index encoded in ``guid`` if it was made by :func:`guid_for` with ``salt``, else None."""
    h = guid.replace("-", "").lower()
    if len(h) != 32:
        return None
    expected = f"{salt & _MASK64:016x}"
    if h[:12] != expected[:12] or h[13:16] != expected[13:16]:
        return None
    return _unmix(int(h[16:], 16))


def cet_ms(moment: dt.datetime) -> int:
    """Milliseconds for ``/Date(ms)/``: the Europe/Amsterdam wall-clock time of ``moment`` read as UTC.

    A naive ``moment`` is taken to be wall-clock time already.
    """
    if moment.tzinfo is not None:
        from zoneinfo import ZoneInfo

        moment = moment.astimezone(ZoneInfo("Europe/Amsterdam")).replace(tzinfo=None)
    return calendar.timegm(moment.timetuple()) * 1000 + moment.microsecond // 1000


def date_text(ms: int) -> str | None:
    """The JSON form of a DateTime value: ``/Date(ms)/``, or None for ``NULL_DATE``."""
    return None if ms == NULL_DATE else f"/Date({ms})/"

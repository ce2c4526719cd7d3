"""Oracle format models in DuckDB: ``to_char(date, 'DD-MON-YYYY')``, ``to_char(number, 'FM999G990D00')`` and
``to_date(text, 'DD-MM-YYYY HH24:MI')``, compiled from a literal format into DuckDB expressions.

Names of months and days are English (Oracle's AMERICAN date language); a week starts on Monday (``D`` is
the ISO day of the week, as with Oracle's Dutch territory); ``D``/``G`` in number formats are ``.``/``,``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from exactsql.sql.dialect import SQLError

_HINT = "See the SQL section of the README for the supported format elements."


def fn(name: str, *args: exp.Expression | str | int) -> exp.Expression:
    """A DuckDB function call; ``str`` arguments are string literals, ``int`` ones numbers."""
    converted = [
        a
        if isinstance(a, exp.Expression)
        else exp.Literal.number(a)
        if isinstance(a, int)
        else exp.Literal.string(a)
        for a in args
    ]
    return exp.Anonymous(this=name, expressions=converted)


def _text(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, exp.DataType.build("varchar"))


def _concat(parts: list[exp.Expression]) -> exp.Expression:
    """``a || b || …`` (NULL when one part is NULL, as the date is the only part that can be)."""
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part)
    return result


# -- to_char(date, format) -------------------------------------------------------------------------------

# element -> (strftime pattern, or None when computed; zero-padded width of the computed number)
_DATE_ELEMENTS: dict[str, str | None] = {
    "YYYY": "%Y", "RRRR": "%Y", "IYYY": "%G", "YYY": None, "IYY": None, "YY": "%y", "RR": "%y", "IY": None,
    "Y": None, "Q": None, "MONTH": "%B", "MON": "%b", "MM": "%m", "WW": None, "IW": "%V", "W": None,
    "DDD": "%j", "DD": "%d", "DAY": "%A", "DY": "%a", "D": None, "HH24": "%H", "HH12": "%I", "HH": "%I",
    "MI": "%M", "SSSSS": None, "SS": "%S", "AM": "%p", "PM": "%p", "A.M.": None, "P.M.": None,
    **{f"FF{n}": None for n in range(1, 10)}, "FF": None,
}  # fmt: skip
_BY_LENGTH = sorted(_DATE_ELEMENTS, key=len, reverse=True)
_LITERAL_CHARS = set(" -/,.;:")
_NAMES = {"MONTH", "MON", "DAY", "DY", "AM", "PM", "A.M.", "P.M."}


@dataclass
class _Element:
    name: str
    written: str
    fill: bool  # FM: no padding


def _date_tokens(fmt: str) -> list[_Element | str]:
    """The elements and literal texts of an Oracle date format."""
    tokens: list[_Element | str] = []
    fill, i, upper = False, 0, fmt.upper()
    while i < len(fmt):
        if fmt[i] == '"':
            end = fmt.find('"', i + 1)
            if end < 0:
                raise SQLError(f"The format {fmt!r} has an unclosed quote.", _HINT)
            tokens.append(fmt[i + 1 : end])
            i = end + 1
            continue
        if upper.startswith(("FM", "FX"), i):
            fill = not fill if upper.startswith("FM", i) else fill
            i += 2
            continue
        name = next((e for e in _BY_LENGTH if upper.startswith(e, i)), None)
        if name is not None:
            tokens.append(_Element(name, fmt[i : i + len(name)], fill))
            i += len(name)
        elif fmt[i] in _LITERAL_CHARS:
            tokens.append(fmt[i])
            i += 1
        else:
            word = re.match(r"[A-Za-z0-9]+", fmt[i:])
            shown = word.group(0) if word else fmt[i]
            raise SQLError(f"The date format element {shown!r} of {fmt!r} is not supported.", _HINT)
    return tokens


def _cased(value: exp.Expression, written: str) -> exp.Expression:
    """A month or day name in the case the element was written in: MON → JAN, Mon → Jan, mon → jan."""
    letters = [c for c in written if c.isalpha()]
    if letters[0].islower():
        return fn("lower", value)
    if len(letters) > 1 and letters[1].isupper():
        return fn("upper", value)
    return value


def _number(value: exp.Expression, width: int, fill: bool) -> exp.Expression:
    text = _text(value)
    return text if fill or width <= 1 else fn("lpad", text, width, "0")


def _week(day: exp.Expression) -> exp.Expression:
    """The week (1, 2, …) of a day number (1, 2, …) in weeks that start on day 1."""
    return (
        exp.cast(fn("floor", exp.Div(this=exp.Paren(this=day - 1), expression=exp.Literal.number(7))), "int")
        + 1
    )


def _computed(element: _Element, d: exp.Expression) -> exp.Expression:
    name, fill = element.name, element.fill
    year = fn("strftime", d, "%Y")
    if name in ("YYY", "Y"):
        return fn("right", year, len(name))
    if name in ("IYY", "IY"):
        return fn("right", fn("strftime", d, "%G"), len(name))
    if name == "Q":
        return _text(fn("quarter", d))
    if name == "WW":
        return _number(_week(fn("dayofyear", d)), 2, fill)
    if name == "W":
        return _text(_week(fn("day", d)))
    if name == "D":
        return _text(fn("isodow", d))
    if name == "SSSSS":
        seconds = fn("hour", d) * 3600 + fn("minute", d) * 60 + fn("second", d)
        return _number(seconds, 5, fill)
    if name.startswith("FF"):
        digits = int(name[2:] or 6)
        return fn("left", fn("rpad", fn("strftime", d, "%f"), 9, "0"), digits)
    return exp.Case(  # A.M. / P.M.
        ifs=[exp.If(this=fn("hour", d) < 12, true=exp.Literal.string("A.M."))],
        default=exp.Literal.string("P.M."),
    )


_FILLED_NUMBERS = {
    "MM": "month",
    "DD": "day",
    "DDD": "dayofyear",
    "HH24": "hour",
    "MI": "minute",
    "SS": "second",
}


def date_to_char(value: exp.Expression, fmt: str) -> exp.Expression:
    """``to_char(value, fmt)`` for a date or timestamp ``value`` and a literal Oracle date format."""
    d = exp.cast(value, exp.DataType.build("timestamp"))
    parts: list[exp.Expression] = []
    pattern: list[str] = []

    def flush() -> None:
        if pattern:
            parts.append(fn("strftime", d.copy(), "".join(pattern)))
            pattern.clear()

    for token in _date_tokens(fmt):
        if isinstance(token, str):
            pattern.append(token.replace("%", "%%"))
            continue
        strf = _DATE_ELEMENTS[token.name]
        if token.fill and token.name in _FILLED_NUMBERS:
            flush()
            parts.append(_text(fn(_FILLED_NUMBERS[token.name], d.copy())))
        elif token.fill and token.name in ("HH", "HH12"):
            flush()
            parts.append(
                _text(exp.Mod(this=fn("hour", d.copy()) + 11, expression=exp.Literal.number(12)) + 1)
            )
        elif token.fill and token.name == "IW":
            flush()
            parts.append(_text(fn("weekofyear", d.copy())))
        elif strf is not None and token.name not in _NAMES:
            pattern.append(strf)
        else:
            flush()
            piece = fn("strftime", d.copy(), strf) if strf is not None else _computed(token, d.copy())
            if token.name in _NAMES:
                piece = _cased(piece, token.written)
            if token.name in ("MONTH", "DAY") and not token.fill:
                piece = fn("rpad", piece, 9, " ")
            parts.append(piece)
    flush()
    return _concat(parts) if parts else exp.Literal.string("")


# -- to_date(text, format) -------------------------------------------------------------------------------

_READ_AS_WRITTEN = {"RRRR": "%Y", "RR": "%y", **{f"FF{n}": "%f" for n in range(1, 10)}, "FF": "%f"}


def strptime_format(converted: str) -> str:
    """The strptime format of ``to_date``'s Oracle format, as sqlglot converted it (``DD-MM-YYYY`` →
    ``%d-%m-%Y``), with the elements it leaves as written (``RRRR``, ``FF3``) converted too."""
    out = converted
    for element in sorted(_READ_AS_WRITTEN, key=len, reverse=True):
        out = re.sub(rf"(?<!%){element}", _READ_AS_WRITTEN[element], out, flags=re.IGNORECASE)
    left = re.findall(r"[A-Za-z]+", re.sub(r"%[A-Za-z%]", " ", out))
    if left:
        raise SQLError(f"to_date cannot read the format element {left[0]!r}.", _HINT)
    return out


# -- to_char(number, format) -----------------------------------------------------------------------------

_NUMBER_FORMAT = re.compile(r"(?i)(?P<fm>FM)?(?P<int>[09,G]*)(?:(?P<point>[.D])(?P<frac>[09]*))?")


def is_number_format(fmt: str) -> bool:
    """Whether ``fmt`` is a number format (digits 9 or 0 never occur in a date format)."""
    return bool(re.search(r"[09]", fmt))


def number_to_char(value: exp.Expression, fmt: str) -> exp.Expression:
    """``to_char(value, fmt)`` for a number: 9 and 0 digits, ``.``/``D``, ``,``/``G`` groups and ``FM``."""
    match = _NUMBER_FORMAT.fullmatch(fmt)
    if match is None or not re.search(r"[09]", match.group("int") + (match.group("frac") or "")):
        raise SQLError(
            f"The number format {fmt!r} is not supported.",
            "Number formats may use 9, 0, . or D, , or G, and FM (e.g. 'FM999G990D00').",
        )
    int_part = match.group("int").upper()
    digits = int_part.replace(",", "").replace("G", "")
    zero = digits.find("0")
    frac = match.group("frac") or ""
    keep = len(frac.rstrip("9"))
    args: list[exp.Expression | str | int] = [
        value,
        len(digits),
        len(digits) - zero if zero >= 0 else 0,
        len(frac),
        keep,
        int("," in int_part or "G" in int_part),
        int(bool(match.group("fm"))),
        int(match.group("point") is not None),
        len(fmt) - (2 if match.group("fm") else 0) + 1,
    ]
    return fn("ora_num_text", *args)

"""Writing a result: a table (or, when too wide, records) on the terminal, or CSV, JSON (an array of objects),
Parquet, XLSX. The format follows ``-o``'s extension unless ``--format`` names it.

Every value of every DuckDB type reaches every format: lists, structs and maps become JSON text where a
format has no such type (CSV, XLSX), intervals ISO 8601 durations, binary hex; decimals that a double
cannot hold stay exact (JSON strings, XLSX text).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import os
import re
import stat
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from rich.text import Text

from exactsql.errors import ConfigError, FileError

FORMATS = ("table", "csv", "json", "parquet", "xlsx")
EXTENSIONS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".xlsx": "xlsx", ".txt": "table"}
XLSX_ROWS, XLSX_COLUMNS, XLSX_CELL = 1_048_576, 16_384, 32_767
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def format_for(out: Path | None, fmt: str | None) -> str:
    """The output format: ``fmt`` when given (it must agree with a known extension of ``out``), else the
    one ``out``'s extension names, else ``table``. ConfigError for an unknown format or extension."""
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"Unknown format {fmt!r}.", f"Use one of {', '.join(FORMATS)}.")
    known = ", ".join(EXTENSIONS)
    if out is None:
        return fmt or "table"
    suffix = out.suffix.lower()
    by_extension = EXTENSIONS.get(suffix)
    if fmt is None:
        if by_extension is None:
            what = f"the extension {out.suffix!r}" if suffix else "a file name without an extension"
            raise ConfigError(f"-o {out}: {what} names no format.", f"Use one of {known}, or give --format.")
        return by_extension
    if by_extension is not None and by_extension != fmt and suffix != ".txt":  # text may hold any format
        raise ConfigError(
            f"--format {fmt} does not match -o {out} (a {by_extension} file name).",
            f"Drop --format, or name the file {out.with_suffix('.' + fmt if fmt != 'table' else '.txt').name}.",
        )
    return fmt


# -- values ---------------------------------------------------------------------------------------------


def fits_double(value: Decimal) -> bool:
    """Whether a reader that parses ``value`` as a double gets it back exactly (numerically)."""
    return value.is_finite() and Decimal(repr(float(value))) == value


def _decimal(value: Decimal, as_number: bool) -> object:
    """A decimal digit for digit: a JSON number (``1.50`` stays ``1.50``) or a string of the same text."""
    text = format(value, "f")
    return orjson.Fragment(text.encode()) if as_number else text


def duration(value: object) -> str:
    """An interval or duration as ISO 8601 (``P1M2DT3.5S``)."""
    if isinstance(value, dt.timedelta):
        months, days, nanos = 0, value.days, (value.seconds * 10**6 + value.microseconds) * 1000
    else:
        months, days, nanos = value.months, value.days, value.nanoseconds  # type: ignore[attr-defined]
    sign = "-" if nanos < 0 else ""
    seconds = Decimal(abs(nanos)) / Decimal(10**9)
    time = f"T{sign}{format(seconds.normalize(), 'f')}S" if nanos else ""
    return f"P{months}M{days}D{time}" if months or days or not time else f"P{time}"


def _default(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):  # inside a list or struct: each on its own
        return _decimal(value, fits_double(value))
    if isinstance(value, dt.timedelta) or type(value).__name__ == "MonthDayNano":
        return duration(value)
    if isinstance(value, str):  # a string orjson refuses (lone surrogates)
        return clean(value)
    raise TypeError(type(value).__name__)


def clean(text: str) -> str:
    """``text`` as valid Unicode (a lone surrogate becomes ``\\udcff``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _json(value: object) -> str:
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()


def text_of(value: object) -> str:
    """A value as one line of text for a terminal or a sheet cell (nested values as JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, list | dict | tuple):
        text = _json(value)
    else:
        text = str(_default(value)) if _is_special(value) else str(value)
    return clean(text)


def _is_special(value: object) -> bool:
    return (
        isinstance(value, bytes | dt.date | dt.time | dt.timedelta) or type(value).__name__ == "MonthDayNano"
    )


def _visible(text: str) -> str:
    """``text`` without control characters (shown as ``\\x1b``): nothing a terminal would act on."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


# -- columns per format -------------------------------------------------------------------------------


def _csv_ready(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _csv_ready(t.value_type)
    return not (
        pa.types.is_nested(t)
        or pa.types.is_interval(t)
        or pa.types.is_duration(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or isinstance(t, pa.ExtensionType)
    )


def _parquet_ready(t: pa.DataType) -> bool:
    if pa.types.is_interval(t) or pa.types.is_union(t) or isinstance(t, pa.ExtensionType):
        return False
    return all(_parquet_ready(t.field(i).type) for i in range(t.num_fields))


def _as_text(table: pa.Table, ready: object) -> pa.Table:
    """``table`` with each column whose type the format cannot hold turned into text."""
    columns = []
    for column in table.columns:
        if ready(column.type):  # type: ignore[operator]
            columns.append(column)
        else:
            columns.append(
                pa.array([None if v is None else text_of(v) for v in column.to_pylist()], pa.string())
            )
    return pa.Table.from_arrays(columns, names=table.column_names)


def _unique_names(names: list[str]) -> list[str]:
    """Column names made unique (``Division``, ``Division_2``) for formats keyed by name."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name.lower(), 0) + 1
        seen[name.lower()] = count
        out.append(name if count == 1 else f"{name}_{count}")
    return out


def json_rows(table: pa.Table) -> bytes:
    """The rows of ``table`` as a JSON array of objects.

    DECIMAL columns lose nothing: when every value of the column survives a trip through a double (at most
    about 15 significant digits, as sums of amounts have), the column is written as JSON numbers, digit for
    digit (``1.50`` stays ``1.50``); otherwise the whole column is written as strings holding the exact
    decimal (``"12345678901234567.89"``), so that no JSON reader rounds it silently and the column keeps one
    type. Dates and times are ISO 8601 strings, intervals ISO 8601 durations, binary values hex; same-named
    columns get a suffix (``Division_2``).
    """
    columns: list[list] = []
    for column in table.columns:
        values = column.to_pylist()
        if pa.types.is_decimal(column.type):
            as_numbers = all(fits_double(v) for v in values if v is not None)
            values = [None if v is None else _decimal(v, as_numbers) for v in values]
        elif pa.types.is_floating(column.type):
            values = [None if v is None or not math.isfinite(v) else v for v in values]
        columns.append(values)
    names = _unique_names(table.column_names)
    rows = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if not names:
        rows = [{} for _ in range(table.num_rows)]
    return orjson.dumps(rows, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"


# -- writing --------------------------------------------------------------------------------------------


def check_output(out: Path | None, fmt: str = "csv") -> None:
    """FileError when ``out`` cannot be written: a directory, a directory of its path missing or a file, or
    (for parquet and xlsx, which need a file they can seek in and replace) anything but a regular file.

    Checked before a statement runs, so that no API call is spent on a result that cannot be kept.
    """
    if out is None:
        return
    if not str(out).strip():
        raise FileError("-o is empty.", "Give a file name, e.g. -o result.csv.")
    if "\x00" in str(out):
        raise FileError("-o holds a NUL character.", "Give a file name without it.")
    if out.is_dir():
        raise FileError(f"-o {out} is a directory.", "Give a file name, e.g. -o result.csv.")
    if fmt in ("parquet", "xlsx") and out.exists() and not out.is_file():
        raise FileError(f"-o {out} is not a regular file: --format {fmt} writes one.", "Give a file name.")
    parent = out.parent
    if not parent.exists():
        raise FileError(
            f"-o {out}: the directory {parent} does not exist.", "Create it first, or write elsewhere."
        )
    if not parent.is_dir():
        raise FileError(f"-o {out}: {parent} is not a directory.", "Check the path.")
    if not out.exists() or out.is_file():  # written through a new file next to it: try one
        probe = parent / f".{out.name}.{os.getpid()}.probe"
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
        except OSError as exc:
            raise FileError.from_os_error(exc, "write to", out) from None


def write(table: pa.Table, fmt: str, out: Path | None, console: Console, max_rows: int | None = 200) -> None:
    """Writes ``table`` in ``fmt`` to ``out`` (or standard output); FileError when that fails.

    ``table`` on a terminal shows at most ``max_rows`` rows; to a file, every row.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown format {fmt!r}.", f"Use one of {', '.join(FORMATS)}.")
    if fmt in ("parquet", "xlsx") and out is None:
        raise ConfigError(f"--format {fmt} writes a file.", "Give it with -o FILE.")
    check_output(out, fmt)
    where = str(out) if out is not None else "standard output"
    try:
        if fmt == "table":
            if out is None:
                _rich(table, console, max_rows)
            else:
                sink = io.StringIO()
                _rich(table, Console(file=sink, width=1000, color_system=None, soft_wrap=False), None)
                _emit(sink.getvalue().encode(), out)
        elif fmt == "csv":
            sink = pa.BufferOutputStream()
            pacsv.write_csv(_as_text(table, _csv_ready), sink)
            _emit(sink.getvalue().to_pybytes(), out)
        elif fmt == "json":
            _emit(json_rows(table), out)
        elif fmt == "parquet":
            sink = pa.BufferOutputStream()
            pq.write_table(_as_text(table, _parquet_ready), sink)
            _emit(sink.getvalue().to_pybytes(), out)
        elif fmt == "xlsx":
            _emit(_xlsx(table), out)
    except OSError as exc:
        raise FileError.from_os_error(exc, "write the result to", where) from None
    except (pa.ArrowException, orjson.JSONEncodeError, TypeError) as exc:
        raise ConfigError(
            f"The result cannot be written as {fmt}: {exc}.", "Try another --format, e.g. json or parquet."
        ) from None


def emit(data: bytes, out: Path | None = None) -> None:
    """``data`` to standard output (or the file ``out``); FileError when that fails (a full disk)."""
    try:
        _emit(data, out)
    except OSError as exc:
        raise FileError.from_os_error(exc, "write to", out or "standard output") from None


def _emit(data: bytes, out: Path | None) -> None:
    """``data`` to standard output, or to the file ``out``: whole or not at all (a new file replaces the old
    one only once it is complete, so a full disk leaves the old one as it was)."""
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    if out.exists() and not out.is_file():  # a device or a pipe (/dev/stdout): written as it is
        out.write_bytes(data)
        return
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "xb") as fh:
            if out.exists():
                os.fchmod(fh.fileno(), stat.S_IMODE(out.stat().st_mode))
            fh.write(data)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _rich(table: pa.Table, console: Console, max_rows: int | None) -> None:
    """A table when it fits the console's width, else one block of ``name value`` lines per row."""
    shown = table if max_rows is None else table.slice(0, max_rows)
    names = [_visible(clean(n)) for n in table.column_names]
    cells = [[_visible(text_of(v)) for v in column.to_pylist()] for column in shown.columns]
    widths = [max([len(n), *(min(len(c), 40) for c in col)]) for n, col in zip(names, cells, strict=True)]
    wide = sum(widths) + 3 * len(widths) + 1 > console.width
    if wide:
        label = max((len(n) for n in names), default=0)
        for i in range(shown.num_rows):
            console.print(Text(f"-[ record {i + 1} ]-", style="bold"))
            grid = Table.grid(padding=(0, 2))
            grid.add_column(width=min(label, console.width // 3), no_wrap=True, overflow="ellipsis")
            grid.add_column(overflow="fold")
            for name, col in zip(names, cells, strict=True):
                grid.add_row(Text(name), Text(col[i]))
            console.print(grid)
    else:
        view = Table(show_lines=False)
        for name in names:
            view.add_column(Text(name))
        for row in zip(*cells, strict=True):
            view.add_row(*(Text(c) for c in row))
        console.print(view)
    more = f", showing {max_rows}" if max_rows is not None and table.num_rows > max_rows else ""
    layout = (
        f"; {table.num_columns} columns, shown as records: -o FILE.xlsx or --format csv for a sheet"
        if wide
        else ""
    )
    console.print(Text(f"{table.num_rows} row(s){more}{layout}", style="dim"))


def _xlsx(table: pa.Table) -> bytes:
    """``table`` as an XLSX workbook (made in memory: the file is written whole, or not at all). Text is
    written as text (never a formula or a link); numbers a double cannot hold exactly are written as text."""
    import xlsxwriter

    if table.num_rows + 1 > XLSX_ROWS or table.num_columns > XLSX_COLUMNS:
        raise ConfigError(
            f"The result has {table.num_rows:,} rows and {table.num_columns:,} columns; an XLSX sheet holds "
            f"{XLSX_ROWS - 1:,} rows and {XLSX_COLUMNS:,} columns.",
            "Write it as csv or parquet, or select less.",
        )
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {"remove_timezone": True, "in_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
    )
    sheet = book.add_worksheet("result")
    dates = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    days = book.add_format({"num_format": "yyyy-mm-dd"})
    for col, name in enumerate(table.column_names):
        sheet.write_string(0, col, clean(name))
    for c, column in enumerate(table.columns):
        for r, value in enumerate(column.to_pylist(), start=1):
            _cell(sheet, r, c, value, dates, days)
    book.close()
    return buffer.getvalue()


def _cell(sheet, r: int, c: int, value: object, dates: object, days: object) -> None:  # type: ignore[no-untyped-def]
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(r, c, value)
    elif (isinstance(value, int) and abs(value) < 2**53) or (
        isinstance(value, float) and math.isfinite(value)
    ):
        sheet.write_number(r, c, value)
    elif isinstance(value, Decimal) and fits_double(value) and abs(value) < 10**15:
        sheet.write_number(r, c, float(value))
    elif isinstance(value, dt.datetime):
        sheet.write_datetime(r, c, value, dates)
    elif isinstance(value, dt.date):
        sheet.write_datetime(r, c, value, days)
    else:
        text = text_of(value)
        if len(text) > XLSX_CELL:
            raise ConfigError(
                f"A value in row {r}, column {c + 1} has {len(text):,} characters; an XLSX cell holds {XLSX_CELL:,}.",
                "Write it as csv, json or parquet.",
            )
        sheet.write_string(r, c, text)

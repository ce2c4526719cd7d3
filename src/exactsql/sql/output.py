"""Writing a result: a rich table on the terminal, or CSV, JSON (an array of objects), Parquet, XLSX."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
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

from exactsql.errors import ConfigError, FileError

FORMATS = ("table", "csv", "json", "parquet", "xlsx")


def _default(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):  # inside a list or struct: each on its own
        return _decimal(value, fits_double(value))
    raise TypeError(type(value).__name__)


def fits_double(value: Decimal) -> bool:
    """Whether a reader that parses ``value`` as a double gets it back exactly (numerically)."""
    return value.is_finite() and Decimal(repr(float(value))) == value


def _decimal(value: Decimal, as_number: bool) -> object:
    """A decimal digit for digit: a JSON number (``1.50`` stays ``1.50``) or a string of the same text."""
    text = format(value, "f")
    return orjson.Fragment(text.encode()) if as_number else text


def json_rows(table: pa.Table) -> bytes:
    """The rows of ``table`` as a JSON array of objects.

    DECIMAL columns lose nothing: when every value of the column survives a trip through a double (at most
    about 15 significant digits, as sums of amounts have), the column is written as JSON numbers, digit for
    digit (``1.50`` stays ``1.50``); otherwise the whole column is written as strings holding the exact
    decimal (``"12345678901234567.89"``), so that no JSON reader rounds it silently and the column keeps one
    type. Dates and times are ISO 8601 strings, binary values hex.
    """
    columns: dict[str, list] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        values = column.to_pylist()
        if pa.types.is_decimal(column.type):
            as_numbers = all(fits_double(v) for v in values if v is not None)
            values = [None if v is None else _decimal(v, as_numbers) for v in values]
        columns[name] = values
    names = list(columns)
    rows = [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    if not names:
        rows = [{} for _ in range(table.num_rows)]
    return orjson.dumps(rows, default=_default, option=orjson.OPT_INDENT_2) + b"\n"


def check_output(out: Path | None, fmt: str = "csv") -> None:
    """FileError when ``out`` cannot be written: a directory, a directory of its path missing or a file, or
    (for parquet and xlsx, which need a file they can seek in and replace) anything but a regular file.

    Checked before a statement runs, so that no API call is spent on a result that cannot be kept.
    """
    if out is None:
        return
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


def write(table: pa.Table, fmt: str, out: Path | None, console: Console, max_rows: int = 200) -> None:
    """Writes ``table`` in ``fmt`` to ``out`` (or standard output); FileError when that fails."""
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown format {fmt!r}.", f"Use one of {', '.join(FORMATS)}.")
    if fmt in ("parquet", "xlsx") and out is None:
        raise ConfigError(f"--format {fmt} writes a file.", "Give it with -o FILE.")
    check_output(out, fmt)
    where = str(out) if out is not None else "standard output"
    try:
        if fmt == "table":
            _rich(table, console, max_rows)
        elif fmt == "csv":
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink)
            _emit(sink.getvalue().to_pybytes(), out)
        elif fmt == "json":
            _emit(json_rows(table), out)
        elif fmt == "parquet":
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            _emit(sink.getvalue().to_pybytes(), out)
        elif fmt == "xlsx":
            _emit(_xlsx(table), out)
    except OSError as exc:
        raise FileError.from_os_error(exc, "write the result to", where) from None


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


def _rich(table: pa.Table, console: Console, max_rows: int) -> None:
    view = Table(*table.column_names, show_lines=False)
    for row in table.slice(0, max_rows).to_pylist():
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(view)
    more = f", showing {max_rows}" if table.num_rows > max_rows else ""
    console.print(f"[dim]{table.num_rows} row(s){more}[/]")


def _xlsx(table: pa.Table) -> bytes:
    """``table`` as an XLSX workbook (made in memory: the file is written whole, or not at all)."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"remove_timezone": True, "in_memory": True})
    sheet = book.add_worksheet("result")
    dates = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for col, name in enumerate(table.column_names):
        sheet.write(0, col, name)
    for r, row in enumerate(table.to_pylist(), start=1):
        for c, value in enumerate(row.values()):
            if isinstance(value, dt.datetime | dt.date):
                sheet.write_datetime(r, c, value, dates)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()
    return buffer.getvalue()

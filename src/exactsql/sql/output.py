"""Writing a result: a rich table on the terminal, or CSV, JSON (an array of objects), Parquet, XLSX."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from exactsql.errors import ConfigError

FORMATS = ("table", "csv", "json", "parquet", "xlsx")


def _default(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


def write(table: pa.Table, fmt: str, out: Path | None, console: Console, max_rows: int = 200) -> None:
    """Writes ``table`` in ``fmt`` to ``out`` (or standard output)."""
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown format {fmt!r}.", f"Use one of {', '.join(FORMATS)}.")
    if fmt in ("parquet", "xlsx") and out is None:
        raise ConfigError(f"--format {fmt} writes a file.", "Give it with -o FILE.")
    if fmt == "table":
        _rich(table, console, max_rows)
    elif fmt == "csv":
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        _emit(sink.getvalue().to_pybytes(), out)
    elif fmt == "json":
        _emit(orjson.dumps(table.to_pylist(), default=_default, option=orjson.OPT_INDENT_2) + b"\n", out)
    elif fmt == "parquet":
        assert out is not None
        pq.write_table(table, out)
    elif fmt == "xlsx":
        assert out is not None
        _xlsx(table, out)


def _emit(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)


def _rich(table: pa.Table, console: Console, max_rows: int) -> None:
    view = Table(*table.column_names, show_lines=False)
    for row in table.slice(0, max_rows).to_pylist():
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(view)
    more = f", showing {max_rows}" if table.num_rows > max_rows else ""
    console.print(f"[dim]{table.num_rows} row(s){more}[/]")


def _xlsx(table: pa.Table, out: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(out), {"remove_timezone": True})
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

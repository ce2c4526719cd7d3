"""Exact's JSON pages → typed Arrow tables, by the Edm types of the catalog.

The fast path hands the whole page to pyarrow's C++ JSON reader with an explicit schema and parses
``/Date(ms)/`` values in bulk. ``Edm.Int64`` values arrive as JSON strings from Exact (OData v2's JSON
format, e.g. ``"Timestamp": "7261423"``): they are read as text and cast in bulk, and a page that sends them
as numbers is read that way instead. Pages it still cannot type take a tolerant Python path. Dates become
naive timestamps holding Exact's CET/CEST wall-clock time.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Sequence

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from exactsql.catalog import Column

_TYPES: dict[str, pa.DataType] = {
    "Edm.String": pa.string(),
    "Edm.Guid": pa.string(),
    "Edm.Int16": pa.int16(),
    "Edm.Int32": pa.int32(),
    "Edm.Int64": pa.int64(),
    "Edm.Byte": pa.int16(),
    "Edm.SByte": pa.int16(),
    "Edm.Double": pa.float64(),
    "Edm.Single": pa.float64(),
    "Edm.Decimal": pa.float64(),
    "Edm.Boolean": pa.bool_(),
    "Edm.DateTime": pa.timestamp("ms"),
    "Edm.Binary": pa.binary(),
}
_DATE = re.compile(r"/Date\((-?\d+)[^)]*\)/")


def arrow_type(edm: str) -> pa.DataType:
    """The Arrow type of an Edm type (navigation and complex properties become JSON text)."""
    return _TYPES.get(edm, pa.string())


def schema_for(columns: Sequence[Column]) -> pa.Schema:
    """The Arrow schema of a set of catalog columns."""
    return pa.schema([pa.field(c.name, arrow_type(c.edm)) for c in columns])


def read_schema(columns: Sequence[Column], int64_text: bool = True) -> pa.Schema:
    """The schema pyarrow's JSON reader parses a page with: dates, binaries and (when Exact sends them as
    text) Int64 values as strings, typed afterwards in bulk."""
    fields = []
    for c in columns:
        t = arrow_type(c.edm)
        as_text = c.edm == "Edm.DateTime" or t == pa.binary() or (int64_text and c.edm == "Edm.Int64")
        fields.append(pa.field(c.name, pa.string() if as_text else t))
    return pa.schema([pa.field("d", pa.struct([pa.field("results", pa.list_(pa.struct(fields)))]))])


#: How the last page sent its Int64 values (text first: Exact's way); a page of the other kind is read again.
_int64_text = [True]


def _dates(values: pa.Array) -> pa.Array:
    try:  # the usual "/Date(1700000000000)/": cut off the 6 leading and 2 trailing characters
        digits = pc.utf8_slice_codeunits(values, start=6, stop=-2)
        return pc.cast(pc.cast(digits, pa.int64()), pa.timestamp("ms"))
    except pa.ArrowInvalid:  # with an offset, "/Date(1700000000000+0100)/"
        digits = pc.replace_substring_regex(values, pattern=r"^/Date\((-?\d+)[^)]*\)/$", replacement=r"\1")
        return pc.cast(pc.cast(digits, pa.int64()), pa.timestamp("ms"))


def _read_page(body: bytes, columns: Sequence[Column], int64_text: bool) -> pa.Table:
    options = pajson.ParseOptions(
        explicit_schema=read_schema(columns, int64_text), unexpected_field_behavior="ignore"
    )
    whole = pajson.ReadOptions(block_size=len(body) + 1, use_threads=False)  # one page is one JSON object
    read = pajson.read_json(io.BytesIO(body), parse_options=options, read_options=whole)
    results = read.column("d").combine_chunks().field("results").flatten()
    arrays = []
    for c in columns:
        values = results.field(c.name)
        if c.edm == "Edm.DateTime":
            values = _dates(values)
        elif c.edm == "Edm.Binary":
            values = pa.nulls(len(values), pa.binary())
        elif c.edm == "Edm.Int64" and int64_text:
            values = pc.cast(values, pa.int64())
        arrays.append(values)
    return pa.Table.from_arrays(arrays, schema=schema_for(columns))


def page_to_arrow(body: bytes, columns: Sequence[Column]) -> pa.Table:
    """One page (``{"d": {"results": [...]}}``) as an Arrow table with ``columns``."""
    first = _int64_text[0]
    tries = (first, not first) if any(c.edm == "Edm.Int64" for c in columns) else (first,)
    for int64_text in tries:
        try:
            table = _read_page(body, columns, int64_text)
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError):
            continue
        _int64_text[0] = int64_text
        return table
    d = orjson.loads(body)["d"]
    return rows_to_arrow(d if isinstance(d, list) else d.get("results", [d]), columns)


def _coerce(edm: str, value: object) -> object:
    if value is None:
        return None
    if edm == "Edm.DateTime":
        match = _DATE.match(str(value))
        return int(match.group(1)) if match else None
    if edm in ("Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte"):
        return int(value)  # type: ignore[call-overload]
    if edm in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        return float(value)  # type: ignore[arg-type]
    if edm == "Edm.Boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if edm == "Edm.Binary":
        return None
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def rows_to_arrow(rows: Iterable[dict], columns: Sequence[Column]) -> pa.Table:
    """Records (already parsed) as an Arrow table, accepting numbers and booleans sent as strings."""
    rows = list(rows)
    arrays = []
    for c in columns:
        values = [_coerce(c.edm, r.get(c.name)) for r in rows]
        if c.edm == "Edm.DateTime":
            arrays.append(pa.array(values, pa.int64()).cast(pa.timestamp("ms")))
        else:
            arrays.append(pa.array(values, arrow_type(c.edm)))
    return pa.Table.from_arrays(arrays, schema=schema_for(columns))


#: Bytes of Arrow pages all reads of a process keep in memory before they write more to files
#: (``EXACTSQL_SPILL_BYTES``).
SPILL_BYTES = 64 * 1024 * 1024


class HeldBytes:
    """The bytes of pages that spools hold in memory, against one limit shared by all of them (the reads of
    many divisions at once together stay under it)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Counts ``size`` more bytes held, unless that passes the limit."""
        with self._lock:
            if self.held + size > self.limit:
                return False
            self.held += size
            return True

    def give(self, size: int) -> None:
        """Counts ``size`` bytes no longer held by a spool."""
        with self._lock:
            self.held -= size


_process_held: dict[int, HeldBytes] = {}
_process_lock = threading.Lock()


def process_held_bytes() -> HeldBytes:
    """The process's budget of pages in memory (``EXACTSQL_SPILL_BYTES``, read when first needed)."""
    limit = int(os.environ.get("EXACTSQL_SPILL_BYTES", SPILL_BYTES))
    with _process_lock:
        return _process_held.setdefault(limit, HeldBytes(limit))


class PageSpool:
    """The Arrow pages of one read as they arrive: in memory while the process's spools together hold less
    than ``EXACTSQL_SPILL_BYTES`` (or this spool less than ``limit``), beyond that appended to an Arrow IPC
    file in the temporary directory, which ``table`` maps into memory (zero copy: its pages are the kernel's
    to load and evict, not the process's heap). Reads of a million rows, or of a thousand divisions at once,
    so hold a bounded number of bytes of pages of their own; the file is unlinked as soon as it is mapped."""

    def __init__(self, schema: pa.Schema, limit: int | None = None) -> None:
        self.schema = schema
        self.budget = HeldBytes(limit) if limit is not None else process_held_bytes()
        self._held: list[pa.Table] = []
        self._bytes = 0
        self._file: str | None = None
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self.rows = 0

    @property
    def spilled(self) -> bool:
        """Whether the pages went to a file."""
        return self._file is not None

    def add(self, page: pa.Table) -> None:
        """One more page (with the spool's schema)."""
        self.rows += page.num_rows
        if self._writer is None and self.budget.take(page.nbytes):
            self._held.append(page)
            self._bytes += page.nbytes
            return
        if self._writer is None:
            handle, self._file = tempfile.mkstemp(prefix="exactsql-pages-", suffix=".arrow")
            os.close(handle)
            self._writer = pa.ipc.new_file(self._file, self.schema)
            for held in self._held:
                self._writer.write_table(held)
            self._release()
        self._writer.write_table(page)

    def _release(self) -> None:
        self.budget.give(self._bytes)
        self._held, self._bytes = [], 0

    def table(self) -> pa.Table:
        """Every page as one table (memory-mapped when spilled); the spool is empty afterwards."""
        if self._writer is None or self._file is None:
            table = pa.concat_tables(self._held) if self._held else self.schema.empty_table()
            self._release()  # the table is its caller's now
            return table
        self._writer.close()
        try:
            return pa.ipc.open_file(pa.memory_map(self._file)).read_all()
        finally:
            os.unlink(self._file)
            self._writer, self._file = None, None

    def discard(self) -> None:
        """Drops the pages (and the file)."""
        if self._writer is not None and self._file is not None:
            self._writer.close()
            os.unlink(self._file)
        self._release()
        self._writer, self._file = None, None

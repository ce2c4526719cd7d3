"""Exact's JSON pages → typed Arrow tables, by the Edm types of the catalog.

The fast path hands the whole page to pyarrow's C++ JSON reader with an explicit schema and parses
``/Date(ms)/`` values in bulk. ``Edm.Int64`` values arrive as JSON strings from Exact (OData v2's JSON
format, e.g. ``"Timestamp": "7261423"``): they are read as text and cast in bulk, and a page that sends them
as numbers is read that way instead. Pages it still cannot type take a tolerant Python path. Dates become
naive timestamps holding Exact's CET/CEST wall-clock time.
"""

from __future__ import annotations

import io
import re
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


def _read_schema(columns: Sequence[Column], int64_text: bool) -> pa.Schema:
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
        explicit_schema=_read_schema(columns, int64_text), unexpected_field_behavior="ignore"
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

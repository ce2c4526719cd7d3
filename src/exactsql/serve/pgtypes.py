"""PostgreSQL types for Arrow columns, and rows encoded for the wire (text and binary), a batch at a time.

A result column is turned into one Arrow ``binary`` array holding each field's bytes as PostgreSQL sends
it (``t``/``f``, ``2024-01-31 12:00:00``, big-endian integers …); DataRow messages are then assembled
for a whole batch with numpy, without a Python loop per row.
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class PgType:
    """A PostgreSQL type: its OID, name, fixed size (-1 variable) and the name ``format_type`` shows."""

    oid: int
    name: str
    size: int
    display: str
    category: str = "U"
    array_oid: int = 0


TYPES: dict[str, PgType] = {
    t.name: t
    for t in (
        PgType(16, "bool", 1, "boolean", "B", 1000),
        PgType(17, "bytea", -1, "bytea", "U", 1001),
        PgType(18, "char", 1, '"char"', "Z", 1002),
        PgType(19, "name", 64, "name", "S", 1003),
        PgType(20, "int8", 8, "bigint", "N", 1016),
        PgType(21, "int2", 2, "smallint", "N", 1005),
        PgType(22, "int2vector", -1, "int2vector", "A", 1006),
        PgType(23, "int4", 4, "integer", "N", 1007),
        PgType(24, "regproc", 4, "regproc", "N", 1008),
        PgType(25, "text", -1, "text", "S", 1009),
        PgType(26, "oid", 4, "oid", "N", 1028),
        PgType(30, "oidvector", -1, "oidvector", "A", 1013),
        PgType(114, "json", -1, "json", "U", 199),
        PgType(700, "float4", 4, "real", "N", 1021),
        PgType(701, "float8", 8, "double precision", "N", 1022),
        PgType(705, "unknown", -2, "unknown", "X", 0),
        PgType(1042, "bpchar", -1, "character", "S", 1014),
        PgType(1043, "varchar", -1, "character varying", "S", 1015),
        PgType(1082, "date", 4, "date", "D", 1182),
        PgType(1083, "time", 8, "time without time zone", "D", 1183),
        PgType(1114, "timestamp", 8, "timestamp without time zone", "D", 1115),
        PgType(1184, "timestamptz", 8, "timestamp with time zone", "D", 1185),
        PgType(1186, "interval", 16, "interval", "T", 1187),
        PgType(1700, "numeric", -1, "numeric", "N", 1231),
        PgType(2205, "regclass", 4, "regclass", "N", 2210),
        PgType(2206, "regtype", 4, "regtype", "N", 2211),
        PgType(2249, "record", -1, "record", "P", 2287),
        PgType(2278, "void", 4, "void", "P", 0),
        PgType(2950, "uuid", 16, "uuid", "U", 2951),
        PgType(3802, "jsonb", -1, "jsonb", "U", 3807),
    )
}
BY_OID = {t.oid: t for t in TYPES.values()}
ARRAY_OF = {t.array_oid: t for t in TYPES.values() if t.array_oid}

#: Edm (catalog) types as PostgreSQL types: what the catalog shows and what a result carries.
EDM_TYPES = {
    "Edm.String": "text",
    "Edm.Guid": "text",
    "Edm.Int16": "int2",
    "Edm.Byte": "int2",
    "Edm.SByte": "int2",
    "Edm.Int32": "int4",
    "Edm.Int64": "int8",
    "Edm.Double": "float8",
    "Edm.Single": "float8",
    "Edm.Decimal": "float8",
    "Edm.Boolean": "bool",
    "Edm.DateTime": "timestamp",
    "Edm.Binary": "bytea",
}

PG_EPOCH = dt.datetime(2000, 1, 1)
_PG_EPOCH_DAYS = (dt.date(2000, 1, 1) - dt.date(1970, 1, 1)).days
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400_000_000


def edm_type(edm: str) -> PgType:
    """The PostgreSQL type of a catalog column (anything not scalar is text)."""
    return TYPES[EDM_TYPES.get(edm, "text")]


def arrow_type(t: pa.DataType) -> PgType:
    """The PostgreSQL type that carries an Arrow column."""
    if pa.types.is_boolean(t):
        name = "bool"
    elif pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        name = "int2"
    elif pa.types.is_int32(t) or pa.types.is_uint16(t):
        name = "int4"
    elif pa.types.is_uint32(t):
        name = "oid"
    elif pa.types.is_integer(t):
        name = "int8"
    elif pa.types.is_float32(t):
        name = "float4"
    elif pa.types.is_floating(t):
        name = "float8"
    elif pa.types.is_decimal(t):
        name = "numeric"
    elif pa.types.is_timestamp(t):
        name = "timestamptz" if t.tz else "timestamp"
    elif pa.types.is_date(t):
        name = "date"
    elif pa.types.is_time(t):
        name = "time"
    elif pa.types.is_duration(t) or pa.types.is_interval(t):
        name = "interval"
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        name = "uuid" if isinstance(t, pa.ExtensionType) else "bytea"
    else:
        name = "text"
    return TYPES[name]


# -- values to wire bytes --------------------------------------------------------------------------------


def _binary_array(values: pa.Array) -> pa.Array:
    """``values`` (string or binary) as an Arrow binary array sharing its buffers."""
    if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type):
        return values.cast(pa.large_binary())
    return values.cast(pa.binary())


def _fixed(values: pa.Array, dtype: str, fill: int | float = 0) -> pa.Array:
    """A numeric column as big-endian fixed-size fields (NULLs stay NULL)."""
    n = len(values)
    width = np.dtype(dtype).itemsize
    data = np.asarray(values.fill_null(fill).to_numpy(zero_copy_only=False)).astype(dtype).tobytes()
    fixed = _fixed_bytes(data, width, n)
    if not values.null_count:
        return fixed
    return pc.if_else(pc.is_valid(values), fixed, pa.scalar(None, pa.binary()))


def _text(values: pa.Array, pg: PgType) -> pa.Array:
    """PostgreSQL's text output of a column."""
    t = values.type
    if pa.types.is_boolean(t):
        return pc.if_else(values, "t", "f")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return values
    if pa.types.is_floating(t):
        text = pc.cast(values, pa.string())
        for raw, shown in (("inf", "Infinity"), ("-inf", "-Infinity"), ("nan", "NaN")):
            text = pc.if_else(pc.equal(text, raw), shown, text)
        return text
    if pa.types.is_timestamp(t) and t.tz:
        utc = pc.cast(values, pa.timestamp(t.unit))
        return pc.binary_join_element_wise(pc.cast(utc, pa.string()), "+00", "")
    if pg.name == "bytea":
        return pa.array([None if v is None else "\\x" + v.hex() for v in values.to_pylist()], pa.string())
    if pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_temporal(t):
        return pc.cast(values, pa.string())
    return pa.array([None if v is None else _to_text(v) for v in values.to_pylist()], pa.string())


def _to_text(value: object) -> str:
    """Text of a value of a type without a vectorised path (lists, structs …)."""
    if isinstance(value, list):
        return "{" + ",".join("NULL" if v is None else _quote_element(_to_text(v)) for v in value) + "}"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _quote_element(text: str) -> str:
    if text == "" or any(c in text for c in ' ,{}"\\') or text.upper() == "NULL":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _binary(values: pa.Array, pg: PgType) -> pa.Array:
    """PostgreSQL's binary output of a column (text-like types are the same bytes as text)."""
    t = values.type
    if pg.name in ("int2", "int4", "int8", "oid", "float4", "float8"):
        dtype = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "oid": ">u4", "float4": ">f4", "float8": ">f8"}
        return _fixed(values, dtype[pg.name])
    if pg.name == "bool":
        return _fixed(pc.cast(values, pa.uint8()), ">u1")
    if pg.name == "timestamp" or pg.name == "timestamptz":
        micros = pc.cast(pc.cast(values, pa.timestamp("us", t.tz)), pa.int64())
        return _fixed(pc.subtract(micros, _PG_EPOCH_US), ">i8")
    if pg.name == "date":
        days = pc.cast(pc.cast(values, pa.date32()), pa.int32())
        return _fixed(pc.subtract(days, _PG_EPOCH_DAYS), ">i4")
    if pg.name == "bytea":
        return _binary_array(values)
    if pg.name in ("text", "varchar", "name", "json"):
        return _binary_array(_text(values, pg))
    return pa.array([None if v is None else _binary_value(v, pg) for v in values.to_pylist()], pa.binary())


def _binary_value(value: object, pg: PgType) -> bytes:
    """One value in binary format, for the types without a vectorised path."""
    if pg.name == "numeric":
        return encode_numeric(decimal.Decimal(str(value)))
    if pg.name == "time":
        assert isinstance(value, dt.time)
        micros = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
        return struct.pack(">q", micros)
    if pg.name == "interval":
        assert isinstance(value, dt.timedelta)
        micros = (value.seconds * 1_000_000) + value.microseconds
        return struct.pack(">qii", micros, value.days, 0)
    if pg.name == "uuid":
        return uuid.UUID(str(value)).bytes
    return _to_text(value).encode()


def encode_numeric(value: decimal.Decimal) -> bytes:
    """A decimal in PostgreSQL's binary ``numeric`` format (base-10000 digits)."""
    if value.is_nan():
        return struct.pack(">hhhh", 0, 0, 0xC000, 0)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    scale = max(0, -exponent)
    text = "".join(map(str, digits)) + "0" * max(0, exponent)
    integer, fraction = (text[: len(text) - scale] or "0"), text[len(text) - scale :] if scale else ""
    integer = integer.lstrip("0")
    integer = "0" * (-len(integer) % 4) + integer
    fraction = fraction + "0" * (-len(fraction) % 4)
    groups = [int(integer[i : i + 4]) for i in range(0, len(integer), 4)]
    weight = len(groups) - 1
    groups += [int(fraction[i : i + 4]) for i in range(0, len(fraction), 4)]
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    return struct.pack(f">hhHH{len(groups)}H", len(groups), weight, 0x4000 if sign else 0, scale, *groups)


def wire_column(values: pa.Array | pa.ChunkedArray, pg: PgType, binary: bool) -> pa.Array:
    """A column's fields as the bytes PostgreSQL sends in text (``binary`` False) or binary format."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values.type, pa.DictionaryType):
        values = values.dictionary_decode()
    return _binary(values, pg) if binary else _binary_array(_text(values, pg))


def data_rows(columns: list[pa.Array]) -> bytes:
    """The DataRow messages of a batch whose fields are already wire bytes (one binary array a column).

    Each field becomes its length prefix joined to its bytes, each row its header joined to its fields, by
    Arrow's string kernels; the messages are then the joined array's data buffer, end to end.
    """
    if not columns or len(columns[0]) == 0:
        return b""
    n = len(columns[0])
    fields = []
    row_size = np.full(n, 6, dtype=np.int64)  # the length word and the column count
    for col in columns:
        lengths = np.asarray(
            pc.binary_length(col).fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64
        )
        row_size += 4 + np.maximum(lengths, 0)
        fields.append(_fixed_bytes(lengths.astype(">i4").tobytes(), 4, n))
        fields.append(col.fill_null(b"") if col.null_count else col)
    header = np.empty((n, 7), dtype=np.uint8)
    header[:, 0] = ord("D")
    header[:, 1:5] = row_size.astype(">i4").view(np.uint8).reshape(n, 4)
    header[:, 5:7] = np.frombuffer(struct.pack(">h", len(columns)), dtype=np.uint8)
    joined = pc.binary_join_element_wise(_fixed_bytes(header.tobytes(), 7, n), *fields, b"")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    offsets = np.frombuffer(
        joined.buffers()[1], dtype=np.int64 if pa.types.is_large_binary(joined.type) else np.int32
    )
    first, last = int(offsets[joined.offset]), int(offsets[joined.offset + n])
    return joined.buffers()[2].to_pybytes()[first:last]


def _fixed_bytes(data: bytes, width: int, n: int) -> pa.Array:
    """``n`` fields of ``width`` bytes each, as a binary array over ``data``."""
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32).tobytes()
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


# -- parameters from the wire -----------------------------------------------------------------------------


def decode_parameter(raw: bytes | None, type_oid: int, binary: bool) -> object:
    """A Bind parameter as a Python value (text-format values of unknown type stay strings)."""
    if raw is None:
        return None
    if not binary:
        text = raw.decode()
        pg = BY_OID.get(type_oid)
        if pg is None:
            return text
        if pg.name in ("int2", "int4", "int8", "oid"):
            return int(text)
        if pg.name in ("float4", "float8"):
            return float(text)
        if pg.name == "numeric":
            return decimal.Decimal(text)
        if pg.name == "bool":
            return text.lower() in ("t", "true", "1", "y", "yes", "on")
        return text
    pg = BY_OID.get(type_oid)
    name = pg.name if pg is not None else "text"
    fixed = {"int2": ">h", "int4": ">i", "int8": ">q", "oid": ">I", "float4": ">f", "float8": ">d"}
    if name in fixed:
        return struct.unpack(fixed[name], raw)[0]
    if name == "bool":
        return raw != b"\x00"
    if name == "date":
        return dt.date(2000, 1, 1) + dt.timedelta(days=struct.unpack(">i", raw)[0])
    if name in ("timestamp", "timestamptz"):
        stamp = PG_EPOCH + dt.timedelta(microseconds=struct.unpack(">q", raw)[0])
        return stamp.replace(tzinfo=dt.UTC) if name == "timestamptz" else stamp
    if name == "uuid":
        return str(uuid.UUID(bytes=raw))
    if name == "numeric":
        return decode_numeric(raw)
    if name == "bytea":
        return bytes(raw)
    return raw.decode()


def decode_numeric(raw: bytes) -> decimal.Decimal:
    """PostgreSQL's binary ``numeric`` as a Decimal."""
    count, weight, sign, scale = struct.unpack(">hhHH", raw[:8])
    if sign == 0xC000:
        return decimal.Decimal("NaN")
    digits = struct.unpack(f">{count}H", raw[8 : 8 + 2 * count])
    value = decimal.Decimal(0)
    for i, d in enumerate(digits):
        value += decimal.Decimal(d).scaleb(4 * (weight - i))
    value = value.quantize(decimal.Decimal(1).scaleb(-scale)) if scale else value
    return -value if sign == 0x4000 else value

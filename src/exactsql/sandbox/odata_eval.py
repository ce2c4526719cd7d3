"""OData v2 ``$filter`` evaluation for the sandbox, vectorised over numpy columns."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from exactsql.sandbox.odata_syntax import (
    DEFAULT_ENTITY_TYPE,
    FUNCTIONS,
    And,
    Arith,
    Call,
    Compare,
    Field,
    Literal,
    Node,
    Not,
    ODataError,
    Or,
    flatten,
    no_applicable,
)
from exactsql.sandbox.values import NULL_DATE

BoolArray: TypeAlias = npt.NDArray[np.bool_]
ColumnGetter: TypeAlias = Callable[[str], npt.NDArray[Any]]

# -------------------------------------------------------------------------------------- evaluation

_INT_TYPES = frozenset({"Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64"})
_FLOAT_TYPES = frozenset({"Edm.Double", "Edm.Single", "Edm.Decimal"})
_DATE_TYPES = frozenset({"Edm.DateTime", "Edm.DateTimeOffset"})
_LITERAL_TYPES = {
    "string": "Edm.String",
    "guid": "Edm.Guid",
    "datetime": "Edm.DateTime",
    "int": "Edm.Int32",
    "int64": "Edm.Int64",
    "double": "Edm.Double",
    "bool": "Edm.Boolean",
    "null": "null",
}


def _category(edm: str) -> str:
    if edm in _INT_TYPES:
        return "int"
    if edm in _FLOAT_TYPES:
        return "float"
    if edm in _DATE_TYPES:
        return "date"
    return {"Edm.String": "string", "Edm.Guid": "guid", "Edm.Boolean": "bool", "null": "null"}.get(
        edm, "other"
    )


@dataclass(slots=True)
class _Val:
    """An evaluated expression: Edm type, data (array or scalar) and null mask (array or bool).

    Strings and guids keep None in their data; numbers, dates and booleans hold a filler where null.
    """

    edm: str
    data: Any
    null: Any


_NP_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": np.equal,
    "ne": np.not_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "lt": np.less,
    "le": np.less_equal,
}
_PY_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray)


def object_nulls(arr: npt.NDArray[Any]) -> BoolArray:
    if arr.dtype != object:
        return np.zeros(len(arr), dtype=bool)
    return np.asarray(arr == None, dtype=np.bool_)  # noqa: E711 (element-wise)


def _column_val(arr: npt.NDArray[Any], edm: str) -> _Val:
    """Converts a stored column (values.py conventions) into a :class:`_Val`."""
    cat = _category(edm)
    arr = np.asarray(arr)
    if cat in ("string", "guid", "other"):
        if arr.dtype != object:
            arr = arr.astype(object)
        return _Val(edm, arr, object_nulls(arr))
    if cat == "float":
        if arr.dtype == object:
            nulls = object_nulls(arr)
            data = np.where(nulls, np.nan, arr).astype(np.float64)
        else:
            data = arr.astype(np.float64, copy=False)
        return _Val(edm, data, np.isnan(data))
    if cat == "int":
        if arr.dtype == object:
            nulls = object_nulls(arr)
            return _Val(edm, np.where(nulls, 0, arr).astype(np.int64), nulls)
        return _Val(edm, arr.astype(np.int64, copy=False), False)
    if cat == "bool":
        if arr.dtype == object:
            nulls = object_nulls(arr)
            return _Val(edm, np.where(nulls, False, arr).astype(bool), nulls)
        return _Val(edm, arr.astype(bool, copy=False), False)
    # dates
    if arr.dtype == object:
        nulls = object_nulls(arr)
        data = np.where(nulls, NULL_DATE, arr).astype(np.int64)
    else:
        data = arr.astype(np.int64, copy=False)
    return _Val(edm, data, data == NULL_DATE)


def _literal_val(lit: Literal) -> _Val:
    edm = _LITERAL_TYPES[lit.kind]
    if lit.kind == "null":
        return _Val(edm, None, True)
    return _Val(edm, lit.value, False)


def _type_mismatch(pos: int) -> ODataError:
    return ODataError(f"Expression of type 'Edm.Boolean' expected at position {pos}.", pos)


def _incompatible(op: str, left: _Val, right: _Val, pos: int) -> ODataError:
    return ODataError(
        f"Operator '{op}' incompatible with operand types '{left.edm}' and '{right.edm}' at position {pos}.",
        pos,
    )


def _bool_parts(v: _Val) -> tuple[Any, Any]:
    """(known true, known false) masks of a boolean value."""
    if v.edm == "null":
        return False, False
    known = np.logical_not(v.null)
    return np.logical_and(v.data, known), np.logical_and(np.logical_not(v.data), known)


def _from_parts(true: Any, false: Any) -> _Val:
    return _Val("Edm.Boolean", true, np.logical_not(np.logical_or(true, false)))


def _compare_objects(op: str, a: Any, b: Any, n: int) -> Any:
    """Ordinal comparison of strings/guids where ``a``/``b`` are object arrays (None = null) or str."""
    if op in ("eq", "ne"):
        eq = np.asarray(a == b, dtype=bool) if _is_array(a) or _is_array(b) else a == b
        return eq if op == "eq" else np.logical_not(eq)
    f = _PY_COMPARE[op]
    if _is_array(a) and _is_array(b):
        it = (x is not None and y is not None and f(x, y) for x, y in zip(a, b, strict=True))
        return np.fromiter(it, dtype=bool, count=n)
    if _is_array(a):
        return np.fromiter((x is not None and f(x, b) for x in a), dtype=bool, count=n)
    if _is_array(b):
        return np.fromiter((y is not None and f(a, y) for y in b), dtype=bool, count=n)
    return f(a, b)


def _compare(op: str, a: _Val, b: _Val, pos: int, n: int) -> _Val:
    ca, cb = _category(a.edm), _category(b.edm)
    if ca == "null" or cb == "null":
        if ca == "null" and cb == "null":
            return _Val("Edm.Boolean", op in ("eq", "le", "ge"), False)
        other = b if ca == "null" else a
        if op == "eq":
            return _Val("Edm.Boolean", other.null, False)
        if op == "ne":
            return _Val("Edm.Boolean", np.logical_not(other.null), False)
        return _Val("Edm.Boolean", False, True)
    numeric = ca in ("int", "float") and cb in ("int", "float")
    if not numeric and (ca != cb or ca == "other"):
        raise _incompatible(op, a, b, pos)
    null = np.logical_or(a.null, b.null)
    if ca in ("string", "guid"):
        if (not _is_array(a.data) and a.data is None) or (not _is_array(b.data) and b.data is None):
            return _Val("Edm.Boolean", False, True)
        x, y = a.data, b.data
        if ca == "guid":
            x = x if _is_array(x) else x.lower()
            y = y if _is_array(y) else y.lower()
        return _Val("Edm.Boolean", _compare_objects(op, x, y, n), null)
    return _Val("Edm.Boolean", _NP_COMPARE[op](a.data, b.data), null)


def _arith(op: str, a: _Val, b: _Val, pos: int) -> _Val:
    ca, cb = _category(a.edm), _category(b.edm)
    if ca not in ("int", "float", "null") or cb not in ("int", "float", "null"):
        raise _incompatible(op, a, b, pos)
    if ca == "null" or cb == "null":
        edm = b.edm if ca == "null" else a.edm
        return _Val(edm if edm != "null" else "Edm.Int32", 0, True)
    null = np.logical_or(a.null, b.null)
    if ca == "int" and cb == "int":
        edm = "Edm.Int64" if "Edm.Int64" in (a.edm, b.edm) else "Edm.Int32"
        x, y = np.int64(a.data) if not _is_array(a.data) else a.data, b.data
        if op in ("add", "sub", "mul"):
            with np.errstate(over="ignore"):
                fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply}[op]
                return _Val(edm, fn(x, y), null)
        zero = np.equal(y, 0)
        safe = np.where(zero, 1, y)
        rem = np.fmod(x, safe)
        data = rem if op == "mod" else (np.subtract(x, rem) // safe)
        return _Val(edm, data, np.logical_or(null, zero))
    x, y = np.float64(a.data) if not _is_array(a.data) else a.data, b.data
    with np.errstate(all="ignore"):
        fns = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "mod": np.fmod}
        return _Val("Edm.Double", fns[op](x, y), null)


def _apply_str(fn: Callable[..., Any], args: list[_Val], n: int) -> list[Any] | Any:
    """Applies ``fn`` row-wise to string/int arguments; a null argument gives None."""
    raw = [v.data if v.edm != "null" else None for v in args]
    arrays = [i for i, v in enumerate(args) if _is_array(v.data)]
    if not arrays:
        return None if any(x is None for x in raw) else fn(*raw)
    if any(not _is_array(x) and x is None for x in raw):
        return [None] * n
    if len(arrays) == 1:
        k = arrays[0]
        col = args[k].data
        if args[k].edm not in ("Edm.String", "Edm.Guid"):
            col = np.where(args[k].null, None, col.astype(object))
        before, after = raw[:k], raw[k + 1 :]
        return [None if s is None else fn(*before, s, *after) for s in col]
    cols: list[Any] = []
    for v in args:
        if not _is_array(v.data):
            cols.append([v.data] * n)
        elif v.edm in ("Edm.String", "Edm.Guid"):
            cols.append(v.data)
        else:
            cols.append(np.where(v.null, None, v.data.astype(object)))
    return [None if any(x is None for x in xs) else fn(*xs) for xs in zip(*cols, strict=True)]


def _wrap(result: list[Any] | Any, edm: str, n: int) -> _Val:
    """Turns the output of :func:`_apply_str` into a :class:`_Val` of type ``edm``."""
    if not isinstance(result, list):
        if result is None:
            return _Val(edm, None if edm == "Edm.String" else 0, True)
        return _Val(edm, result, False)
    obj = np.empty(n, dtype=object)
    obj[:] = result
    nulls = object_nulls(obj)
    if edm == "Edm.String":
        return _Val(edm, obj, nulls)
    if edm == "Edm.Boolean":
        return _Val(edm, np.where(nulls, False, obj).astype(bool), nulls)
    return _Val(edm, np.where(nulls, 0, obj).astype(np.int64), nulls)


def _substring(s: str, start: int, length: int | None = None) -> str:
    start = max(int(start), 0)
    return s[start:] if length is None else s[start : start + max(int(length), 0)]


_STRING_FUNCS: dict[str, Callable[..., Any]] = {
    "substringof": lambda a, b: a in b,
    "startswith": lambda a, b: a.startswith(b),
    "endswith": lambda a, b: a.endswith(b),
    "tolower": str.lower,
    "toupper": str.upper,
    "trim": str.strip,
    "length": len,
    "indexof": lambda a, b: a.find(b),
    "substring": _substring,
    "concat": lambda a, b: a + b,
    "replace": lambda a, b, c: a.replace(b, c) if b else a,
}


def _fast_bool(name: str, args: list[_Val], n: int) -> _Val | None:
    """substringof/startswith/endswith of a column against a constant, without per-row calls."""
    a, b = args
    if name == "substringof" and not _is_array(a.data) and isinstance(a.data, str) and _is_array(b.data):
        pat, col = a.data, b.data
        data = np.fromiter((s is not None and pat in s for s in col), dtype=bool, count=n)
        return _Val("Edm.Boolean", data, b.null)
    if name in ("startswith", "endswith") and _is_array(a.data) and isinstance(b.data, str):
        pat, col = b.data, a.data
        if a.edm != "Edm.String":
            return None
        if name == "startswith":
            data = np.fromiter((s is not None and s.startswith(pat) for s in col), dtype=bool, count=n)
        else:
            data = np.fromiter((s is not None and s.endswith(pat) for s in col), dtype=bool, count=n)
        return _Val("Edm.Boolean", data, a.null)
    return None


def _date_part(name: str, v: _Val) -> _Val:
    ms = np.where(v.null, 0, v.data) if _is_array(v.data) else (0 if v.null else v.data)
    stamp = np.asarray(ms, dtype=np.int64).astype("datetime64[ms]")
    if name == "year":
        part = stamp.astype("datetime64[Y]").astype(np.int64) + 1970
    elif name == "month":
        part = stamp.astype("datetime64[M]").astype(np.int64) % 12 + 1
    elif name == "day":
        part = (stamp.astype("datetime64[D]") - stamp.astype("datetime64[M]")).astype(np.int64) + 1
    else:
        unit = {"hour": 3_600_000, "minute": 60_000, "second": 1000}[name]
        mod = {"hour": 24, "minute": 60, "second": 60}[name]
        part = np.floor_divide(np.asarray(ms, dtype=np.int64), unit) % mod
    if not _is_array(v.data):
        return _Val("Edm.Int32", int(part), v.null)
    return _Val("Edm.Int32", part, v.null)


_ACCEPTS = {
    "S": ("string", "null"),
    "I": ("int", "null"),
    "F": ("int", "float", "null"),
    "D": ("date", "null"),
}


def _check_args(call: Call, args: list[_Val]) -> str:
    """The result type of ``call`` given its evaluated argument types; raises if none fits."""
    for sig, result in FUNCTIONS[call.name]:
        if len(sig) != len(args):
            continue
        ok = all(_category(v.edm) in _ACCEPTS[want] for want, v in zip(sig, args, strict=True))
        if ok:
            return result
    raise no_applicable(call.name, call.pos)


def _call(call: Call, args: list[_Val], n: int) -> _Val:
    result = _check_args(call, args)
    name = call.name
    if name in ("year", "month", "day", "hour", "minute", "second"):
        if args[0].edm == "null":
            return _Val(result, 0, True)
        return _date_part(name, args[0])
    if name in ("round", "floor", "ceiling"):
        v = args[0]
        if v.edm == "null":
            return _Val(result, 0.0, True)
        x = np.asarray(v.data, dtype=np.float64)
        # .NET Math.Round(double) rounds half to even, like numpy.
        out = np.round(x) if name == "round" else np.floor(x) if name == "floor" else np.ceil(x)
        return _Val(result, out if _is_array(v.data) else float(out), v.null)
    if name in ("substringof", "startswith", "endswith"):
        fast = _fast_bool(name, args, n)
        if fast is not None:
            return fast
    if name in ("tolower", "toupper") and _is_array(args[0].data):
        col = args[0].data
        if name == "tolower":
            lst = [None if s is None else s.lower() for s in col]
        else:
            lst = [None if s is None else s.upper() for s in col]
        return _wrap(lst, result, n)
    return _wrap(_apply_str(_STRING_FUNCS[name], args, n), result, n)


class _Evaluator:
    def __init__(
        self, get_column: ColumnGetter, n: int, field_types: dict[str, str], entity_type: str
    ) -> None:
        self.get_column = get_column
        self.n = n
        self.field_types = field_types
        self.entity_type = entity_type
        self.cache: dict[str, _Val] = {}

    def field(self, node: Field) -> _Val:
        cached = self.cache.get(node.name)
        if cached is not None:
            return cached
        edm = self.field_types.get(node.name)
        if edm is None:
            raise ODataError(
                f"No property '{node.name}' exists in type '{self.entity_type}' at position {node.pos}.",
                node.pos,
            )
        val = _column_val(self.get_column(node.name), edm)
        self.cache[node.name] = val
        return val

    def boolean(self, node: Node, op: str, pos: int) -> _Val:
        v = self.eval(node)
        if v.edm not in ("Edm.Boolean", "null"):
            raise ODataError(
                f"Operator '{op}' incompatible with operand type '{v.edm}' at position {pos}.", pos
            )
        return v

    def logical(self, node: And | Or) -> _Val:
        kind = And if isinstance(node, And) else Or
        op = "and" if kind is And else "or"
        operands = flatten(node, kind)
        first = self.boolean(operands[0], op, node.pos)
        true, false = _bool_parts(first)
        for operand in operands[1:]:
            t, f = _bool_parts(self.boolean(operand, op, node.pos))
            if kind is And:
                true, false = np.logical_and(true, t), np.logical_or(false, f)
            else:
                true, false = np.logical_or(true, t), np.logical_and(false, f)
        return _from_parts(true, false)

    def eval(self, node: Node) -> _Val:
        if isinstance(node, Field):
            return self.field(node)
        if isinstance(node, Literal):
            return _literal_val(node)
        if isinstance(node, Compare):
            return _compare(node.op, self.eval(node.left), self.eval(node.right), node.pos, self.n)
        if isinstance(node, And | Or):
            return self.logical(node)
        if isinstance(node, Not):
            true, false = _bool_parts(self.boolean(node.operand, "not", node.pos))
            return _from_parts(false, true)
        if isinstance(node, Arith):
            return _arith(node.op, self.eval(node.left), self.eval(node.right), node.pos)
        return _call(node, [self.eval(arg) for arg in node.args], self.n)


def evaluate(
    node: Node,
    get_column: ColumnGetter,
    n_rows: int,
    field_types: dict[str, str],
    entity_type: str = DEFAULT_ENTITY_TYPE,
) -> BoolArray:
    """The rows (a bool mask of length ``n_rows``) for which the filter is true.

    ``get_column(name)`` returns a column of ``n_rows`` values (values.py conventions);
    ``field_types`` maps property names (case-sensitive) to Edm types. SQL three-valued logic:
    a comparison involving null is unknown (so not selected), except ``eq null``/``ne null``.
    """
    ev = _Evaluator(get_column, n_rows, field_types, entity_type)
    try:
        result = ev.eval(node)
    except RecursionError:
        raise ODataError("Recursion limit reached while evaluating the query.", 0) from None
    if result.edm not in ("Edm.Boolean", "null"):
        raise _type_mismatch(0)
    true, _ = _bool_parts(result)
    mask = np.asarray(true, dtype=bool)
    if mask.shape != (n_rows,):
        mask = np.broadcast_to(mask, (n_rows,)).copy()
    return mask

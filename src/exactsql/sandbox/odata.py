"""OData v2 `$filter`, `$orderby` and `$select` for the sandbox, evaluated vectorised over numpy columns."""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from exactsql.sandbox.values import NULL_DATE, cet_ms

__all__ = [
    "And",
    "Arith",
    "Call",
    "Compare",
    "Field",
    "Literal",
    "Node",
    "Not",
    "ODataError",
    "Or",
    "evaluate",
    "fields",
    "order_indexes",
    "parse_filter",
    "parse_orderby",
    "parse_select",
    "timestamp_lower_bound",
]

DEFAULT_ENTITY_TYPE = "Exact.Web.Api.Models.Entity"
_MAX_DEPTH = 100

BoolArray: TypeAlias = npt.NDArray[np.bool_]
ColumnGetter: TypeAlias = Callable[[str], npt.NDArray[Any]]


class ODataError(ValueError):
    """A query option Exact (WCF Data Services) would reject with HTTP 400."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


# --------------------------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Field:
    """A property of the entity."""

    name: str
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Literal:
    """A constant; ``kind`` is string, guid, datetime, int, int64, double, bool or null."""

    value: Any
    kind: str
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Compare:
    """``left op right`` with op in eq ne gt ge lt le."""

    op: str
    left: Node
    right: Node
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    """Logical and."""

    left: Node
    right: Node
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Or:
    """Logical or."""

    left: Node
    right: Node
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    """Logical not."""

    operand: Node
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Call:
    """A function call; ``name`` is lower case."""

    name: str
    args: tuple[Node, ...]
    pos: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Arith:
    """``left op right`` with op in add sub mul div mod."""

    op: str
    left: Node
    right: Node
    pos: int = field(default=0, compare=False, repr=False)


Node: TypeAlias = Field | Literal | Compare | And | Or | Not | Call | Arith

_COMPARE_OPS = ("eq", "ne", "gt", "ge", "lt", "le")
_ADD_OPS = ("add", "sub")
_MUL_OPS = ("mul", "div", "mod")

# Function signatures: argument categories (S string, I integer, F number, D date) and result Edm type.
_FUNCTIONS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "substringof": [(("S", "S"), "Edm.Boolean")],
    "startswith": [(("S", "S"), "Edm.Boolean")],
    "endswith": [(("S", "S"), "Edm.Boolean")],
    "tolower": [(("S",), "Edm.String")],
    "toupper": [(("S",), "Edm.String")],
    "trim": [(("S",), "Edm.String")],
    "length": [(("S",), "Edm.Int32")],
    "indexof": [(("S", "S"), "Edm.Int32")],
    "substring": [(("S", "I"), "Edm.String"), (("S", "I", "I"), "Edm.String")],
    "concat": [(("S", "S"), "Edm.String")],
    "replace": [(("S", "S", "S"), "Edm.String")],
    "year": [(("D",), "Edm.Int32")],
    "month": [(("D",), "Edm.Int32")],
    "day": [(("D",), "Edm.Int32")],
    "hour": [(("D",), "Edm.Int32")],
    "minute": [(("D",), "Edm.Int32")],
    "second": [(("D",), "Edm.Int32")],
    "round": [(("F",), "Edm.Double")],
    "floor": [(("F",), "Edm.Double")],
    "ceiling": [(("F",), "Edm.Double")],
}
_CATEGORY_NAMES = {"S": "Edm.String", "I": "Edm.Int32", "F": "Edm.Double", "D": "Edm.DateTime"}


def _signatures(name: str) -> str:
    return "; ".join(f"{name}({', '.join(_CATEGORY_NAMES[c] for c in args)})" for args, _ in _FUNCTIONS[name])


def _no_applicable(name: str, pos: int) -> ODataError:
    return ODataError(
        f"No applicable function found for '{name}' at position {pos} with the specified arguments. "
        f"The functions considered are: {_signatures(name)}.",
        pos,
    )


# ------------------------------------------------------------------------------------------- lexer


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ident, literal, (, ), ",", -, eof
    text: str
    pos: int
    literal: Literal | None = None


_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?([mMdDfFlL])?", re.ASCII)
_DIGITS = frozenset("0123456789")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GUID = re.compile(
    r"\{?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})\}?"
)
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?(Z|[+-]\d{2}:\d{2})?"
)
_TYPED_PREFIXES = {
    "guid": "Edm.Guid",
    "datetime": "Edm.DateTime",
    "datetimeoffset": "Edm.DateTimeOffset",
    "time": "Edm.Time",
    "binary": "Edm.Binary",
    "x": "Edm.Binary",
}
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _syntax_error(pos: int, text: str) -> ODataError:
    return ODataError(f"Syntax error at position {pos} in '{text}'.", pos)


def _unrecognized(edm: str, literal: str, pos: int, text: str) -> ODataError:
    return ODataError(f"Unrecognized '{edm}' literal '{literal}' in '{text}' at position {pos}.", pos)


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The unescaped content of the quoted string at ``start`` and the index after its closing quote."""
    i = start + 1
    parts: list[str] = []
    while True:
        end = text.find("'", i)
        if end < 0:
            raise ODataError(f"Unterminated string literal at position {start} in '{text}'.", start)
        parts.append(text[i:end])
        if end + 1 < len(text) and text[end + 1] == "'":
            parts.append("'")
            i = end + 2
            continue
        return "".join(parts), end + 1


def _parse_datetime(content: str) -> int | None:
    m = _DATETIME.fullmatch(content)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro
        )
    except ValueError:
        return None
    if zone:
        offset = dt.timedelta(0)
        if zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            offset = sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        moment = moment.replace(tzinfo=dt.timezone(offset))
    return cet_ms(moment)


def _typed_literal(prefix: str, content: str, raw: str, pos: int, text: str) -> Literal:
    edm = _TYPED_PREFIXES[prefix]
    if edm == "Edm.Guid":
        m = _GUID.fullmatch(content)
        braces_ok = content.startswith("{") == content.endswith("}")
        if m is None or not braces_ok:
            raise _unrecognized(edm, raw, pos, text)
        return Literal("-".join(m.groups()).lower(), "guid", pos)
    if edm in ("Edm.DateTime", "Edm.DateTimeOffset"):
        ms = _parse_datetime(content)
        if ms is None:
            raise _unrecognized(edm, raw, pos, text)
        return Literal(ms, "datetime", pos)
    raise _unrecognized(edm, raw, pos, text)


def _number_literal(m: re.Match[str], negative: bool, pos: int, text: str) -> Literal:
    raw = ("-" if negative else "") + m.group(0)
    is_real = m.group(1) is not None or m.group(2) is not None
    suffix = (m.group(3) or "").lower()
    body = raw[:-1] if suffix else raw
    if suffix == "l":
        if is_real:
            raise _unrecognized("Edm.Int64", raw, pos, text)
        value = int(body)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _unrecognized("Edm.Int64", raw, pos, text)
        return Literal(value, "int64", pos)
    if is_real or suffix:
        return Literal(float(body), "double", pos)
    value = int(body)
    if _INT32_MIN <= value <= _INT32_MAX:
        return Literal(value, "int", pos)
    if _INT64_MIN <= value <= _INT64_MAX:
        return Literal(value, "int64", pos)
    raise _unrecognized("Edm.Int64", raw, pos, text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            tokens.append(_Token("eof", "", n))
            return tokens
        ch = text[i]
        if ch in "(),":
            tokens.append(_Token(ch, ch, i))
            i += 1
        elif ch == "'":
            value, end = _read_quoted(text, i)
            tokens.append(_Token("literal", text[i:end], i, Literal(value, "string", i)))
            i = end
        elif ch in _DIGITS or (ch == "-" and i + 1 < n and text[i + 1] in _DIGITS):
            start = i + (ch == "-")
            m = _NUMBER.match(text, start)
            assert m is not None
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] in "_."):
                raise _syntax_error(end, text)
            lit = _number_literal(m, ch == "-", i, text)
            tokens.append(_Token("literal", text[i:end], i, lit))
            i = end
        elif ch == "-":
            tokens.append(_Token("-", ch, i))
            i += 1
        else:
            m = _IDENT.match(text, i)
            if m is None:
                raise _syntax_error(i, text)
            end = m.end()
            word = m.group(0)
            if end < n and text[end] == "'":
                prefix = word.lower()
                if prefix not in _TYPED_PREFIXES:
                    raise _syntax_error(end, text)
                content, close = _read_quoted(text, end)
                lit = _typed_literal(prefix, content, text[i:close], i, text)
                tokens.append(_Token("literal", text[i:close], i, lit))
                i = close
            else:
                tokens.append(_Token("ident", word, i))
                i = end


# ------------------------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _keyword(self, words: tuple[str, ...]) -> str | None:
        tok = self.tok
        if tok.kind == "ident" and tok.text.lower() in words:
            return tok.text.lower()
        return None

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ODataError("Recursion limit reached while parsing the query.", self.tok.pos)

    def parse(self) -> Node:
        node = self.parse_or()
        if self.tok.kind != "eof":
            raise _syntax_error(self.tok.pos, self.text)
        return node

    def parse_or(self) -> Node:
        left = self.parse_and()
        while self._keyword(("or",)):
            pos = self.tok.pos
            self.i += 1
            left = Or(left, self.parse_and(), pos)
        return left

    def parse_and(self) -> Node:
        left = self.parse_comparison()
        while self._keyword(("and",)):
            pos = self.tok.pos
            self.i += 1
            left = And(left, self.parse_comparison(), pos)
        return left

    def parse_comparison(self) -> Node:
        left = self.parse_additive()
        while (op := self._keyword(_COMPARE_OPS)) is not None:
            pos = self.tok.pos
            self.i += 1
            left = Compare(op, left, self.parse_additive(), pos)
        return left

    def parse_additive(self) -> Node:
        left = self.parse_multiplicative()
        while (op := self._keyword(_ADD_OPS)) is not None:
            pos = self.tok.pos
            self.i += 1
            left = Arith(op, left, self.parse_multiplicative(), pos)
        return left

    def parse_multiplicative(self) -> Node:
        left = self.parse_unary()
        while (op := self._keyword(_MUL_OPS)) is not None:
            pos = self.tok.pos
            self.i += 1
            left = Arith(op, left, self.parse_unary(), pos)
        return left

    def parse_unary(self) -> Node:
        tok = self.tok
        if self._keyword(("not",)) or tok.kind == "-":
            self.i += 1
            self._enter()
            operand = self.parse_unary()
            self.depth -= 1
            if tok.kind == "-":
                return Arith("sub", Literal(0, "int", tok.pos), operand, tok.pos)
            return Not(operand, tok.pos)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "literal":
            assert tok.literal is not None
            self.i += 1
            return tok.literal
        if tok.kind == "(":
            self.i += 1
            self._enter()
            node = self.parse_or()
            self.depth -= 1
            self._expect(")")
            return node
        if tok.kind == "ident":
            word = tok.text.lower()
            self.i += 1
            if word in ("true", "false"):
                return Literal(word == "true", "bool", tok.pos)
            if word == "null":
                return Literal(None, "null", tok.pos)
            if self.tok.kind == "(":
                return self.parse_call(tok)
            return Field(tok.text, tok.pos)
        raise _syntax_error(tok.pos, self.text)

    def parse_call(self, name_tok: _Token) -> Node:
        name = name_tok.text.lower()
        if name not in _FUNCTIONS:
            raise ODataError(f"Unknown function '{name_tok.text}' at position {name_tok.pos}.", name_tok.pos)
        self._expect("(")
        self._enter()
        args: list[Node] = []
        if self.tok.kind != ")":
            args.append(self.parse_or())
            while self.tok.kind == ",":
                self.i += 1
                args.append(self.parse_or())
        self.depth -= 1
        self._expect(")")
        if all(len(sig) != len(args) for sig, _ in _FUNCTIONS[name]):
            raise _no_applicable(name, name_tok.pos)
        return Call(name, tuple(args), name_tok.pos)

    def _expect(self, kind: str) -> None:
        if self.tok.kind != kind:
            raise _syntax_error(self.tok.pos, self.text)
        self.i += 1


def parse_filter(text: str) -> Node:
    """Parses a (URL-decoded) ``$filter`` expression; raises :class:`ODataError` on bad syntax."""
    return _Parser(text).parse()


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Compare | And | Or | Arith):
        return (node.left, node.right)
    if isinstance(node, Not):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    return ()


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_children(current)))


def fields(node: Node) -> set[str]:
    """Every property name the filter references."""
    return {n.name for n in _walk(node) if isinstance(n, Field)}


def _flatten(node: Node, kind: type[And] | type[Or]) -> list[Node]:
    """The operands of a chain of ``kind`` (And or Or), left to right, without recursion."""
    out: list[Node] = []
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, kind):
            stack.append(current.right)
            stack.append(current.left)
        else:
            out.append(current)
    return out


_MIRROR = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq", "ne": "ne"}


def timestamp_lower_bound(node: Node, name: str = "Timestamp") -> int | None:
    """The exclusive lower bound on ``Timestamp`` implied by top-level ``gt``/``ge`` conjuncts, if any."""
    best: int | None = None
    for conjunct in _flatten(node, And):
        if not isinstance(conjunct, Compare):
            continue
        op, left, right = conjunct.op, conjunct.left, conjunct.right
        if isinstance(left, Literal) and isinstance(right, Field):
            op, left, right = _MIRROR[op], right, left
        if not (isinstance(left, Field) and left.name == name and isinstance(right, Literal)):
            continue
        if right.kind not in ("int", "int64") or op not in ("gt", "ge"):
            continue
        bound = int(right.value) if op == "gt" else int(right.value) - 1
        best = bound if best is None else max(best, bound)
    return best


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


def _object_nulls(arr: npt.NDArray[Any]) -> BoolArray:
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
        return _Val(edm, arr, _object_nulls(arr))
    if cat == "float":
        if arr.dtype == object:
            nulls = _object_nulls(arr)
            data = np.where(nulls, np.nan, arr).astype(np.float64)
        else:
            data = arr.astype(np.float64, copy=False)
        return _Val(edm, data, np.isnan(data))
    if cat == "int":
        if arr.dtype == object:
            nulls = _object_nulls(arr)
            return _Val(edm, np.where(nulls, 0, arr).astype(np.int64), nulls)
        return _Val(edm, arr.astype(np.int64, copy=False), False)
    if cat == "bool":
        if arr.dtype == object:
            nulls = _object_nulls(arr)
            return _Val(edm, np.where(nulls, False, arr).astype(bool), nulls)
        return _Val(edm, arr.astype(bool, copy=False), False)
    # dates
    if arr.dtype == object:
        nulls = _object_nulls(arr)
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
    nulls = _object_nulls(obj)
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
    for sig, result in _FUNCTIONS[call.name]:
        if len(sig) != len(args):
            continue
        ok = all(_category(v.edm) in _ACCEPTS[want] for want, v in zip(sig, args, strict=True))
        if ok:
            return result
    raise _no_applicable(call.name, call.pos)


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
        operands = _flatten(node, kind)
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


# ---------------------------------------------------------------------------------------- $orderby


def parse_orderby(
    text: str, field_types: dict[str, str], entity_type: str = DEFAULT_ENTITY_TYPE
) -> list[tuple[str, bool]]:
    """``"Field asc, Field2 desc"`` → ``[("Field", False), ("Field2", True)]`` (True = descending)."""
    keys: list[tuple[str, bool]] = []
    offset = 0
    for part in text.split(","):
        words = [(m.group(0), offset + m.start()) for m in re.finditer(r"\S+", part)]
        end = offset + len(part)
        offset = end + 1
        if not words:
            raise _syntax_error(end, text)
        name, pos = words[0]
        if _IDENT.fullmatch(name) is None:
            raise _syntax_error(pos, text)
        if name not in field_types:
            raise ODataError(f"No property '{name}' exists in type '{entity_type}' at position {pos}.", pos)
        descending = False
        if len(words) >= 2:
            direction, dpos = words[1]
            if direction.lower() not in ("asc", "desc"):
                raise _syntax_error(dpos, text)
            descending = direction.lower() == "desc"
        if len(words) > 2:
            raise _syntax_error(words[2][1], text)
        keys.append((name, descending))
    return keys


def _sort_rank(col: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Dense ranks of ``col`` with nulls (None, NaN, NULL_DATE) ranked lowest (-1)."""
    if col.dtype == object:
        nulls = _object_nulls(col)
    elif col.dtype.kind == "f":
        nulls = np.isnan(col)
    elif col.dtype.kind in "iu":
        nulls = col == NULL_DATE
    else:
        nulls = np.zeros(len(col), dtype=bool)
    ranks = np.full(len(col), -1, dtype=np.int64)
    present = ~nulls
    if present.any():
        _, inverse = np.unique(col[present], return_inverse=True)
        ranks[present] = inverse.reshape(-1)
    return ranks


def order_indexes(
    indexes: npt.NDArray[Any], keys: list[tuple[str, bool]], get_column: ColumnGetter
) -> npt.NDArray[Any]:
    """``indexes`` stably sorted by ``keys`` (name, descending); nulls first ascending, last descending.

    ``get_column(name)`` returns the full column, which is indexed with ``indexes``.
    """
    indexes = np.asarray(indexes)
    if not keys or len(indexes) < 2:
        return indexes.copy()
    sort_keys: list[npt.NDArray[np.int64]] = []
    for name, descending in keys:
        ranks = _sort_rank(np.asarray(get_column(name))[indexes])
        sort_keys.append(-ranks if descending else ranks)
    order = np.lexsort(sort_keys[::-1])
    return indexes[order]


# ----------------------------------------------------------------------------------------- $select


def parse_select(text: str, field_names: list[str], entity_type: str = DEFAULT_ENTITY_TYPE) -> list[str]:
    """The properties named in ``$select`` (``*`` = all), canonical spelling, duplicates removed."""
    canonical: dict[str, str] = {}
    for name in field_names:
        canonical.setdefault(name.lower(), name)
    if not text.strip():
        return list(field_names)
    chosen: dict[str, None] = {}
    offset = 0
    for part in text.split(","):
        item = part.strip()
        pos = offset + (len(part) - len(part.lstrip()))
        offset += len(part) + 1
        if not item:
            raise _syntax_error(pos, text)
        if item == "*":
            for name in field_names:
                chosen.setdefault(name, None)
            continue
        found = canonical.get(item.lower())
        if found is None:
            raise ODataError(f"Could not find a property named '{item}' on type '{entity_type}'.", pos)
        chosen.setdefault(found, None)
    return list(chosen)

"""OData v2 ``$filter`` syntax for the sandbox: the expression tree, the lexer and the parser."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from exactsql.sandbox.values import cet_ms

DEFAULT_ENTITY_TYPE = "Exact.Web.Api.Models.Entity"
_MAX_DEPTH = 100


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
FUNCTIONS: dict[str, list[tuple[tuple[str, ...], str]]] = {
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
    return "; ".join(f"{name}({', '.join(_CATEGORY_NAMES[c] for c in args)})" for args, _ in FUNCTIONS[name])


def no_applicable(name: str, pos: int) -> ODataError:
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
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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


def syntax_error(pos: int, text: str) -> ODataError:
    return ODataError(f"Syntax error at position {pos} in '{text}'.", pos)


class LiteralError(ODataError):
    """A literal of the wrong form, e.g. ``guid'xyz'``; worded as WCF does (``short()``: as ELMAS records)."""

    def __init__(self, edm: str, literal: str, pos: int, text: str) -> None:
        super().__init__(f"Unrecognized '{edm}' literal '{literal}' at '{pos}' in '{text}'.", pos)
        self.edm, self.literal = edm, literal

    def short(self) -> str:
        """The wording of the recorded Exact response: ``… literal 'guid'x'' in '6'.``"""
        return f"Unrecognized '{self.edm}' literal '{self.literal}' in '{self.position}'."


def _unrecognized(edm: str, literal: str, pos: int, text: str) -> ODataError:
    return LiteralError(edm, literal, pos, text)


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
                raise syntax_error(end, text)
            lit = _number_literal(m, ch == "-", i, text)
            tokens.append(_Token("literal", text[i:end], i, lit))
            i = end
        elif ch == "-":
            tokens.append(_Token("-", ch, i))
            i += 1
        else:
            m = IDENT.match(text, i)
            if m is None:
                raise syntax_error(i, text)
            end = m.end()
            word = m.group(0)
            if end < n and text[end] == "'":
                prefix = word.lower()
                if prefix not in _TYPED_PREFIXES:
                    raise syntax_error(end, text)
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
            raise syntax_error(self.tok.pos, self.text)
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
        raise syntax_error(tok.pos, self.text)

    def parse_call(self, name_tok: _Token) -> Node:
        name = name_tok.text.lower()
        if name not in FUNCTIONS:
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
        if all(len(sig) != len(args) for sig, _ in FUNCTIONS[name]):
            raise no_applicable(name, name_tok.pos)
        return Call(name, tuple(args), name_tok.pos)

    def _expect(self, kind: str) -> None:
        if self.tok.kind != kind:
            raise syntax_error(self.tok.pos, self.text)
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


def flatten(node: Node, kind: type[And] | type[Or]) -> list[Node]:
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
    for conjunct in flatten(node, And):
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

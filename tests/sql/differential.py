"""Differential testing of the engine: random queries answered by exactsql on the built-in sandbox (planner,
pushdown to ``$filter``, endpoints, semi-joins, division pruning, fetches, DuckDB) and by DuckDB alone over the
sandbox's own rows (``/_sandbox/snapshot/…``, the truth), compared row for row.

The truth gives every column the meaning Exact gives it: GUIDs compare case-insensitively, amounts are exact
decimals. Both sides read the same SQL (the dialect's translation to DuckDB); only the data path differs.
Used by ``tests/sql/test_differential.py`` (a few hundred queries) and ``benchmarks/differential.py``.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb
import orjson
import pyarrow as pa
from sqlglot import exp

from exactsql.api.convert import page_to_arrow
from exactsql.catalog import Column, load_catalog
from exactsql.sql import types
from exactsql.sql.dialect import SQLError, now_literals, parse_statement, rewrite_functions, to_duckdb
from exactsql.sql.engine import Engine
from exactsql.sql.names import NameResolver
from exactsql.sql.types import MONEY_TYPE, is_money
from tests.sql.inprocess import sandbox, session


@dataclass(frozen=True)
class Col:
    """A column the generator uses, and what kind of values it holds."""

    name: str
    kind: str  # guid, str, int, money, float, date, bool


@dataclass(frozen=True)
class Tab:
    """A table the generator uses: its catalog name, a short alias, its key and its columns."""

    entity: str
    name: str
    key: str
    columns: tuple[Col, ...]


def _cols(spec: str) -> tuple[Col, ...]:
    return tuple(Col(*item.split(":")) for item in spec.split())


TABLES = [
    Tab("financialtransaction/TransactionLines", "transactionlines", "ID", _cols(
        "ID:guid Account:guid AccountCode:str AccountName:str AmountDC:money AmountFC:money AmountVATFC:money "
        "Date:date Description:str EntryNumber:int FinancialYear:int FinancialPeriod:int GLAccount:guid "
        "GLAccountCode:str InvoiceNumber:int JournalCode:str LineNumber:int Quantity:float Type:int VATCode:str "
        "YourRef:str DueDate:date Division:int")),
    Tab("financial/GLAccounts", "glaccounts", "ID", _cols(
        "ID:guid Code:str Description:str BalanceSide:str BalanceType:str Type:int Matching:bool Created:date "
        "Division:int")),
    Tab("crm/Accounts", "accounts", "ID", _cols(
        "ID:guid Code:str Name:str City:str Postcode:str Status:str IsSales:bool IsSupplier:bool "
        "CreditLineSales:float StartDate:date Division:int")),
    Tab("salesinvoice/SalesInvoices", "salesinvoices", "InvoiceID", _cols(
        "InvoiceID:guid InvoiceNumber:int InvoiceTo:guid InvoiceToName:str AmountDC:money VATAmountDC:money "
        "InvoiceDate:date DueDate:date Description:str Type:int PaymentCondition:str YourRef:str Division:int")),
    Tab("salesinvoice/SalesInvoiceLines", "salesinvoicelines", "ID", _cols(
        "ID:guid InvoiceID:guid AmountDC:money Quantity:float UnitPrice:float Item:guid ItemCode:str "
        "Description:str LineNumber:int VATCode:str Division:int")),
    Tab("logistics/Items", "items", "ID", _cols(
        "ID:guid Code:str Description:str CostPriceStandard:float IsSalesItem:bool Unit:str Created:date "
        "Division:int")),
]  # fmt: skip
BY_NAME = {t.name: t for t in TABLES}
LINKS = [  # (table, column) = (table, column): the foreign keys of the books
    ("transactionlines", "GLAccount", "glaccounts", "ID"),
    ("transactionlines", "Account", "accounts", "ID"),
    ("salesinvoices", "InvoiceTo", "accounts", "ID"),
    ("salesinvoicelines", "InvoiceID", "salesinvoices", "InvoiceID"),
    ("salesinvoicelines", "Item", "items", "ID"),
    ("transactionlines", "InvoiceNumber", "salesinvoices", "InvoiceNumber"),
]


# -- the truth ------------------------------------------------------------------------------------------


class Truth:
    """DuckDB over the sandbox's rows of every generator table in every division, typed as Exact means them."""

    def __init__(self, divisions: list[int]) -> None:
        self.divisions = divisions
        self.con = types.connect()  # with the dialect's functions, as the engine's
        self.values: dict[tuple[str, str], list[object]] = {}
        catalog = load_catalog()
        for tab in TABLES:
            table = catalog.table(tab.entity)
            path = table.path("sync") or table.paths[0]
            columns = [c for c in path.columns if c.edm.startswith("Edm.")]
            if all(c.name != "Division" for c in columns):
                columns.append(Column("Division", "Edm.Int32"))
            parts = [self._rows(tab.entity, d, columns) for d in divisions]
            rows = pa.concat_tables(parts)
            self.con.register(f"{tab.name}__rows", rows)
            select = ", ".join(self._typed(c) for c in columns)
            self.con.execute(f'CREATE VIEW "t_{tab.name}" AS SELECT {select} FROM "{tab.name}__rows"')
            for col in tab.columns:
                values = [v for v in rows.column(col.name).to_pylist() if v is not None]
                self.values[(tab.name, col.name)] = sorted(set(values), key=str)

    @staticmethod
    def _typed(column: Column) -> str:
        name = f'"{column.name}"'
        if column.edm == "Edm.Guid":
            return f"{name} COLLATE NOCASE AS {name}"  # Exact's GUIDs have no case
        if is_money(column):
            return f"CAST({name} AS {MONEY_TYPE}) AS {name}"  # amounts are exact
        return name

    @staticmethod
    def _rows(entity: str, division: int, columns: list[Column]) -> pa.Table:
        response = session().http.get(f"/_sandbox/snapshot/{division}/{entity}")
        response.raise_for_status()
        rows = response.json()["rows"]
        for row in rows:
            row.setdefault("Division", division)
        return page_to_arrow(orjson.dumps({"d": {"results": rows}}), columns)

    def sample(self, rng: random.Random, table: str, column: str) -> object:
        """A value the column holds (or None when it holds none)."""
        values = self.values.get((table, column)) or []
        return rng.choice(values) if values else None

    def answer(self, sql: str) -> list[tuple]:
        """The rows of ``sql`` (Invantive SQL over the generator's tables) over the truth."""
        tree = parse_statement(sql)
        resolver = NameResolver(load_catalog())
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for node in list(tree.find_all(exp.Table)):
            if not isinstance(node.this, exp.Identifier) or (not node.db and node.name.lower() in ctes):
                continue
            ref = resolver.resolve(node)
            assert ref.table is not None
            name = next(t.name for t in TABLES if t.entity == ref.table.full_name)
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
            node.replace(exp.Table(this=exp.to_identifier(f"t_{name}"), alias=alias))
        sysdate, sysdateutc = now_literals()
        tree = rewrite_functions(tree, sysdate, sysdateutc)
        return rows_of(self.con.sql(to_duckdb(tree)).to_arrow_table())


def rows_of(table: pa.Table) -> list[tuple]:
    """The rows of ``table``, every column kept."""
    columns = [c.to_pylist() for c in table.columns]
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(table.num_rows)]


def _norm(value: object) -> tuple:
    """A sortable, comparable form of a value (floats to 9 significant digits, decimals exact, and never
    equal to each other)."""
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | Decimal):
        return (2, Decimal(value))
    if isinstance(value, float):  # not equal to a decimal: an amount must come back exact
        if not math.isfinite(value):
            return (3, repr(value))
        return (3, Decimal(f"{value:.9g}"))
    if isinstance(value, dt.datetime | dt.date):
        return (4, value.isoformat())
    if isinstance(value, str):
        return (5, value)
    return (6, repr(value))


def same(a: list[tuple], b: list[tuple]) -> bool:
    """Whether two results hold the same rows (in any order)."""
    return sorted(tuple(_norm(v) for v in r) for r in a) == sorted(tuple(_norm(v) for v in r) for r in b)


# -- queries --------------------------------------------------------------------------------------------


@dataclass
class Gen:
    """Generates queries over the generator's tables, with values drawn from the truth."""

    rng: random.Random
    truth: Truth
    aliases: list[str] = field(default_factory=list)

    def literal(self, kind: str, value: object) -> str:
        if value is None:
            return "null"
        if kind == "guid":
            text = str(value)
            style = self.rng.random()
            return (
                "'" + (text.upper() if style < 0.4 else _mixed(text, self.rng) if style < 0.6 else text) + "'"
            )
        if kind == "str":
            return "'" + str(value).replace("'", "''") + "'"
        if kind == "date":
            moment = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())  # type: ignore[arg-type]
            if self.rng.random() < 0.5:
                return f"date '{moment.date().isoformat()}'"
            return f"timestamp '{moment.isoformat(sep=' ')}'"
        if kind == "bool":
            return "true" if value else "false"
        if kind in ("money", "float"):
            return format(Decimal(str(value)), "f")
        return str(value)

    def value(self, table: str, col: Col) -> object:
        """A value of the column: mostly one it holds, sometimes one it does not."""
        held = self.truth.sample(self.rng, table, col.name)
        r = self.rng.random()
        if held is None or r < 0.15:
            return _foreign(col.kind, self.rng, held)
        return held

    def predicate(self, alias: str, table: str, depth: int = 0) -> str:
        """A predicate on one reference: comparisons, IN, BETWEEN, LIKE, NULL tests, AND/OR/NOT of them."""
        r = self.rng.random()
        if depth < 2 and r < 0.15:
            return f"({self.predicate(alias, table, depth + 1)} or {self.predicate(alias, table, depth + 1)})"
        if depth < 2 and r < 0.25:
            return (
                f"({self.predicate(alias, table, depth + 1)} and {self.predicate(alias, table, depth + 1)})"
            )
        if depth < 2 and r < 0.30:
            return f"not ({self.predicate(alias, table, depth + 1)})"
        col = self.rng.choice(BY_NAME[table].columns)
        return self.atom(alias, table, col)

    def atom(self, alias: str, table: str, col: Col) -> str:
        ref = f"{alias}.{col.name.lower() if self.rng.random() < 0.5 else col.name}"
        lit = lambda: self.literal(col.kind, self.value(table, col))  # noqa: E731
        choices: list[Callable[[], str]] = [
            lambda: f"{ref} = {lit()}",
            lambda: f"{ref} <> {lit()}",
            lambda: f"{ref} in ({', '.join(lit() for _ in range(self.rng.randint(1, 4)))})",
            lambda: f"{ref} not in ({', '.join(lit() for _ in range(self.rng.randint(1, 3)))})",
            lambda: f"{ref} is null",
            lambda: f"{ref} is not null",
            lambda: f"{lit()} = {ref}",
        ]
        if col.kind in ("int", "money", "float", "date", "str"):
            choices += [
                lambda: f"{ref} {self.rng.choice(['<', '<=', '>', '>='])} {lit()}",
                lambda: f"{ref} between {lit()} and {lit()}",
                lambda: f"{ref} not between {lit()} and {lit()}",
            ]
        if col.kind == "str":
            choices += [lambda: f"{ref} {self._like(table, col)}" for _ in range(3)]
            choices += [lambda: f"upper({ref}) = upper({lit()})", lambda: f"{ref} = 'O''Brien'"]
        if col.kind in ("int", "money", "float"):
            divisor = self.rng.choice(["2", "3", "0.5", "7", "-4"])
            choices += [
                lambda: f"{ref} / {divisor} {self.rng.choice(['<', '>', '>='])} {lit()}",
                lambda: f"{ref} * 2 = {ref} + {ref}",
            ]
        if col.kind == "bool":
            choices += [lambda: ref, lambda: f"not {ref}"]
        if col.kind == "guid":
            choices += [lambda: f"upper({ref}) = {lit()}", lambda: f"{ref} = 'not-a-guid'"]
        if col.name == "Division":
            divisions = self.truth.divisions
            choices += [
                lambda: f"{ref} = {self.rng.choice(divisions)}",
                lambda: f"{ref} in ({', '.join(map(str, self.rng.sample(divisions, 2)))})",
                lambda: f"{ref} <> {self.rng.choice(divisions)}",
                lambda: f"{ref} between {min(divisions)} and {self.rng.choice(divisions)}",
            ]
        return self.rng.choice(choices)()

    def _like(self, table: str, col: Col) -> str:
        held = str(self.truth.sample(self.rng, table, col.name) or "x")
        cut = max(1, len(held) // 2)
        pattern = self.rng.choice(
            [held[:cut] + "%", "%" + held[cut:], "%" + held[1:cut] + "%", held[:1] + "_" + held[2:], held, "%",
             held[:cut].upper() + "%", "%'%"]
        )  # fmt: skip
        negate = "not " if self.rng.random() < 0.2 else ""
        return f"{negate}like '{pattern.replace(chr(39), chr(39) * 2)}'"

    def where(self, alias: str, table: str) -> str:
        parts = [self.predicate(alias, table) for _ in range(self.rng.randint(1, 3))]
        return " and ".join(parts)

    def columns(self, alias: str, table: str, n: int | None = None) -> list[str]:
        cols = list(BY_NAME[table].columns)
        self.rng.shuffle(cols)
        return [f"{alias}.{c.name}" for c in cols[: n or self.rng.randint(1, 4)]]

    def query(self) -> str:
        shape = self.rng.choice(
            [self.single, self.single, self.aggregate, self.join, self.join, self.left_join, self.in_subquery,
             self.exists, self.derived, self.union, self.top, self.scalar_subquery, self.cte, self.journal]
        )  # fmt: skip
        return shape()

    def _table(self) -> str:
        return self.rng.choice(TABLES).name

    def _written(self, table: str) -> str:
        tab = BY_NAME[table]
        service, entity = tab.entity.split("/")
        return self.rng.choice(
            [f"{table}@eol", table, f"exactonlinerest..{table}", f"ExactOnlineREST.{service}.{entity}"]
        )

    def single(self) -> str:
        t = self._table()
        return (
            f"select {', '.join(self.columns('a', t))} from {self._written(t)} a where {self.where('a', t)}"
        )

    def aggregate(self) -> str:
        t = self._table()
        tab = BY_NAME[t]
        group = self.rng.choice([c for c in tab.columns if c.kind in ("str", "int", "bool", "guid")])
        measure = self.rng.choice([c for c in tab.columns if c.kind in ("money", "float", "int")])
        having = f" having count(*) > {self.rng.randint(0, 3)}" if self.rng.random() < 0.4 else ""
        return (
            f"select a.{group.name}, count(*) n, sum(a.{measure.name}) s, min(a.{measure.name}) lo, "
            f"max(a.{measure.name}) hi from {self._written(t)} a where {self.where('a', t)} "
            f"group by a.{group.name}{having}"
        )

    def _link(self) -> tuple[str, str, str, str]:
        return self.rng.choice(LINKS)

    def join(self) -> str:
        left, lcol, right, rcol = self._link()
        same_division = " and a.division = b.division" if self.rng.random() < 0.6 else ""
        where = [self.where("a", left)] if self.rng.random() < 0.7 else []
        if self.rng.random() < 0.6:
            where.append(self.where("b", right))
        cols = self.columns("a", left, 2) + self.columns("b", right, 2)
        text = (
            f"select {', '.join(cols)} from {self._written(left)} a join {self._written(right)} b "
            f"on a.{lcol} = b.{rcol}{same_division}"
        )
        return text + (f" where {' and '.join(where)}" if where else "")

    def left_join(self) -> str:
        left, lcol, right, rcol = self._link()
        cols = self.columns("a", left, 2) + self.columns("b", right, 1)
        tail = self.rng.choice(
            ["", f" where b.{BY_NAME[right].key} is null", f" where {self.where('a', left)}"]
        )
        return (
            f"select {', '.join(cols)} from {self._written(left)} a left join {self._written(right)} b "
            f"on a.{lcol} = b.{rcol} and a.division = b.division{tail}"
        )

    def in_subquery(self) -> str:
        left, lcol, right, rcol = self._link()
        negate = "not " if self.rng.random() < 0.3 else ""
        return (
            f"select {', '.join(self.columns('a', left, 2))} from {self._written(left)} a where a.{lcol} {negate}in "
            f"(select b.{rcol} from {self._written(right)} b where {self.where('b', right)} and b.{rcol} is not null)"
        )

    def exists(self) -> str:
        left, lcol, right, rcol = self._link()
        negate = "not " if self.rng.random() < 0.3 else ""
        return (
            f"select {', '.join(self.columns('a', left, 2))} from {self._written(left)} a where {negate}exists "
            f"(select 1 from {self._written(right)} b where b.{rcol} = a.{lcol} and b.division = a.division "
            f"and {self.where('b', right)})"
        )

    def derived(self) -> str:
        t = self._table()
        cols = self.columns("a", t, 3)
        names = [c.split(".")[1] for c in cols]
        inner = f"select {', '.join(cols)} from {self._written(t)} a where {self.where('a', t)}"
        col = next(c for c in BY_NAME[t].columns if c.name == names[0])
        return f"select x.* from ({inner}) x where {self.atom('x', t, col)}"

    def union(self) -> str:
        t = self._table()
        cols = self.columns("a", t, 2)
        other = ", ".join(c.replace("a.", "b.") for c in cols)
        return (
            f"select {', '.join(cols)} from {self._written(t)} a where {self.where('a', t)} union all "
            f"select {other} from {self._written(t)} b where {self.where('b', t)}"
        )

    def top(self) -> str:
        t = self._table()
        key = BY_NAME[t].key
        return (
            f"select a.{key}, {', '.join(self.columns('a', t, 2))} from {self._written(t)} a "
            f"where {self.where('a', t)} order by a.{key} limit {self.rng.randint(1, 30)}"
        )

    def scalar_subquery(self) -> str:
        t = self._table()
        measure = self.rng.choice([c for c in BY_NAME[t].columns if c.kind in ("money", "float", "int")])
        return (
            f"select count(*) n from {self._written(t)} a where a.{measure.name} > "
            f"(select avg(b.{measure.name}) from {self._written(t)} b where {self.where('b', t)})"
        )

    def journal(self) -> str:
        """Entries' totals: balanced entries sum to exactly zero."""
        return (
            "select a.division, a.entrynumber, sum(a.amountdc) total, sum(a.amountfc) total_fc "
            f"from {self._written('transactionlines')} a where {self.where('a', 'transactionlines')} "
            "group by a.division, a.entrynumber"
        )

    def cte(self) -> str:
        t = self._table()
        cols = self.columns("a", t, 2)
        names = [c.split(".")[1] for c in cols]
        col = next(c for c in BY_NAME[t].columns if c.name == names[0])
        return (
            f"with c as (select {', '.join(cols)} from {self._written(t)} a where {self.where('a', t)}) "
            f"select c.* from c where {self.atom('c', t, col)}"
        )


def _mixed(text: str, rng: random.Random) -> str:
    return "".join(ch.upper() if rng.random() < 0.5 else ch for ch in text)


def _foreign(kind: str, rng: random.Random, held: object) -> object:
    """A value of the kind that the column likely does not hold."""
    if kind == "guid":
        return "00000000-0000-0000-0000-00000000000" + str(rng.randint(0, 9))
    if kind == "str":
        return rng.choice(["O'Brien", "zzz", "", "a'b''c", "ÄÖÜ", "1000 "])
    if kind in ("int",):
        return rng.choice([0, -1, 2**31 - 1, 999999])
    if kind in ("money", "float"):
        return rng.choice(
            [Decimal("0"), Decimal("-0.01"), Decimal("100.5"), Decimal("1234.5678"), Decimal("0.00001")]
        )
    if kind == "date":
        return rng.choice(
            [dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31, 23, 59, 59), dt.datetime(2024, 2, 29, 12)]
        )
    if kind == "bool":
        return rng.random() < 0.5
    return held


# -- running ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One query's verdict: the same rows, a refusal Exact's rules force, or a mismatch."""

    sql: str
    verdict: str  # same, refused, invalid, mismatch
    detail: str = ""


def check(engine: Engine, truth: Truth, sql: str) -> Outcome:
    """Runs ``sql`` on both sides and compares."""
    try:
        expected = truth.answer(sql)
    except (duckdb.Error, SQLError) as exc:
        expected_error: str | None = str(exc).splitlines()[0]
    else:
        expected_error = None
    try:
        table = engine.run(sql)[-1].table
    except SQLError as exc:
        message = str(exc)
        if "can only be read with a filter" in message:
            return Outcome(sql, "refused", message)
        if expected_error is not None:
            return Outcome(sql, "invalid", f"{message} / {expected_error}")
        return Outcome(sql, "mismatch", f"exactsql failed: {message}")
    if expected_error is not None:
        return Outcome(sql, "mismatch", f"the truth failed ({expected_error}), exactsql answered")
    assert table is not None
    got = rows_of(table)
    if same(got, expected):
        return Outcome(sql, "same")
    return Outcome(
        sql, "mismatch", f"{len(got)} rows, the truth {len(expected)}: e.g. {_difference(got, expected)}"
    )


def _difference(got: list[tuple], expected: list[tuple]) -> str:
    a = {tuple(_norm(v) for v in r) for r in got}
    b = {tuple(_norm(v) for v in r) for r in expected}
    extra, missing = sorted(a - b)[:1], sorted(b - a)[:1]
    return f"extra {extra}, missing {missing}"[:400]


def run(count: int, seed: int, on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """``count`` random queries (from ``seed``) on a new engine over the built-in sandbox (inside
    ``builtin_sandbox``), every division in scope."""
    engine = Engine({"eol": session()})
    engine.run("use all@eol")
    divisions = engine.scope().of("eol")
    truth = Truth(divisions)
    gen = Gen(random.Random(seed), truth)
    outcomes = []
    for _ in range(count):
        outcome = check(engine, truth, gen.query())
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    assert sandbox().stats.api_calls > 0
    return outcomes

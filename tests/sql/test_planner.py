"""The planner against fixture files (sqlglot's fixture style) and a few cases easier to build in code.

Each fixture block in ``fixtures/planner/*.sql``::

    -- name: what the case shows
    -- scope: eol=100,200; other=7        (optional; default eol=100,200,300 and other=7)
    -- stats: none                        (optional; default STATS below)
    -- sysdate: 2024-05-01 12:00:00       (optional; rewrites sysdate and folds constants such as to_date
                                          as the engine does before planning)
    select …;                             (the statement, up to the line ending with ';')
    f0_userroles regular users/UserRoles  (per fetch: name, path kind and endpoint — or "dictionary")
      filter: Role eq 274                 (omitted when nothing is pushed)
      select: EndDate, Role, UserID       ("*" = every Edm column of the path but Division)
      divisions: 100, 200, 300            (omitted for tables without divisions; "-" for none)
      top: 10                             (omitted when None)
      semi_join: UserID <- f0_userroles.UserID
      calls: 3                            ("?" when unknown)
      note: Role eq                       (optional, not rendered: a substring one note must contain)
    tree: SELECT …                        (optional: the rewritten statement in DuckDB SQL)
    error: text                           (instead of fetches: planning raises SQLError containing it)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from exactsql.catalog import AccessPath, Table, load_catalog
from exactsql.sandbox import odata
from exactsql.sql.dialect import SQLError, parse_statement, rewrite_functions
from exactsql.sql.names import NameResolver
from exactsql.sql.odata_literals import render_literal
from exactsql.sql.plan import DivisionScope, Plan, RowStats
from exactsql.sql.planner import plan_statement

FIXTURES = Path(__file__).parent / "fixtures" / "planner"
SCOPE = {"eol": [100, 200, 300], "other": [7]}
STATS = {
    ("financialtransaction/transactionlines", 100): 250_000,
    ("financialtransaction/transactionlines", 200): 12_000,
    ("financialtransaction/transactionlines", 300): 800,
    ("crm/accounts", 100): 4_000,
    ("crm/accounts", 200): 900,
    ("crm/accounts", 300): 50,
    ("crm/contacts", 100): 30,
    ("crm/contacts", 200): 30,
    ("crm/contacts", 300): 30,
    ("logistics/items", 100): 12_000,
    ("logistics/items", 200): 12_000,
    ("logistics/items", 300): 12_000,
    ("financial/glaccounts", 100): 300,
    ("financial/glaccounts", 200): 300,
    ("financial/glaccounts", 300): 300,
}


@dataclass
class Case:
    source: str
    name: str
    sql: str
    expected: str
    scope: dict[str, list[int]] = field(default_factory=lambda: dict(SCOPE))
    stats: dict[tuple[str, int], int] | None = field(default_factory=lambda: dict(STATS))
    sysdate: str | None = None
    notes: list[str] = field(default_factory=list)
    tree: str | None = None
    error: str | None = None

    @property
    def id(self) -> str:
        return f"{self.source}: {self.name}"


def _scope(text: str) -> dict[str, list[int]]:
    scope: dict[str, list[int]] = {}
    for part in text.split(";"):
        alias, _, codes = part.strip().partition("=")
        scope[alias.strip()] = [int(c) for c in codes.split(",") if c.strip()]
    return scope


def load_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(FIXTURES.glob("*.sql")):
        blocks = re.split(r"\n(?=-- name: )", path.read_text())
        for block in blocks:
            if not block.strip().startswith("-- name: "):
                continue
            lines = block.strip("\n").splitlines()
            name = lines[0][len("-- name: ") :].strip()
            case = Case(path.stem, name, "", "")
            i = 1
            while i < len(lines) and lines[i].startswith("-- "):
                key, _, value = lines[i][3:].partition(":")
                value = value.strip()
                if key == "scope":
                    case.scope = _scope(value)
                elif key == "stats":
                    case.stats = None if value == "none" else case.stats
                elif key == "sysdate":
                    case.sysdate = value
                else:
                    raise ValueError(f"{path.name}: unknown directive {key!r} in {name!r}")
                i += 1
            sql: list[str] = []
            while i < len(lines):
                sql.append(lines[i])
                i += 1
                if sql[-1].rstrip().endswith(";"):
                    break
            case.sql = "\n".join(sql).rstrip().rstrip(";")
            expected: list[str] = []
            for line in lines[i:]:
                if line.startswith("  note: "):
                    case.notes.append(line[len("  note: ") :])
                elif line.startswith("tree: "):
                    case.tree = line[len("tree: ") :]
                elif line.startswith("error: "):
                    case.error = line[len("error: ") :]
                elif line.strip():
                    expected.append(line.rstrip())
            case.expected = "\n".join(expected)
            cases.append(case)
    return cases


CASES = load_cases()
RESOLVER = NameResolver(load_catalog())


def plan_of(case: Case) -> Plan:
    tree = parse_statement(case.sql)
    if case.sysdate is not None:
        literal = parse_statement(f"select cast('{case.sysdate}' as timestamp) from dual").selects[0]
        tree = rewrite_functions(tree, literal, literal)
    stats = RowStats(case.stats) if case.stats is not None else None
    return plan_statement(tree, RESOLVER, DivisionScope(case.scope), stats)


def render(plan: Plan) -> str:
    """The fetches of a plan in the fixtures' notation (notes left out)."""
    lines: list[str] = []
    for f in plan.fetches:
        if f.path is None:
            lines.append(f"{f.name} dictionary")
            continue
        lines.append(f"{f.name} {f.path.kind} {f.path.endpoint}")
        if f.filter:
            lines.append(f"  filter: {f.filter}")
        star = [c.name for c in f.path.columns if c.name != "Division" and c.edm.startswith("Edm.")]
        lines.append(f"  select: {'*' if f.select == star else ', '.join(f.select)}")
        if f.divisions is not None:
            lines.append(f"  divisions: {', '.join(map(str, f.divisions)) or '-'}")
        if f.top is not None:
            lines.append(f"  top: {f.top}")
        if f.semi_join is not None:
            sj = f.semi_join
            lines.append(f"  semi_join: {sj.column} <- {sj.source}.{sj.source_column}")
        lines.append(f"  calls: {'?' if f.estimated_calls is None else f.estimated_calls}")
    return "\n".join(lines)


def test_fixtures_are_many() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES), "fixture names must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_planner_fixture(case: Case) -> None:
    if case.error is not None:
        with pytest.raises(SQLError) as info:
            plan_of(case)
        assert case.error in str(info.value)
        return
    plan = plan_of(case)
    assert render(plan) == case.expected
    notes = [n for f in plan.fetches for n in f.notes]
    for wanted in case.notes:
        assert any(wanted in n for n in notes), f"no note contains {wanted!r}: {notes}"
    if case.tree is not None:
        assert plan.tree.sql(dialect="duckdb") == case.tree


# -- cases easier to state in code -------------------------------------------------------------------


def _plan(sql: str, scope: dict[str, list[int]] | None = None, stats: RowStats | None = None) -> Plan:
    return plan_statement(parse_statement(sql), RESOLVER, DivisionScope(scope or dict(SCOPE)), stats)


def test_a_long_in_list_stays_local_rather_than_overflowing_the_url() -> None:
    roles = ", ".join(str(n) for n in range(1000, 1500))
    plan = _plan(f"select id from userroles where role in ({roles}) and userid is not null")
    (fetch,) = plan.fetches
    assert fetch.filter == "UserID ne null"
    assert any("too long" in n and "role IN" in n for n in fetch.notes)


def test_a_long_in_list_on_a_mandatory_column_is_kept_over_others() -> None:
    codes = ", ".join(f"'CODE{n:05d}'" for n in range(150))
    plan = _plan(f"select code, standardsalesprice from items where code in ({codes}) and description = 'x'")
    (fetch,) = plan.fetches
    assert fetch.filter is not None and fetch.filter.startswith("(Code eq 'CODE00000' or ")
    assert len(fetch.filter) < 5000


def test_every_reference_is_renamed_and_keeps_its_alias() -> None:
    plan = _plan(
        "with x as (select id from accounts where code = 'a') "
        "select x.id, a.name from x join accounts a on a.id = x.id"
    )
    assert [f.name for f in plan.fetches] == ["f0_accounts", "f1_accounts"]
    sql = plan.tree.sql(dialect="duckdb")
    assert "FROM f0_accounts AS accounts" in sql and "JOIN f1_accounts AS a" in sql


def test_the_plan_runs_in_duckdb_over_tables_of_the_planned_shape() -> None:
    import duckdb
    import pyarrow as pa

    plan = _plan(
        'select distinct usr."FULLNAME", ure.Role from userroles@eol ure '
        "join exactonlinerest..users@eol usr on usr.userid = ure.userid and usr.division = ure.division "
        "where ure.role = 274"
    )
    rows = {
        "f0_userroles": {"Role": [274], "UserID": ["u1"], "Division": [100]},
        "f1_users": {"UserID": ["u1"], "FullName": ["Jan"], "Division": [100]},
    }
    con = duckdb.connect()
    for f in plan.fetches:
        assert f.path is not None
        assert set(rows[f.name]) == {*f.select, "Division"}  # catalog spelling, as the executor names them
        con.register(f.name, pa.table(rows[f.name]))
    assert con.sql(plan.tree.sql(dialect="duckdb")).fetchall() == [("Jan", 274)]


def test_the_input_tree_is_not_changed() -> None:
    tree = parse_statement("select code from accounts where code = 'x'")
    before = tree.sql()
    plan_statement(tree, RESOLVER, DivisionScope(dict(SCOPE)), None)
    assert tree.sql() == before


def test_statements_that_are_not_queries_are_refused() -> None:
    with pytest.raises(SQLError, match="A DELETE statement cannot run here"):
        _plan("delete from accounts where code = 'x'")


def _check_request(path: AccessPath, table: Table, params: dict[str, str]) -> None:
    """What the sandbox (Exact's rules) checks before it answers a GET: $select names, $filter syntax,
    fields that exist and may be filtered, mandatory filters, and the filter's types."""
    names = [c.name for c in path.columns]
    types = {c.name: c.edm for c in path.columns}
    if table.partitioned:
        types.setdefault("Division", "Edm.Int32")
    odata.parse_select(params["$select"], names)
    text = params.get("$filter")
    used: set[str] = set()
    if text:
        node = odata.parse_filter(text)
        used = odata.fields(node)
        assert used <= set(types), f"unknown fields {used - set(types)} in {text}"
        assert all(path.can_filter(f) for f in used), f"fields {used} not all filterable on {path.endpoint}"
        odata.evaluate(node, lambda _name: np.array([None], dtype=object), 1, types)
    if path.mandatory_filter:
        assert used & set(path.mandatory_filter), f"{path.endpoint} needs a mandatory filter: {text}"


@pytest.mark.parametrize("case", [c for c in CASES if c.error is None], ids=lambda c: c.id)
def test_every_planned_request_is_one_exact_accepts(case: Case) -> None:
    plan = plan_of(case)
    names = {f.name: f for f in plan.fetches}
    for f in plan.fetches:
        if f.path is None:
            continue
        table = f.ref.table
        assert table is not None
        _check_request(f.path, table, f.params())
        if f.semi_join is not None:
            regular = table.path("regular")
            assert regular is not None
            source = names[f.semi_join.source]
            assert f.semi_join.source_column in source.select
            column = regular.column(f.semi_join.column)
            assert column is not None
            key = {"Edm.Guid": "5b3debef-0d0a-4f11-9a2b-7c8d9e0f1a2b", "Edm.String": "x"}.get(column.edm, 1)
            chunk = f"({f.semi_join.column} eq {render_literal(key, column.edm)})"
            params = {
                "$select": ",".join(f.select),
                "$filter": f"({f.filter}) and {chunk}" if f.filter else chunk,
            }
            _check_request(regular, table, params)

"""``$top``: a single-table select with a row limit whose every condition was sent exactly."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from exactsql.sql.odata_literals import sql_constant
from exactsql.sql.plan import RowStats
from exactsql.sql.planning.paths import estimate, known_rows
from exactsql.sql.planning.refs import Ref


def _int_literal(node: exp.Expr | None) -> int | None:
    if node is None:
        return None
    constant = sql_constant(node)
    if constant is None or isinstance(constant.value, bool) or not isinstance(constant.value, int):
        return None
    return constant.value if constant.value >= 0 else None


def _limit(select: exp.Select) -> int | None:
    limit = select.args.get("limit")
    if isinstance(limit, exp.Limit):
        n = _int_literal(limit.expression)
    elif isinstance(limit, exp.Fetch):
        options = limit.args.get("limit_options")
        if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
            return None
        n = _int_literal(limit.args.get("count"))
    else:
        return None
    if n is None:
        return None
    offset = select.args.get("offset")
    if offset is not None:
        skip = _int_literal(offset.expression)
        if skip is None:
            return None
        n += skip
    return n


def plan_top(
    work: exp.Expr,
    scopes: list[Scope],
    refs: list[Ref],
    root_where: list[exp.Expr],
    stats: RowStats | None,
) -> None:
    if len(refs) != 1 or len(scopes) != 1 or not isinstance(work, exp.Select):
        return
    r = refs[0]
    if r.chosen is None or r.chosen.path.kind == "sync":
        return
    if any(
        work.args.get(k) for k in ("distinct", "group", "having", "order", "qualify", "connect", "windows")
    ):
        return
    if work.find(exp.AggFunc, exp.Window) is not None:
        return
    n = _limit(work)
    if n is None:
        return
    exact = {id(c.expr) for c, f in r.chosen.pushed if f.exact}
    settled = exact | {id(e) for e in r.division_filters}
    if any(id(c) not in settled for c in root_where):
        return
    r.top = n
    r.chosen.estimate = estimate(r.chosen.path, r.chosen.selective, known_rows(r, stats), n)
    r.notes.append(f"$top={n}: every condition was sent exactly")

"""Choosing each reference's access path: what it can push, what it costs, the cheapest that works."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import quote

from exactsql.catalog import AccessPath, Table
from exactsql.sql.dialect import SQLError
from exactsql.sql.plan import RowStats
from exactsql.sql.planning.pushdown import Converter, Filter
from exactsql.sql.planning.refs import Candidate, Ref, sql_text

URL_BUDGET = 5000
"""URL-encoded characters ``$filter`` and ``$select`` may take together (the executor's URL cap is 6,000)."""
_KIND_RANK = {"bulk": 1, "sync": 2, "regular": 3}


@dataclass
class Option:
    """One access path of a reference, with what it would push and cost."""

    path: AccessPath
    pushed: list[tuple[Candidate, Filter]]
    local: list[Candidate]
    dropped_for_length: list[Candidate]
    selective: Filter | None
    estimate: int | None
    problem: str = ""


def needed_columns(r: Ref) -> list[str]:
    """The explicitly referenced columns in catalog spelling (not Division)."""
    names: list[str] = []
    for name in r.columns:
        catalog = r.catalog_column(name)
        if catalog is not None and catalog != "Division" and catalog not in names:
            names.append(catalog)
    return names


def select_columns(r: Ref, path: AccessPath) -> list[str]:
    needed = set(needed_columns(r))
    chosen = [
        c.name
        for c in path.columns
        if c.name != "Division" and (c.name in needed or (r.star and c.edm.startswith("Edm.")))
    ]
    if chosen:
        return chosen
    assert r.table is not None
    for key in keys_of(r.table, path):
        column = path.column(key)
        if column is not None and column.name != "Division":
            return [column.name]
    first = next((c.name for c in path.columns if c.name != "Division" and c.edm.startswith("Edm.")), None)
    return [first] if first else []


def _encoded(text: str) -> int:
    return len(quote(text, safe="'(),"))


def known_rows(r: Ref, stats: RowStats | None) -> list[int | None]:
    """Known row counts per target (division, or one call for a table without divisions)."""
    assert r.table is not None
    if r.divisions is None:
        return [None]
    return [stats.rows(r.table.full_name, d) if stats else None for d in r.divisions]


def estimate(
    path: AccessPath, selective: Filter | None, rows: list[int | None], top: int | None
) -> int | None:
    total = 0
    for n in rows:
        calls: int | None
        if selective is not None and selective.eq is not None:
            calls = max(1, math.ceil(selective.eq[1] / path.page_size))
            if n is not None:
                calls = min(calls, max(1, math.ceil(n / path.page_size)))
        elif n is not None:
            calls = max(1, math.ceil(n / path.page_size))
        else:
            calls = None
        if top is not None:
            capped = max(1, math.ceil(top / path.page_size))
            calls = capped if calls is None else min(calls, capped)
        if calls is None:
            return None
        total += calls
    return total


def _option(r: Ref, path: AccessPath, rows: list[int | None]) -> Option:
    converter = Converter(r, path)
    pushed: list[tuple[Candidate, Filter]] = []
    local: list[Candidate] = []
    for candidate in r.candidates:
        converted = converter.convert(candidate.expr)
        if converted is None:
            local.append(candidate)
        else:
            pushed.append((candidate, converted))
    missing = [n for n in needed_columns(r) if path.column(n) is None]
    option = Option(path, pushed, local, [], None, None)
    if missing:
        option.problem = f"{path.endpoint} has no column {', '.join(missing)}"
        return option
    mandatory = set(path.mandatory_filter or ())
    budget = URL_BUDGET - _encoded(",".join(select_columns(r, path)))
    while pushed and _encoded(" and ".join(f.text for _, f in pushed)) > budget:
        # too long for one URL: the longest conjuncts stay local, a mandatory-filter one last
        drop = max(pushed, key=lambda cf: (not (cf[1].columns & mandatory), len(cf[1].text)))
        pushed.remove(drop)
        option.dropped_for_length.append(drop[0])
    if mandatory and not any(f.columns & mandatory for _, f in pushed):
        option.problem = f"{path.endpoint} requires a $filter on one of its filter columns"
        return option
    assert r.table is not None
    keys = keys_of(r.table, path)
    selective = [f for _, f in pushed if f.eq is not None]
    option.selective = min(selective, key=lambda f: (f.eq[0] not in keys, f.eq[1]), default=None)  # type: ignore[index]
    option.estimate = estimate(path, option.selective, rows, None)
    return option


def _rank(option: Option) -> tuple:
    kind = (
        0 if option.path.kind == "regular" and option.selective is not None else _KIND_RANK[option.path.kind]
    )
    if option.estimate is not None:
        return (0, option.estimate, -len(option.pushed), kind)
    return (1, -option.path.page_size, -len(option.pushed), kind)


def choose_path(r: Ref, stats: RowStats | None) -> None:
    table = r.table
    assert table is not None
    rows = r.rows = known_rows(r, stats)
    options = [_option(r, p, rows) for p in table.paths if "GET" in p.methods]
    usable = [o for o in options if not o.problem]
    forced = r.ref.forced_path
    chosen: Option | None = None
    if forced:
        wanted = [o for o in usable if o.path.kind == forced]
        if wanted:
            chosen = min(wanted, key=_rank)
            r.notes.insert(0, f"path {chosen.path.endpoint}: asked for by the name {r.ref.display}")
        else:
            reasons = "; ".join(o.problem for o in options if o.path.kind == forced) or "no such endpoint"
            r.notes.append(f"the {forced} endpoint named by {r.ref.display} cannot be used ({reasons})")
    if chosen is None:
        if not usable:
            _no_path(r, options)
        chosen = _best(r, usable)
        r.notes.insert(0, _why(chosen, usable))
    r.chosen = chosen
    for candidate in chosen.local:
        r.notes.append(f"local: {sql_text(candidate.expr)}")
    for candidate in chosen.dropped_for_length:
        r.notes.append(f"local (the URL would be too long): {sql_text(candidate.expr)}")


def _best(r: Ref, usable: list[Option]) -> Option:
    """The regular endpoint with a selective filter; but a 1,000-row endpoint taking the same filters
    when the filter is not on the key (it never costs more calls); else the cheapest wide read."""
    selective = [o for o in usable if o.path.kind == "regular" and o.selective is not None]
    if selective:
        regular = selective[0]
        assert regular.selective is not None and r.table is not None
        on_key = regular.selective.eq is not None and regular.selective.eq[0] in keys_of(
            r.table, regular.path
        )
        sent = {id(c) for c, _ in regular.pushed}
        wider = [
            o
            for o in usable
            if o.path.page_size > regular.path.page_size and sent <= {id(c) for c, _ in o.pushed}
        ]
        if on_key or not wider:
            return regular
        return min(wider, key=_rank)
    return min(usable, key=_rank)


def keys_of(table: Table, path: AccessPath) -> list[str]:
    keys: list[str] = []
    for key in (table.key, path.key):
        keys.extend(key if isinstance(key, list) else [key] if key else [])
    return keys


def _why(chosen: Option, usable: list[Option]) -> str:
    path = chosen.path
    if path.kind == "regular" and chosen.selective is not None:
        reason = f"selective filter on {next(iter(chosen.selective.columns))}"
    elif chosen.selective is not None:
        reason = (
            f"selective filter on {next(iter(chosen.selective.columns))}, "
            "taken by this 1,000-row endpoint too (never more calls than the regular one)"
        )
    elif path.kind == "sync":
        reason = "wide read, 1,000 rows a call; sync filters on Timestamp only"
    elif path.kind == "bulk":
        reason = "wide read, 1,000 rows a call"
    elif any(o.path.page_size > 60 for o in usable):
        reason = "fewest calls"
    else:
        reason = "the only endpoint"
    return f"path {path.endpoint}: {reason}"


def _no_path(r: Ref, options: list[Option]) -> None:
    table = r.table
    assert table is not None
    display = r.ref.display
    if options and all("has no column" in o.problem for o in options):
        raise SQLError(
            f"No endpoint of {display} returns all the columns the statement uses.",
            "; ".join(o.problem for o in options) + ".",
        )
    mandatory: list[str] = []
    for o in options:
        for name in o.path.mandatory_filter or ():
            if name not in mandatory and name != "Division":
                mandatory.append(name)
    if not mandatory:
        raise SQLError(
            f"No endpoint of {display} can serve this statement.",
            "; ".join(o.problem for o in options if o.problem) + ".",
        )
    key = table.key if isinstance(table.key, str) else None
    preferred = [key, "ID", "Code", "Name", "Description", "Modified", "Created", "Status", "Type"]
    shown = [n for n in preferred if n and n in mandatory]
    shown = list(dict.fromkeys(shown + mandatory))[:8]
    more = ", …" if len(mandatory) > len(shown) else ""
    example = shown[0]
    raise SQLError(
        f"{display} can only be read with a filter: Exact requires a $filter on one of its filter "
        "columns, and no endpoint without that rule returns the columns used.",
        f"Add a condition such as `{r.alias}.{example.lower()} = …` (or in/like 'x%'/between/>=) on one of: "
        f"{', '.join(shown)}{more}.",
    )

"""Exact answers, checked differentially: random queries (filters of every kind, GUIDs in any case, dates,
strings with quotes, joins, groups, subqueries, Division predicates, arithmetic division) answered by exactsql
on the sandbox and by DuckDB over the sandbox's own rows must agree (``tests/sql/differential.py``; thousands
in ``benchmarks/differential.py``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.sql import differential
from tests.sql.inprocess import builtin_sandbox

QUERIES = 250


def test_exactsql_answers_as_duckdb_over_the_truth(tmp_path: Path) -> None:
    with builtin_sandbox(tmp_path / "home"):
        outcomes = differential.run(QUERIES, seed=7)
    verdicts = Counter(o.verdict for o in outcomes)
    mismatches = [f"{o.sql}\n  {o.detail}" for o in outcomes if o.verdict in ("mismatch", "invalid")]
    assert mismatches == [], "\n".join(mismatches[:5])
    assert verdicts["same"] >= QUERIES * 0.9, verdicts  # refusals (mandatory filters) stay rare

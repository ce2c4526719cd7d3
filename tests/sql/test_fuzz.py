"""No traceback, ever, for user input: a few hundred fuzzed command lines (``tests/sql/fuzz.py``; thousands
in ``benchmarks/fuzz.py``), each ending in success or a clear message, at no API cost when refused early."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sql.fuzz import Input, builtin_sandbox, inputs, judge, run

CASES = inputs(400, seed=11)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("fuzz-home")
    with builtin_sandbox(home):
        yield home


def test_there_are_enough_inputs() -> None:
    assert len(CASES) >= 400
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_fuzzed_input_ends_cleanly(case: Input, sandbox: Path) -> None:
    outcome = run(case)
    problem = judge(case, outcome)
    assert problem is None, f"{problem}\nstdout: {outcome.stdout[:500]}\nstderr: {outcome.stderr[:500]}"

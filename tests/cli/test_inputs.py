"""Every bad input of the command line ends in a clear message and a non-zero exit: no traceback, no hang,
no secret printed (see ``tests/cli/cases.py`` for the inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.cases import CASES
from tests.cli.harness import Case, Ready, judge, run_case


def test_there_are_enough_distinct_inputs() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_input_gets_a_clear_message(case: Case, ready: Ready, case_dirs: tuple[Path, Path]) -> None:
    home, tmp = case_dirs
    judge(case, run_case(case, home, tmp, ready), ready)

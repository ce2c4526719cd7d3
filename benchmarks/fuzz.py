"""Fuzzing the command line: thousands of generated inputs (``tests/sql/fuzz.py``) run through ``exactsql
query``/``explain`` on the built-in sandbox; prints the count of inputs that did not end cleanly (a
traceback, an internal error, no clear message, an API call for an input refused early) and the first few.

Usage: python benchmarks/fuzz.py [--count 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run by path: tests.* (helpers) live next to benchmarks/
    sys.path.insert(0, str(ROOT))

from tests.sql.fuzz import builtin_sandbox, inputs, judge, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cases = inputs(args.count, args.seed)
    started = time.perf_counter()
    problems: list[tuple[str, str]] = []
    exits: Counter[int] = Counter()
    calls = 0
    with tempfile.TemporaryDirectory(prefix="exactsql-fuzz-home-") as home, builtin_sandbox(Path(home)):
        for case in cases:
            outcome = run(case)
            exits[outcome.code] += 1
            calls += outcome.calls
            problem = judge(case, outcome)
            if problem is not None:
                problems.append((case.id, problem))
    seconds = time.perf_counter() - started
    print(f"inputs: {len(cases)}  exits: {dict(sorted(exits.items()))}  API calls: {calls}  {seconds:.1f} s")
    for case_id, problem in problems[:20]:
        print(f"  {case_id!r}: {problem[:200]}")
    print(f"problems: {len(problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

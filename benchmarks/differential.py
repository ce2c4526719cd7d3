"""Differential testing at scale: thousands of random queries (``tests/sql/differential.py``) answered by
exactsql on the built-in sandbox and by DuckDB over the sandbox's own rows; prints the verdicts and the count
of mismatches (with the first few).

Usage: python benchmarks/differential.py [--count 4000] [--seed 1]
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

from tests.sql import differential  # noqa: E402
from tests.sql.inprocess import api_calls, builtin_sandbox  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="exactsql-differential-") as home, builtin_sandbox(Path(home)):
        outcomes = differential.run(args.count, args.seed)
        calls = api_calls()
    verdicts = Counter(o.verdict for o in outcomes)
    seconds = time.perf_counter() - started
    print(f"queries: {len(outcomes)}  verdicts: {dict(verdicts)}  API calls: {calls}  {seconds:.1f} s")
    bad = [o for o in outcomes if o.verdict in ("mismatch", "invalid")]
    for outcome in bad[:10]:
        print(f"  {outcome.verdict}: {outcome.sql[:300]}\n    {outcome.detail[:300]}")
    print(f"mismatches: {len(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What ``--watch INTERVAL`` costs: the calls a round that finds no change makes in each division, and the
share of the division's daily calls (Exact: 5,000) that many rounds a day use.

A round that finds nothing costs per division one call per sync and ``--modified`` table (an empty page),
one for ``sync/Deleted``, and per reloaded table one call: its probe (``jobs.probe``) when a full read takes
more pages than that, else its one page. A reloaded table without a probe (no ``Modified`` on a regular
endpoint) costs its full read every round. Reloads are read in full once a day anyway
(``jobs.RELOAD_AT_LEAST_EVERY``), and the current division also pays for ``current/Me`` and the first page
of the division list of ``--divisions all`` (its further pages go through other divisions, one call each).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exactsql.replicate.jobs import RELOAD_AT_LEAST_EVERY
from exactsql.replicate.plan import MODIFIED, RELOAD, SYNC, TablePlan

#: The share of each division's daily calls a ``--watch`` may plan to use unless told otherwise.
DEFAULT_MAX_SHARE = 0.5
DAY = 86400.0


@dataclass(frozen=True)
class WatchCost:
    """The planned daily use of one division's calls by ``--watch``."""

    per_round: int
    rounds: float
    per_day: int
    daily_limit: int
    #: Whether reloads of unknown size were counted as one page (before a first run).
    at_least: bool

    @property
    def share(self) -> float:
        """The share of the daily limit used."""
        return self.per_day / self.daily_limit

    def describe(self, interval_text: str) -> str:
        """One line: the calls a round, the rounds a day and the share of the day's calls."""
        more = "at least " if self.at_least else ""
        return (
            f"--watch {interval_text} uses {more}{self.share:.0%} of each division's {self.daily_limit:,} daily "
            f"calls: {more}{self.per_round:,} calls a round that finds no change × {self.rounds:,.0f} rounds a "
            f"day = {self.per_day:,} (full reloads once a day included)"
        )


def _pages(rows: int | None, plan: TablePlan) -> int:
    size = plan.path.page_size or 60
    return max(1, math.ceil((rows or 0) / size))


def round_cost(
    plans: list[TablePlan], rows: dict[str, int | None], divisions: int, every_division: bool
) -> tuple[int, int, bool]:
    """Per division: (calls of a round that finds no change, calls of the daily full reloads, whether a
    table of unknown size was counted as one page). ``rows``: the largest row count per table seen in a
    division of the replica (None: not read yet)."""
    per_round = 1 if any(p.strategy == SYNC and p.entity_type is not None for p in plans) else 0
    daily, unknown = 0, False
    for plan in plans:
        if plan.strategy in (SYNC, MODIFIED):
            per_round += 1
            continue
        if plan.strategy != RELOAD:
            continue
        count = rows.get(plan.name)
        unknown = unknown or count is None
        pages = _pages(count, plan)
        if pages == 1:
            per_round += 1
        elif plan.probe_path() is not None:
            per_round += 1
            daily += pages
        else:
            per_round += pages
    if every_division:  # Me and the division list's first page, paid by the current division (the list's
        per_round += 2  # further pages go through other divisions, one call each; both are kept a while)
    return per_round, daily, unknown


def watch_cost(
    plans: list[TablePlan],
    rows: dict[str, int | None],
    interval: float,
    divisions: int,
    every_division: bool,
    daily_limit: int,
) -> WatchCost:
    """The planned daily calls of one division under ``--watch interval``."""
    per_round, daily, unknown = round_cost(plans, rows, divisions, every_division)
    rounds = DAY / interval
    reloads = math.ceil(DAY / RELOAD_AT_LEAST_EVERY) * daily
    per_day = math.ceil(per_round * rounds) + reloads
    return WatchCost(per_round, rounds, per_day, max(1, daily_limit), unknown)


def shortest_interval(cost: WatchCost, max_share: float) -> float:
    """The shortest interval (seconds) at which the same rounds stay within ``max_share`` of the day."""
    budget = max_share * cost.daily_limit - (cost.per_day - cost.per_round * cost.rounds)
    if budget <= 0:
        return DAY
    return math.ceil(DAY * cost.per_round / budget)

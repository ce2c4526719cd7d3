"""What a run that finds no change costs (one call per item: a probe instead of a full reload), and what
``--watch`` states and refuses before any API call."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from exactsql.api.session import Session
from exactsql.errors import ConfigError
from exactsql.replicate import replicate
from exactsql.replicate.plan import DELETED, RELOAD, plan_tables
from exactsql.replicate.watch import DEFAULT_MAX_SHARE, watch_cost
from tests.connections.helpers import make_connection
from tests.replicate.helpers import (
    all_plans,
    api_calls,
    differences,
    logged_calls,
    mutate_books,
    page_size,
    truth_rows,
)
from tests.replicate.test_cli_and_query import app


def test_a_run_that_finds_no_change_costs_one_call_per_item_and_writes_nothing(
    session: Session, control: httpx.Client, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'rerun.db'}"
    plans = all_plans()
    divisions = sorted(replicate(session, url, divisions="all").divisions)
    receivables = next(p for p in plans if p.name == "cashflow/Receivables")
    assert receivables.strategy == RELOAD and receivables.probe_path() is not None
    replicate(session, url, divisions=divisions)  # reloads of more than a page take their probe now

    before = api_calls(control)
    report = replicate(session, url, divisions=divisions)
    calls = api_calls(control) - before
    assert report.ok and report.rows == 0, report.by_status()
    # one call per table and sync/Deleted in every division; a reload without a probe (no Modified on a
    # regular endpoint: SalesInvoiceLines) reads all its pages, and writes nothing when they are unchanged
    unprobed = [p for p in plans if p.strategy == RELOAD and p.probe_path() is None]
    extra = sum(
        math.ceil(truth_rows(control, d, p).num_rows / page_size(p, 100)) - 1
        for p in unprobed
        for d in divisions
    )
    items = len(divisions) * (len(plans) + 1)
    assert calls == items + extra, logged_calls(control, calls)
    used = logged_calls(control, calls)
    assert all(used.get((DELETED, d)) == 1 for d in divisions)
    assert differences(url, control, divisions, plans) == []

    # a change in a table read by its probe: that table alone is read in full, the copy follows
    changed = mutate_books(control, divisions[:1])
    assert changed["updated"] > 0
    report = replicate(session, url, divisions=divisions)
    assert report.ok
    reloaded = {(o.table, o.division) for o in report.outcomes if o.strategy == RELOAD and o.rows}
    assert ("cashflow/Receivables", divisions[0]) in reloaded
    assert all(d == divisions[0] for _, d in reloaded)
    assert differences(url, control, divisions, plans) == []


def test_watch_states_its_share_of_the_day_and_refuses_above_the_limit(
    replicate_server: dict, session: Session, control: httpx.Client, tmp_path: Path
) -> None:
    make_connection(replicate_server, "exact")  # Exact's limits: 5,000 calls a day per division
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    before = api_calls(control)
    result = CliRunner().invoke(
        app(), ["replicate", "--to", url, "-c", "exact", "-d", "all", "--watch", "1m"]
    )
    assert isinstance(result.exception, ConfigError), result.output
    message = f"{result.exception.message} {result.exception.hint}"
    # 3 divisions × default tables: 14 calls a round (+ Me and the division list), 1,440 rounds a day
    assert "of each division's 5,000 daily calls" in message and "× 1,440 rounds a day" in message
    assert "more than the 50% allowed" in message
    assert "--max-daily-share" in message and "--watch" in message
    assert api_calls(control) == before  # refused locally

    # what the refusal names: a longer interval within the share, or a larger share
    plans = plan_tables()
    cost = watch_cost(plans, {}, 60.0, 3, True, 5000)
    assert cost.per_round == 14 + 2 and cost.share > DEFAULT_MAX_SHARE
    assert watch_cost(plans, {}, 900.0, 3, True, 5000).share <= DEFAULT_MAX_SHARE
    result = CliRunner().invoke(
        app(), ["replicate", "--to", url, "-c", "exact", "--watch", "1m", "--max-daily-share", "2"]
    )
    assert result.exit_code != 0 and "max-daily-share" in result.output


@pytest.mark.parametrize("rows, per_round", [({"cashflow/Receivables": 5000}, 14), ({}, 14)])
def test_a_watch_round_costs_one_call_per_table_that_has_a_probe(rows: dict, per_round: int) -> None:
    """A reload of many pages costs its probe each round and its full read once a day."""
    cost = watch_cost(plan_tables(), rows, 300.0, 2, False, 5000)
    assert cost.per_round == per_round and cost.rounds == 288
    assert cost.per_day == per_round * 288 + (5 if rows else 0)
    assert cost.at_least  # the other reloads were not read yet: counted as one page each

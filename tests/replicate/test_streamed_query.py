"""A query whose pages go to a memory-mapped file (beyond ``EXACTSQL_SPILL_BYTES``) answers exactly as one
whose pages stay in memory."""

from __future__ import annotations

import pytest

from exactsql.api.convert import process_held_bytes
from exactsql.api.session import Session
from exactsql.sql.engine import Engine

QUERY = (
    "use all; select division, id, glaccountcode, amountdc, date, description from transactionlines "
    "order by division, id"
)


def answer(session: Session) -> list[tuple]:
    engine = Engine({"eol": session})
    try:
        table = engine.run(QUERY)[-1].table
        assert table is not None
        return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True))
    finally:
        engine.close()


def test_a_spilled_read_answers_as_one_in_memory(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    in_memory = answer(session)
    monkeypatch.setenv("EXACTSQL_SPILL_BYTES", "1")  # every page of every division to the file
    spilled = answer(session)
    assert len(in_memory) > 1000 and spilled == in_memory


def test_the_divisions_of_a_read_share_one_budget_of_pages_in_memory(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_memory = answer(session)
    monkeypatch.setenv("EXACTSQL_SPILL_BYTES", "200000")  # a few pages in all: later ones to files
    budget = process_held_bytes()
    assert budget.limit == 200_000
    assert answer(session) == in_memory
    assert budget.held == 0  # every spool gave its bytes back when its table was taken

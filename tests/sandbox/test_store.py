"""Per-division state: entities built on first use, Timestamps that do not depend on that order, changes to
any entity feeding sync and sync/Deleted."""

from __future__ import annotations

import datetime as dt

import numpy as np

from exactsql.catalog import load_catalog
from exactsql.sandbox.datagen import SERVED, World
from exactsql.sandbox.store import DELETED_ENTITY_TYPES, DivisionState

TODAY = dt.date(2026, 11, 29)
NOW_MS = 1_795_000_000_000


def state(seed: int = 3) -> DivisionState:
    world = World(seed=seed, divisions=1, size="small", today=TODAY)
    code = world.division_codes[0]
    return DivisionState(world.division(code), code, [load_catalog().table(e) for e in SERVED], seed)


def test_only_the_entities_asked_for_are_built() -> None:
    s = state()
    assert s.built == [] and len(s.entities) == len(SERVED)
    assert s.rows("salesorder/SalesOrderLines") is not None
    assert s.rows("Payroll/Employees") is not None  # case-insensitive
    assert s.built == ["salesorder/salesorderlines", "payroll/employees"]
    assert s.rows("crm/Nothing") is None


def test_timestamps_do_not_depend_on_the_order_entities_are_built() -> None:
    a, b = state(), state()
    names = ["crm/Accounts", "salesorder/SalesOrders", "payroll/Employees"]
    first = {n: a.rows(n).column("Timestamp").copy() for n in names}  # type: ignore[union-attr]
    second = {n: b.rows(n).column("Timestamp").copy() for n in reversed(names)}  # type: ignore[union-attr]
    for name in names:
        assert np.array_equal(first[name], second[name]), name
    stamps = np.concatenate(list(first.values()))
    assert len(np.unique(stamps)) == len(stamps)


def test_changes_to_a_generic_entity_feed_sync_and_deleted() -> None:
    s = state()
    entity = "salesorder/SalesOrders"
    rows = s.rows(entity)
    assert rows is not None
    top = max(int(s.rows(e).column("Timestamp").max()) for e in ("crm/Accounts", entity))  # type: ignore[union-attr]
    n = rows.n
    done = s.mutate(entity, 4, 3, 2, np.random.default_rng(1), "someone", NOW_MS)
    assert done == {"inserted": 4, "updated": 3, "deleted": 2}
    stamps = rows.column("Timestamp")
    changed = np.flatnonzero(stamps > top)
    assert len(changed) == 4 + 3 and set(range(n, n + 4)) <= set(changed.tolist())
    assert (rows.take("Created", np.arange(n, n + 4)) == NOW_MS).all()
    assert (~rows.alive_mask()).sum() == 2
    deleted = s.deleted
    assert deleted.n == 2
    assert set(deleted.column("EntityType").tolist()) == {DELETED_ENTITY_TYPES[entity]} == {32}
    gone = rows.take(rows.key_name, np.flatnonzero(~rows.alive_mask())).tolist()
    assert sorted(deleted.column("EntityKey").tolist()) == sorted(gone)
    assert (deleted.column("Timestamp") > stamps[changed].max()).all()


def test_rows_of_any_key_are_found_by_key() -> None:
    s = state()
    for entity in ("read_financial/ReceivablesList", "general/Currencies", "cashflow/PaymentTerms"):
        rows = s.rows(entity)
        assert rows is not None and rows.n > 0, entity
        key = rows.take(rows.key_name, np.array([rows.n - 1]))[0]
        assert rows.index_of_key(str(key)) == rows.n - 1, entity
    assert s.rows("general/Currencies").index_of_key("XXX") is None  # type: ignore[union-attr]

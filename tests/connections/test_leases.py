"""Leases of rate slots and kept error-reserve slots: several calls per store round trip, and the shared
budgets still hold across processes (each budget here stands for a process; one store is shared)."""

from __future__ import annotations

import threading
import time

import pytest

from exactsql.api.budget import RateBudget, RateState, Window, WindowFull
from exactsql.api.error_budget import ErrorBudget
from exactsql.state.memory import MemoryStore
from tests.connections.test_cluster import FixedClock

GL = "financial/glaccounts"


class CountingStore(MemoryStore):
    """A memory store that counts its transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.transactions = 0

    def update_many(self, keys, fn):  # type: ignore[no-untyped-def]
        self.transactions += 1
        return super().update_many(keys, fn)


def process(store: MemoryStore, clock: FixedClock, limit: int = 60) -> RateBudget:
    return RateBudget(store, "app", limit, 5000, clock)  # type: ignore[arg-type]


def known_window(
    store: MemoryStore, rates: RateBudget, reset: float, length: float = 60.0, used: int = 0
) -> None:
    """The window as the first answers teach it: its reset and length known, ``used`` calls counted."""
    minute = Window(used=used, limit=rates.minutely, reset=reset, length=length)
    state = RateState(minute, Window(limit=5000)).dump()
    store.update(rates._key(1), lambda _: (state, None))


def test_a_lease_serves_several_calls_per_round_trip() -> None:
    store, clock = CountingStore(), FixedClock(1000.0)
    rates = process(store, clock)
    known_window(store, rates, reset=1060.0)
    before = store.transactions
    admitted = [rates.acquire(1) for _ in range(12)]
    assert admitted == [1060.0] * 12
    assert store.transactions - before == 3  # two leases of 6 (a tenth of 60), and the division's index entry
    assert rates.state(1).minute.used == 12


def test_leases_of_several_processes_never_exceed_the_window() -> None:
    store, clock = MemoryStore(), FixedClock(1000.0)
    processes = [process(store, clock) for _ in range(4)]
    known_window(store, processes[0], reset=1060.0)
    sent = 0
    for _ in range(30):
        for rates in processes:
            try:
                rates.acquire(1, wait=False)
                sent += 1
            except WindowFull as full:
                assert full.until > 1060.0  # the next window
    assert sent == 60
    assert processes[0].state(1).minute.used == 60


def test_unused_leased_slots_go_back_to_the_others() -> None:
    store, clock = MemoryStore(), FixedClock(1000.0)
    first, second = process(store, clock, limit=10), process(store, clock, limit=10)
    first.lease = second.lease = 5
    known_window(store, first, reset=1060.0)
    first.acquire(1)  # leases 5, sends 1
    for _ in range(5):
        second.acquire(1)
    with pytest.raises(WindowFull):
        second.acquire(1, wait=False)  # the first holds 4 unsent
    first.flush()
    assert first.state(1).minute.used == 6
    for _ in range(4):
        second.acquire(1, wait=False)


def test_a_lease_is_not_used_at_the_end_of_its_window() -> None:
    """Leased slots are counted in one window: near its reset they are dropped, and the next call is
    admitted (one at a time) in the window it will land in."""
    store, clock = MemoryStore(), FixedClock(1000.0)
    rates = process(store, clock)
    known_window(store, rates, reset=1060.0)
    rates.acquire(1)
    clock.t = 1059.8  # inside the guard before the reset: no leased slot is sent now
    with pytest.raises(WindowFull) as full:
        rates.acquire(1, wait=False)
    assert full.value.until > 1060.0
    clock.t = full.value.until
    admitted = rates.acquire(1)
    assert admitted is not None and admitted > 1060.0


@pytest.mark.parametrize(("used", "leased"), [(0, 6), (40, 1)])
def test_near_the_end_of_a_window_that_may_fill_calls_are_admitted_singly(used: int, leased: int) -> None:
    store, clock = MemoryStore(), FixedClock(1050.0)  # 10 s before the reset: the window's last fifth
    rates = process(store, clock)
    known_window(store, rates, reset=1060.0, used=used)
    rates.acquire(1)
    assert rates.state(1).minute.used == used + leased


def test_answers_are_folded_in_by_the_next_transaction() -> None:
    """The rate headers of leased calls are kept and folded in with the next lease: Exact's count still
    corrects the shared one (here another app's calls it reports)."""
    store, clock = MemoryStore(), FixedClock(1000.0)
    rates = process(store, clock)
    known_window(store, rates, reset=1060.0)
    admitted = rates.acquire(1)
    headers = {
        "X-RateLimit-Minutely-Limit": "60",
        "X-RateLimit-Minutely-Remaining": "20",
        "X-RateLimit-Minutely-Reset": "1060000",
    }
    rates.reconcile(1, headers, admitted)
    assert rates.state(1).minute.used == 6  # kept, not written yet
    rates.flush()
    assert rates.state(1).minute.used == 40


def test_a_successful_call_keeps_its_error_slot_for_the_next() -> None:
    store, clock = CountingStore(), FixedClock(time.time())
    errors = ErrorBudget(store, "app", "user", 10, 8, clock)  # type: ignore[arg-type]
    ticket = errors.admit(1, GL)
    errors.settle(ticket, 200, 1, GL)
    before = store.transactions
    for _ in range(5):
        again = errors.admit(1, GL)
        errors.settle(again, 200, 1, GL)
    assert again == ticket and store.transactions == before


def test_kept_error_slots_count_as_in_flight_for_everyone() -> None:
    """A slot one process keeps is in flight for the others: errors plus slots never pass the reserve."""
    clock = FixedClock(time.time())
    store = MemoryStore()
    keeper = ErrorBudget(store, "app", "user", 10, 8, clock)  # type: ignore[arg-type]
    other = ErrorBudget(store, "app", "user", 10, 8, clock)  # type: ignore[arg-type]
    keeper.settle(keeper.admit(1, GL), 200, 1, GL)  # kept
    for _ in range(7):
        other.admit(1, GL)  # in flight: with the kept one, the reserve of 8
    done = threading.Event()

    def admit() -> None:
        other.admit(1, GL)
        done.set()

    threading.Thread(target=admit, daemon=True).start()
    assert not done.wait(0.3)
    keeper.release_kept()
    assert done.wait(2)


def test_an_error_frees_the_kept_slot_and_counts() -> None:
    clock = FixedClock(time.time())
    errors = ErrorBudget(MemoryStore(), "app", "user", 10, 8, clock)  # type: ignore[arg-type]
    errors.settle(errors.admit(1, GL), 200, 1, GL)
    ticket = errors.admit(1, GL)
    errors.settle(ticket, 404, 1, GL)
    assert errors.used(1, GL) == 1
    assert errors.admit(1, GL) != ticket  # the kept one was spent on the error


def test_a_slot_is_kept_only_while_the_reserve_is_mostly_free() -> None:
    """After an error this hour, slots go back at once: a waiting process is not held by an idle one."""
    clock = FixedClock(time.time())
    store = CountingStore()
    errors = ErrorBudget(store, "app", "user", 10, 8, clock)  # type: ignore[arg-type]
    errors.settle(errors.admit(1, GL), 400, 1, GL)
    ticket = errors.admit(1, GL)
    errors.settle(ticket, 200, 1, GL)
    before = store.transactions
    errors.settle(errors.admit(1, GL), 200, 1, GL)
    assert store.transactions - before == 2  # taken and freed, as before leases


def test_slots_of_a_lease_its_window_ended_on_go_back_to_the_day() -> None:
    store, clock = MemoryStore(), FixedClock(1000.0)
    rates = process(store, clock)
    known_window(store, rates, reset=1060.0)
    rates.acquire(1)  # a lease of 6: one sent, five held
    assert rates.state(1).day.used == 6
    clock.t = 1061.0  # the window ended before the process needed them
    rates.acquire(1)
    day = rates.state(1).day.used
    assert day <= 1 + 6  # the first call, and the new lease: the five left over are not counted in the day
    rates.flush()
    assert rates.state(1).day.used == 2  # two calls were sent today


def test_the_days_last_calls_are_admitted_one_at_a_time() -> None:
    store, clock = MemoryStore(), FixedClock(1000.0)
    first, second = process(store, clock), process(store, clock)
    minute = Window(used=0, limit=60, reset=1060.0, length=60.0)
    state = RateState(minute, Window(used=4994, limit=5000)).dump()
    store.update(first._key(1), lambda _: (state, None))
    first.acquire(1)
    second.acquire(1)  # with 6 calls left today, one process must not hold them all
    assert first.state(1).day.used == 4996

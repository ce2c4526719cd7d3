"""Divisions taking turns at their minute windows: those that can call now, in order, and those whose
window is full, by when it reopens (a waiting division holds no worker thread)."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Turns(Generic[T]):
    """A ready queue (first come, first served) and a queue ordered by the time each entry may go on."""

    def __init__(self, ready: Iterable[T] = ()) -> None:
        self.ready: deque[T] = deque(ready)
        self._waiting: list[tuple[float, int, T]] = []  # (not_before, order, entry)
        self._order = 0

    @property
    def waiting(self) -> int:
        """Entries waiting for their time."""
        return len(self._waiting)

    def put(self, entry: T, not_before: float, now: float) -> None:
        """Back in line: to the back of the ready queue, or to wait until ``not_before`` when that is later
        than ``now``."""
        if not_before > now:
            self._order += 1
            heapq.heappush(self._waiting, (not_before, self._order, entry))
        else:
            self.ready.append(entry)

    def release(self, now: float, every: bool = False) -> None:
        """Moves the entries whose time has come (``every``: all of them) to the ready queue."""
        while self._waiting and (every or self._waiting[0][0] <= now):
            self.ready.append(heapq.heappop(self._waiting)[2])

    def timeout(self, now: float) -> float | None:
        """Seconds until the first waiting entry may go on (None when none waits)."""
        return max(0.0, self._waiting[0][0] - now) if self._waiting else None

"""One clock for every process sharing a state store: the store's time, read once and then followed locally."""

from __future__ import annotations

import time

from exactsql.state import StateStore


class StoreClock:
    """Epoch seconds on the state store's clock (so machines with skewed clocks agree on token timing)."""

    def __init__(self, store: StateStore) -> None:
        before = time.time()
        remote = store.now()
        after = time.time()
        self.skew = remote - (before + after) / 2

    def now(self) -> float:
        """The store's time now."""
        return time.time() + self.skew

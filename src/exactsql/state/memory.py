"""A state store inside one process: for the in-process sandbox, whose tokens mean nothing elsewhere."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from exactsql.state.base import StoreBase
from exactsql.state.protocol import LockTimeout, check_new_values

T = TypeVar("T")


class MemoryStore(StoreBase):
    """Dict-backed; ``update`` and ``lock`` are atomic across the threads of this process."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._data: dict[str, bytes] = {}
        self._guard = threading.RLock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> bytes | None:
        with self._guard:
            return self._data.get(key)

    def _update_many(
        self, keys: list[str], fn: Callable[[list[bytes | None]], tuple[list[bytes | None], T]]
    ) -> T:
        with self._guard:
            new, result = fn([self._data.get(k) for k in keys])
            for key, value in zip(keys, check_new_values(keys, new), strict=True):
                if value is None:
                    self._data.pop(key, None)
                else:
                    self._data[key] = value
            return result

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 30.0) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=max(timeout, 0)):
            raise LockTimeout(name, timeout, self.url)
        try:
            yield
        finally:
            lock.release()

    def now(self) -> float:
        return time.time()

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "MemoryStore()"

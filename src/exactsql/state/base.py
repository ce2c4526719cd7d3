"""What every backend of the ``StateStore`` protocol shares: ``update`` as ``update_many`` over one key, the
check of ``update_many``'s keys, and use as a context manager (``close`` at the end of the block)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self, TypeVar

from exactsql.state.protocol import check_keys, single

T = TypeVar("T")


class StoreBase:
    """A mixin for the backends: they implement ``_update_many`` (over checked keys) and ``close``."""

    url: str

    def update(self, key: str, fn: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        return self.update_many([key], single(fn))

    def update_many(
        self, keys: list[str], fn: Callable[[list[bytes | None]], tuple[list[bytes | None], T]]
    ) -> T:
        keys = check_keys(keys)
        if not keys:
            return fn([])[1]
        return self._update_many(keys, fn)

    def _update_many(
        self, keys: list[str], fn: Callable[[list[bytes | None]], tuple[list[bytes | None], T]]
    ) -> T:
        """``update_many`` over ``keys``, already checked to be distinct strings."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""A small thread-safe pool of database connections that survives ``fork``, shared by the SQL backends.

One connection is checked out per operation (or per held lock), so any number of threads can share a store.
After a fork the child never uses or closes the parent's idle connections (they share its sockets or file
state): it keeps them referenced, so garbage collection never closes them either, and starts afresh.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)

MAX_IDLE_CONNECTIONS = 4
_FORK_ORPHANS: list[object] = []  # connections inherited through fork: never used or closed


def _always(conn: object) -> bool:
    return True


class ConnectionPool(Generic[C]):
    """Up to ``max_idle`` idle connections made by ``connect``, for the process that made them.

    ``usable(conn)`` says whether an idle connection may be handed out again (else it is dropped);
    ``reusable(conn)`` whether a connection checked back in may go idle (else it is closed). ``label`` names
    the store in the error raised once the pool is closed.
    """

    def __init__(
        self,
        connect: Callable[[], C],
        *,
        label: str,
        reusable: Callable[[C], bool] = _always,
        usable: Callable[[C], bool] = _always,
        max_idle: int = MAX_IDLE_CONNECTIONS,
    ) -> None:
        self._connect = connect
        self._label = label
        self._reusable = reusable
        self._usable = usable
        self._max_idle = max_idle
        self._idle: list[C] = []
        self._pool_lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        """A RuntimeError if the pool is closed."""
        if self._closed:
            raise RuntimeError(f"state store {self._label} is closed")

    def checkout(self) -> C:
        """An idle connection, or a new one; the caller owns it until ``checkin``."""
        with self._pool_lock:
            self.check_open()
            if os.getpid() != self._pid:
                # Forked: never use or close the parent's connections here.
                _FORK_ORPHANS.extend(self._idle)
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                conn = self._idle.pop()
                if self._usable(conn):
                    return conn
        return self._connect()

    def checkin(self, conn: C) -> None:
        """Keep ``conn`` idle if it is reusable and there is room, else close it."""
        reusable = self._reusable(conn)
        with self._pool_lock:
            if (
                reusable
                and not self._closed
                and os.getpid() == self._pid
                and len(self._idle) < self._max_idle
            ):
                self._idle.append(conn)
                return
        conn.close()

    @contextlib.contextmanager
    def connection(self) -> Iterator[C]:
        """A connection checked out for the ``with`` block."""
        conn = self.checkout()
        try:
            yield conn
        finally:
            self.checkin(conn)  # closes it unless it is reusable and there is room

    def close(self) -> None:
        """Close the idle connections (only in the process that made them); later checkouts fail."""
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
            mine = os.getpid() == self._pid
        if mine:
            for conn in idle:
                conn.close()

"""The shared state store: one atomic read-modify-write primitive, an exclusive lock, and a clock.

Every process on every machine that shares one Exact Online app shares one store, so the OAuth token
chain and the rate and error budgets are read and changed in one place. See ``docs/design/state.md``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

UpdateFn = Callable[[bytes | None], tuple[bytes | None, T]]
UpdateManyFn = Callable[[list[bytes | None]], tuple[list[bytes | None], T]]


class LockTimeout(TimeoutError):
    """``StateStore.lock`` waited ``timeout`` seconds without getting the lock."""

    def __init__(self, name: str, timeout: float, url: str = "") -> None:
        where = f" on {redact_url(url)}" if url else ""
        super().__init__(f"lock {name!r} not acquired within {timeout:g} s{where}")
        self.name = name
        self.timeout = timeout


@runtime_checkable
class StateStore(Protocol):
    """State shared by every process and machine that opens the same URL."""

    url: str

    def get(self, key: str) -> bytes | None:
        """The value of ``key``, or None if it is absent."""
        ...

    def update(self, key: str, fn: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        """Atomically replace the value of ``key`` by ``fn(current)[0]`` (None deletes) and return ``fn(current)[1]``.

        Atomic across all processes and machines sharing the store. ``fn`` may be called more than once
        (optimistic retries), so it must be pure; if it raises, nothing changes and the error propagates.
        """
        ...

    def update_many(
        self, keys: list[str], fn: Callable[[list[bytes | None]], tuple[list[bytes | None], T]]
    ) -> T:
        """``update`` over several distinct keys at once; ``fn`` gets and returns values in ``keys`` order."""
        ...

    def lock(self, name: str, timeout: float = 30.0) -> AbstractContextManager[None]:
        """An exclusive lock shared by every process and machine on the store.

        Raises ``LockTimeout`` after ``timeout`` seconds of waiting (``timeout <= 0``: one try). The lock is
        released when the block exits, and soon after the holding process dies (even by SIGKILL). It is not
        reentrant: taking a lock you already hold waits for yourself.
        """
        ...

    def now(self) -> float:
        """The store's clock in epoch seconds, so that several machines agree on time."""
        ...

    def close(self) -> None:
        """Release connections and files. Locks still held are released."""
        ...


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by the backends.


def lock_digest(name: str, size: int = 8) -> bytes:
    """A stable hash of a lock name (the same in every process, unlike ``hash()``)."""
    return hashlib.blake2b(name.encode("utf-8"), digest_size=size, person=b"exactsql-lock").digest()


def lock_file_stem(name: str) -> str:
    """A file-name-safe, collision-free name for a lock: a readable prefix plus a hash of the full name."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40].strip("._") or "lock"
    return f"{readable}-{lock_digest(name).hex()}"


def check_value(value: object) -> bytes | None:
    """``value`` as bytes, or None; a TypeError for anything else."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"state values must be bytes or None, not {type(value).__name__}")


def check_keys(keys: list[str]) -> list[str]:
    """``keys`` as a list of distinct strings; a ValueError or TypeError otherwise."""
    keys = list(keys)
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"state keys must be str, not {type(key).__name__}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"update_many needs distinct keys, got {keys!r}")
    return keys


def check_new_values(keys: list[str], new: object) -> list[bytes | None]:
    """The new values returned by an ``update_many`` function, checked against ``keys``."""
    if not isinstance(new, list | tuple):
        raise TypeError(
            f"update_many's function must return (list of new values, result), got {type(new).__name__}"
        )
    if len(new) != len(keys):
        raise ValueError(f"update_many's function returned {len(new)} values for {len(keys)} keys")
    return [check_value(v) for v in new]


def single(
    fn: Callable[[bytes | None], tuple[bytes | None, T]],
) -> Callable[[list[bytes | None]], tuple[list[bytes | None], T]]:
    """An ``update`` function as an ``update_many`` function over one key."""

    def many(values: list[bytes | None]) -> tuple[list[bytes | None], T]:
        new, result = fn(values[0])
        return [new], result

    return many


_USERINFO_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/?#@\s]*):[^/?#\s]*@")
_SECRET_PARAMETER = re.compile(
    r"(?i)(?<![a-z0-9_])((?:ssl)?password|passwd|pwd|(?:client_)?secret|(?:access_|refresh_)?token)(\s*=\s*)"
    r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;#'\"]+)"
)


def redact_url(url: str) -> str:
    """``url`` (or any text holding URLs or keyword DSNs) with every password shown as ``***``.

    Covers ``scheme://user:password@host``, ``?password=…`` (and ``sslpassword``, ``secret``, ``token``
    parameters) and libpq keyword strings such as ``host=db password='a b'``.
    """
    text = _USERINFO_PASSWORD.sub(r"\1:***@", url)
    return _SECRET_PARAMETER.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)

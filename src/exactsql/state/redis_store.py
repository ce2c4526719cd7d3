"""The Redis state store: shared by processes on many machines.

Values live at ``exactsql:kv:<key>``. ``update`` is optimistic: WATCH the keys, read, apply the function,
then MULTI/EXEC the writes; if another client changed a watched key in between, EXEC fails and the whole
read-modify-write is retried. Locks are ``exactsql:lock:<name>`` = a random token, set with ``NX PX <lease>``
and renewed by a daemon thread while held; release deletes the key only if it still holds our token (Lua).
A dead holder stops renewing, so its lock lapses within one lease (default 2 s; ``?lock_lease=<seconds>`` in
the URL or ``RedisStore(url, lock_lease=…)``).
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.exceptions import WatchError

from exactsql.state.base import StoreBase
from exactsql.state.protocol import LockTimeout, check_new_values, redact_url

T = TypeVar("T")

log = logging.getLogger(__name__)

PREFIX = "exactsql:"
KV_PREFIX = PREFIX + "kv:"
LOCK_PREFIX = PREFIX + "lock:"
DEFAULT_LOCK_LEASE = 2.0

# KEYS[1] = lock key, ARGV[1] = our token, ARGV[2] = lease in ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def split_url(url: str) -> tuple[str, float]:
    """``url`` without exactsql's own ``lock_lease`` query parameter, and that lease in seconds."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    lease = DEFAULT_LOCK_LEASE
    rest = []
    for name, value in query:
        if name == "lock_lease":
            try:
                lease = float(value)
            except ValueError:
                raise ValueError(f"lock_lease must be a number of seconds, not {value!r}") from None
        else:
            rest.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(rest))), lease


class _Held:
    """A lock we hold: its key, token and the thread that renews its lease."""

    def __init__(self, store: RedisStore, name: str, key: str, token: str, lease_ms: int) -> None:
        self.store, self.name, self.key, self.token, self.lease_ms = store, name, key, token, lease_ms
        self.stop = threading.Event()
        self.lost = False
        self.thread = threading.Thread(target=self._renew, name=f"exactsql-lock-renew:{name}", daemon=True)
        self.thread.start()

    def _renew(self) -> None:
        interval = self.lease_ms / 3000
        expires = time.monotonic() + self.lease_ms / 1000
        while not self.stop.wait(interval):
            try:
                ok = self.store._renew_script(keys=[self.key], args=[self.token, self.lease_ms])
            except redis.RedisError as e:
                if time.monotonic() < expires:
                    log.debug("renewing lock %r failed (retrying): %s", self.name, e)
                    continue
                ok = 0
            if not ok:
                self.lost = True
                log.warning(
                    "lost lock %r on %s: its lease lapsed before it could be renewed",
                    self.name,
                    redact_url(self.store.url),
                )
                return
            expires = time.monotonic() + self.lease_ms / 1000

    def release(self) -> None:
        self.stop.set()
        self.thread.join()
        try:
            self.store._release_script(keys=[self.key], args=[self.token])  # only if still ours
        except redis.RedisError as e:
            log.warning("releasing lock %r failed; it lapses within its lease: %s", self.name, e)


class RedisStore(StoreBase):
    """A ``StateStore`` in Redis (many processes on many machines; many threads)."""

    def __init__(self, url: str, *, lock_lease: float | None = None) -> None:
        self.url = url
        client_url, url_lease = split_url(url)
        self.lock_lease = url_lease if lock_lease is None else lock_lease
        if self.lock_lease <= 0:
            raise ValueError(f"lock_lease must be positive, not {self.lock_lease}")
        self._client = redis.Redis.from_url(client_url, socket_connect_timeout=10, health_check_interval=30)
        self._renew_script = self._client.register_script(_RENEW)
        self._release_script = self._client.register_script(_RELEASE)

    # -- the protocol

    def get(self, key: str) -> bytes | None:
        return cast("bytes | None", self._client.get(KV_PREFIX + key))

    def _update_many(
        self, keys: list[str], fn: Callable[[list[bytes | None]], tuple[list[bytes | None], T]]
    ) -> T:
        rkeys = [KV_PREFIX + k for k in keys]
        attempt = 0
        with self._client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(*rkeys)
                    old = cast("list[bytes | None]", pipe.mget(rkeys))
                    new_values, result = fn(list(old))
                    new = check_new_values(keys, new_values)
                    if new == old:
                        pipe.unwatch()
                        return result
                    pipe.multi()
                    for rkey, before, after in zip(rkeys, old, new, strict=True):
                        if after is None:
                            if before is not None:
                                pipe.delete(rkey)
                        elif after != before:
                            pipe.set(rkey, after)
                    pipe.execute()
                    return result
                except WatchError:
                    attempt += 1
                    # Back off a little, randomly, so that contenders stop colliding.
                    time.sleep(random.uniform(0, 0.0005 * min(attempt, 20)))
                finally:
                    pipe.reset()

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 30.0) -> Iterator[None]:
        key = LOCK_PREFIX + name
        token = secrets.token_hex(16)
        lease_ms = max(1, round(self.lock_lease * 1000))
        deadline = time.monotonic() + timeout
        pause = 0.002
        while not self._client.set(key, token, nx=True, px=lease_ms):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeout(name, timeout, self.url)
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.05)
        held = _Held(self, name, key, token, lease_ms)
        try:
            yield
        finally:
            held.release()

    def now(self) -> float:
        seconds, micros = cast("tuple[int, int]", self._client.time())
        return seconds + micros / 1_000_000

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisStore({redact_url(self.url)!r})"

"""The error budget shared through the state store: error responses per (app, user, division, endpoint, UTC
hour), and the calls in flight that could still become errors."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time

import orjson

from exactsql.api.budget import _hhmm, _utc
from exactsql.api.clock import StoreClock
from exactsql.errors import ErrorBudgetError
from exactsql.state import StateStore

#: How long a call may hold a slot of the error reserve (longer than a rate window's wait, a refresh and
#: the HTTP time-outs together): the slot of a process killed mid-call is free again after this.
FLIGHT_LEASE = 300.0
#: How long after it was taken a slot may be kept and used again by the process that took it (well inside
#: ``FLIGHT_LEASE``: a call started with it ends before the lease does).
KEEP_SLOT = 30.0


class ErrorBudget:
    """Error responses (400/401/403/404) per (app, user, division, endpoint, UTC hour).

    Exact blocks a key after 10 in an hour; exactsql stops at its reserve (8 by default) and refuses
    further calls to that endpoint and division until the hour has passed. Calls in flight hold a slot
    (``admit``/``settle``): errors plus calls in flight never exceed the reserve, so that even if every call
    in flight fails, however many processes sent them, the reserve holds.
    """

    COUNTED = frozenset({400, 401, 403, 404})

    def __init__(
        self, store: StateStore, client_id: str, user_id: str, limit: int, reserve: int, clock: StoreClock
    ) -> None:
        self.store, self.client_id, self.user_id = store, client_id, user_id
        self.limit, self.reserve, self.clock = limit, reserve, clock
        self._unsettled: list[tuple[str, int | None, int | None, str]] = []
        self._unsettled_lock = threading.Lock()
        # Slots this process holds while they are free (see :meth:`admit`): ticket → reusable until.
        self._kept: dict[tuple[int | None, str], dict[str, float]] = {}
        self._reusable: dict[str, float] = {}

    def _hour(self) -> str:
        return _utc(self.clock.now()).strftime("%Y-%m-%dT%H")

    def _key(self, division: int | None, endpoint: str) -> str:
        return f"errors:{self.client_id.lower()}|{self.user_id.lower()}|{division}|{endpoint}|{self._hour()}"

    def _flight_key(self, division: int | None, endpoint: str) -> str:
        return f"errors-flight:{self.client_id.lower()}|{self.user_id.lower()}|{division}|{endpoint}"

    def _index_key(self) -> str:
        return f"errors-index:{self.client_id.lower()}|{self.user_id.lower()}|{self._hour()}"

    def in_use(self) -> list[tuple[int | None, str, int]]:
        """(division, endpoint, errors) for every endpoint with errors this hour."""
        raw = self.store.get(self._index_key())
        pairs = orjson.loads(raw) if raw else []
        return [(d, e, self.used(d, e)) for d, e in pairs]

    def used(self, division: int | None, endpoint: str) -> int:
        """Errors counted this hour."""
        return int(self.store.get(self._key(division, endpoint)) or b"0")

    def check(self, division: int | None, endpoint: str) -> None:
        """ErrorBudgetError when the reserve is reached for this endpoint and division this hour, or when
        Exact blocks it."""
        blocked = self.blocked_until(division, endpoint)
        if blocked is not None:
            raise ErrorBudgetError(
                f"Exact has blocked this app's key on {endpoint} in division {division} after too many "
                "error responses this hour; exactsql refuses calls to it until the block lifts.",
                f"Calls to it resume at {_hhmm(blocked)}. Fix the request that fails first.",
            )
        used = self.used(division, endpoint)
        if used >= self.reserve:
            next_hour = (_utc(self.clock.now()) + dt.timedelta(hours=1)).replace(
                minute=0, second=0, microsecond=0
            )
            raise ErrorBudgetError(
                f"{used} error responses from {endpoint} in division {division} this hour; exactsql stops at "
                f"{self.reserve} of Exact's {self.limit} so that the app's key is not blocked.",
                f"Calls to it resume at {next_hour:%H:%M} UTC. Fix the request that fails first.",
            )

    def _changed(self, keys: list[str], now: float) -> bool:
        """Whether a slot looks free, or the reserve is used up (reads only: no write while waiting)."""
        raw, flight = self.store.get(keys[0]), self.store.get(keys[1])
        errors = int(raw or b"0")
        slots = [d for d in (orjson.loads(flight) if flight else {}).values() if d > now]
        return errors >= self.reserve or errors + len(slots) < self.reserve

    def admit(self, division: int | None, endpoint: str) -> str:
        """Takes a slot for a call about to be made (waiting while calls in flight hold what is left of the
        reserve); ErrorBudgetError when the reserve is reached or Exact has blocked the endpoint. Returns the
        ticket to :meth:`settle`.

        A slot taken while most of the reserve was free and no error was counted may be kept by this process
        after its call succeeded, and used again for the next call to the same endpoint for up to
        ``KEEP_SLOT`` seconds (no store round trip): it still counts as in flight for every other process.
        """
        if self._unsettled:
            self._settle_kept()
        where = (division, endpoint)
        stale: list[str] = []
        ticket = secrets.token_hex(8)
        while True:
            kept = self._take_kept(where, stale)
            if kept is not None:
                return kept
            now = self.clock.now()
            keys = [
                self._key(division, endpoint),  # this hour's
                self._flight_key(division, endpoint),
                self._block_key(division, endpoint),
            ]

            def take(
                values: list[bytes | None], now: float = now, stale: list[str] = stale
            ) -> tuple[list[bytes | None], tuple[str, bool]]:
                raw, flight, block = values
                slots = {t: d for t, d in (orjson.loads(flight) if flight else {}).items() if d > now}
                for old in stale:
                    slots.pop(old, None)
                freed = [raw, orjson.dumps(slots) if slots else None, block]
                if block is not None and float(block) > now:
                    return freed, ("blocked", False)
                errors = int(raw or b"0")
                if errors >= self.reserve:
                    return freed, ("refused", False)
                if errors + len(slots) >= self.reserve:
                    return freed, ("wait", False)
                slots[ticket] = now + FLIGHT_LEASE
                keep = errors == 0 and self.reserve - len(slots) >= self.reserve // 2
                return [raw, orjson.dumps(slots), block], ("ok", keep)

            verdict, keep = self.store.update_many(keys, take)
            stale = []
            if verdict == "ok":
                if keep:
                    with self._unsettled_lock:
                        self._reusable[ticket] = now + KEEP_SLOT
                return ticket
            if verdict in ("refused", "blocked"):
                self.check(division, endpoint)  # raises (unless the hour has just turned: then try again)
                continue
            time.sleep(0.01)
            while not self._changed(keys[:2], self.clock.now()) and not self._kept.get(where):
                time.sleep(0.01)

    def _take_kept(self, where: tuple[int | None, str], stale: list[str]) -> str | None:
        """A slot this process keeps for ``where`` (one a thread of it settled while this one waited);
        slots kept too long go to ``stale``, to be freed by the next transaction."""
        now = self.clock.now()
        with self._unsettled_lock:
            kept = self._kept.get(where, {})
            while kept:
                ticket, until = kept.popitem()
                if now < until:
                    return ticket
                stale.append(ticket)
                self._reusable.pop(ticket, None)
        return None

    def release_kept(self) -> None:
        """Frees the slots this process keeps without a call in flight (before it ends or goes idle)."""
        with self._unsettled_lock:
            kept, self._kept = self._kept, {}
            for tickets in kept.values():
                for ticket in tickets:
                    self._reusable.pop(ticket, None)
        for (division, endpoint), tickets in kept.items():
            for ticket in tickets:
                self._settle(ticket, None, division, endpoint)

    def _block_key(self, division: int | None, endpoint: str) -> str:
        return f"errors-block:{self.client_id.lower()}|{self.user_id.lower()}|{division}|{endpoint}"

    def _blocks_index_key(self) -> str:
        return f"errors-blocks:{self.client_id.lower()}|{self.user_id.lower()}"

    def blocked_until(self, division: int | None, endpoint: str) -> float | None:
        """Until when Exact blocks this app's key on ``endpoint`` in ``division`` (None: not blocked)."""
        raw = self.store.get(self._block_key(division, endpoint))
        until = float(raw) if raw else None
        return until if until is not None and until > self.clock.now() else None

    def block(self, division: int | None, endpoint: str) -> float:
        """Remembers, for every process, that Exact blocked the key on ``endpoint`` (a 429 with
        ``ErrorLimitExceeded``): until the end of this UTC hour, when Exact's count starts again. Returns
        that moment."""
        now = self.clock.now()
        until = (_utc(now) + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0).timestamp()

        def put(values: list[bytes | None]) -> tuple[list[bytes | None], None]:
            pairs = [p for p in (orjson.loads(values[1]) if values[1] else []) if p[2] > now]
            pairs = [p for p in pairs if p[:2] != [division, endpoint]] + [[division, endpoint, until]]
            return [str(until).encode(), orjson.dumps(pairs)], None

        self.store.update_many([self._block_key(division, endpoint), self._blocks_index_key()], put)
        return until

    def blocks(self) -> list[tuple[int | None, str, float]]:
        """(division, endpoint, until) for every endpoint Exact blocks now."""
        raw = self.store.get(self._blocks_index_key())
        now = self.clock.now()
        return [(d, e, u) for d, e, u in (orjson.loads(raw) if raw else []) if u > now]

    def settle(self, ticket: str, status: int | None, division: int | None, endpoint: str) -> None:
        """Frees the slot of ``ticket`` and counts the response if its status is one Exact counts (None: no
        response). When the store cannot be reached, the settlement is kept and made before this process's
        next admission, so that an outage does not leave slots held for their whole lease. A slot that may be
        kept (see :meth:`admit`) and whose call got no counted error is kept, without a round trip."""
        if status not in self.COUNTED:
            with self._unsettled_lock:
                until = self._reusable.get(ticket)
                if until is not None and self.clock.now() < until:
                    self._kept.setdefault((division, endpoint), {})[ticket] = until
                    return
                self._reusable.pop(ticket, None)
        else:
            with self._unsettled_lock:
                self._reusable.pop(ticket, None)
        try:
            self._settle(ticket, status, division, endpoint)
        except Exception:
            with self._unsettled_lock:
                self._unsettled.append((ticket, status, division, endpoint))
            raise

    def _settle_kept(self) -> None:
        """Makes the settlements an outage kept back (they stay kept while the store is still away)."""
        with self._unsettled_lock:
            kept, self._unsettled = self._unsettled, []
        for n, (ticket, status, division, endpoint) in enumerate(kept):
            try:
                self._settle(ticket, status, division, endpoint)
            except Exception:
                with self._unsettled_lock:
                    self._unsettled.extend(kept[n:])
                raise

    def _settle(self, ticket: str, status: int | None, division: int | None, endpoint: str) -> None:
        counted = status in self.COUNTED
        keys = [self._flight_key(division, endpoint)]
        if counted:
            keys += [self._key(division, endpoint), self._index_key()]

        def done(values: list[bytes | None]) -> tuple[list[bytes | None], None]:
            now = self.clock.now()
            slots = {t: d for t, d in (orjson.loads(values[0]) if values[0] else {}).items() if d > now}
            slots.pop(ticket, None)
            out = [orjson.dumps(slots) if slots else None]
            if counted:
                out += self._counted(values[1], values[2], division, endpoint)
            return out, None

        self.store.update_many(keys, done)

    @staticmethod
    def _counted(
        raw: bytes | None, index: bytes | None, division: int | None, endpoint: str
    ) -> list[bytes | None]:
        pairs = orjson.loads(index) if index else []
        if [division, endpoint] not in pairs:
            pairs.append([division, endpoint])
        return [str(int(raw or b"0") + 1).encode(), orjson.dumps(pairs)]

    def record(self, status: int, division: int | None, endpoint: str) -> None:
        """Counts a response if its status is one Exact counts (for a call sent without a slot)."""
        if status not in self.COUNTED:
            return

        def count(values: list[bytes | None]) -> tuple[list[bytes | None], None]:
            return self._counted(values[0], values[1], division, endpoint), None

        self.store.update_many([self._key(division, endpoint), self._index_key()], count)

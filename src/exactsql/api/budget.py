"""Budgets shared through the state store: rate windows, the error budget and token-endpoint calls."""

from __future__ import annotations

import datetime as dt
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import orjson

from exactsql.api.clock import StoreClock
from exactsql.errors import ErrorBudgetError, RateLimitError, TokenBudgetError
from exactsql.state import StateStore

#: Exact's window lengths, used until the answers teach the real ones (a time-scaled sandbox has shorter).
MINUTE, DAY = 60.0, 86400.0
#: The longest a call waits for a slot of a minute window before that is an error that says why.
MAX_WAIT = 600.0


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _hhmm(epoch: float) -> str:
    return _utc(epoch).strftime("%H:%M UTC")


class TokenCallBudget:
    """Token-endpoint calls per (app, user, UTC day): counted before each call, refused at the limit."""

    def __init__(
        self, store: StateStore, client_id: str, user_id: str, limit: int, clock: StoreClock
    ) -> None:
        self.store, self.client_id, self.user_id, self.limit, self.clock = (
            store,
            client_id,
            user_id,
            limit,
            clock,
        )

    def _key(self) -> str:
        day = _utc(self.clock.now()).date().isoformat()
        return f"tokencalls:{self.client_id.lower()}|{self.user_id.lower()}|{day}"

    def check(self) -> None:
        """TokenBudgetError when today's calls are used up (counts nothing)."""
        if self.used() >= self.limit:
            raise self._exhausted()

    def _exhausted(self) -> TokenBudgetError:
        return TokenBudgetError(
            f"All {self.limit} token-endpoint calls for this app and user are used today.",
            "Exact allows no more until 00:00 UTC; running processes keep their token until it expires.",
        )

    def spend(self) -> int:
        """Counts one call; TokenBudgetError when today's calls are used up."""

        def incr(raw: bytes | None) -> tuple[bytes | None, int]:
            used = int(raw or b"0")
            if used >= self.limit:
                return raw, -1
            return str(used + 1).encode(), used + 1

        used = self.store.update(self._key(), incr)
        if used < 0:
            raise self._exhausted()
        return used

    def record(self) -> None:
        """Counts a call that was made without asking first (the code exchange of a login)."""
        self.store.update(self._key(), lambda raw: (str(int(raw or b"0") + 1).encode(), None))

    def used(self) -> int:
        """Calls counted today."""
        return int(self.store.get(self._key()) or b"0")


@dataclass
class Window:
    """What is known of one rate window of Exact's: calls used, the limit, and when it resets."""

    used: int = 0
    limit: int = 60
    reset: float | None = None  # epoch seconds; None until a response says
    length: float | None = None  # learned from consecutive resets
    ended: float | None = None  # the reset of the window that ended last (roll() forgets ``reset``)
    opened: float | None = None  # when the first call was admitted while no reset was known

    def expire(self, now: float, nominal: float) -> None:
        """Ends a window whose reset no answer ever named, on the clock: one window length (learned, else
        ``nominal``) after its first call. Calls admitted but never answered cannot hold it shut for ever."""
        if self.reset is None and self.opened is not None and now >= self.opened + (self.length or nominal):
            self.used, self.opened = 0, None

    def reopens(self, now: float, nominal: float) -> float:
        """When a full window whose reset is unknown ends on the clock (see :meth:`expire`)."""
        if self.opened is None:
            return now + 0.05
        return self.opened + (self.length or nominal)

    def count(self, now: float) -> None:
        """Counts one admitted call."""
        self.used += 1
        if self.reset is None and self.opened is None:
            self.opened = now

    def uncount(self) -> None:
        """Gives back one admitted call that was never sent."""
        self.used = max(0, self.used - 1)

    def guard(self) -> float:
        """How close to a reset no call is sent: calls arrive late, and clocks differ a little."""
        return min(0.5, 0.03 * self.length) if self.length else 0.5

    def stale(self, reset: float) -> bool:
        """Whether an answer naming ``reset`` comes from a window that this one has already rolled past."""
        if self.reset is not None:
            return reset < self.reset - 0.001
        return self.ended is not None and reset <= self.ended + 0.001

    def roll(self, now: float) -> None:
        """Starts the next window once the known reset has passed."""
        if self.reset is not None and now >= self.reset:
            self.used, self.ended, self.reset, self.opened = 0, self.reset, None, None

    def reconcile(self, limit: int, remaining: int, reset: float, admitted: float | None = None) -> None:
        """Takes in what a response said: Exact's count is authoritative, calls in flight are kept.

        ``admitted``: the reset of the window the call was counted in here (see :meth:`admitted_in`).
        """
        self.limit = limit
        if self.stale(reset):
            return  # an answer from a window that already ended: it knows nothing of the calls since
        known = self.reset if self.reset is not None else self.ended
        fresh = False
        if known is not None and reset > known + 0.001:
            gap = reset - known  # whole windows: the smallest gap seen is one window
            self.length = gap if self.length is None else min(self.length, gap)
            if self.reset is not None:
                self.used, fresh = 0, True  # nothing was admitted here yet: Exact's count is all there is
        self.reset, self.opened = reset, None
        self.used = max(self.used, limit - remaining)
        if admitted is not None and reset > admitted + 0.001 and not fresh:
            self.used += 1  # counted in an earlier window here, in this one by Exact: it arrived late

    def admitted_in(self, now: float) -> float | None:
        """The reset of the window a call admitted now is counted in (None when not known)."""
        if self.reset is not None:
            return self.reset
        if self.ended is None or not self.length:
            return None
        return self.ended + self.length * max(1, math.ceil((now - self.ended) / self.length))


@dataclass
class RateState:
    """Both windows of one (app, division)."""

    minute: Window
    day: Window

    @classmethod
    def load(cls, raw: bytes | None, minutely: int, daily: int) -> RateState:
        if not raw:
            return cls(Window(limit=minutely), Window(limit=daily))
        data = orjson.loads(raw)
        return cls(Window(**data["minute"]), Window(**data["day"]))

    def dump(self) -> bytes:
        return orjson.dumps(asdict(self))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name) or headers.get(name.lower())


class RateBudget:
    """Exact's 60-a-minute and 5,000-a-day windows per (app, division), admitted before each call.

    Calls are counted when admitted, so processes on any number of machines share one budget; every
    response's ``X-RateLimit-*`` headers then correct the count and teach the window boundaries.
    """

    def __init__(
        self,
        store: StateStore,
        client_id: str,
        minutely: int,
        daily: int,
        clock: StoreClock,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.store, self.client_id, self.minutely, self.daily, self.clock = (
            store,
            client_id,
            minutely,
            daily,
            clock,
        )
        self.max_wait = max_wait
        self._indexed: set[int] = set()

    def _key(self, division: int) -> str:
        return f"rate:{self.client_id.lower()}|{division}"

    def _index_key(self) -> str:
        return f"rate-divisions:{self.client_id.lower()}"

    def divisions(self) -> list[int]:
        """The divisions this app has called through this store."""
        raw = self.store.get(self._index_key())
        return sorted(orjson.loads(raw)) if raw else []

    def _index(self, division: int) -> None:
        if division in self._indexed:
            return

        def add(raw: bytes | None) -> tuple[bytes | None, None]:
            known = set(orjson.loads(raw)) if raw else set()
            return orjson.dumps(sorted(known | {division})), None

        self.store.update(self._index_key(), add)
        self._indexed.add(division)

    def state(self, division: int) -> RateState:
        """The windows as the store has them."""
        return RateState.load(self.store.get(self._key(division)), self.minutely, self.daily)

    def acquire(self, division: int, on_wait: Callable[[float, str], None] | None = None) -> float | None:
        """Blocks until one call to ``division`` fits both windows; RateLimitError when the day is used up, or
        when no slot opens within ``max_wait`` seconds (every wait ends: a window whose reset is unknown ends
        on the clock, see :meth:`Window.expire`).

        Returns the reset of the minute window the call is counted in, for :meth:`reconcile` and
        :meth:`release`.
        """
        self._index(division)
        started = self.clock.now()
        while True:
            now = self.clock.now()

            def admit(raw: bytes | None, now: float = now) -> tuple[bytes | None, tuple[str, float | None]]:
                st = RateState.load(raw, self.minutely, self.daily)
                minute, reset, guard = st.minute, st.minute.reset, st.minute.guard()
                # A window in use closes ``guard`` before its reset and the next opens ``guard`` after it: a
                # call sent at the very end may arrive in the next window, and this clock may run a little
                # ahead of Exact's (a call sent just after the reset would land in the full window).
                full = minute.used >= minute.limit
                if (
                    reset is not None
                    and minute.used > 0
                    and now < reset + guard
                    and (full or now >= reset - guard)
                ):
                    return st.dump(), ("minute", reset + guard)
                minute.roll(now)
                st.day.roll(now)
                minute.expire(now, MINUTE)
                st.day.expire(now, DAY)
                if st.day.used >= st.day.limit:
                    return st.dump(), ("day", st.day.reset or st.day.reopens(now, DAY))
                if minute.used >= minute.limit:
                    return st.dump(), ("minute", minute.reopens(now, MINUTE))
                st.minute.count(now)
                st.day.count(now)
                return st.dump(), ("ok", minute.admitted_in(now))

            verdict, until = self.store.update(self._key(division), admit)
            if verdict == "ok":
                return until
            assert until is not None
            if verdict == "day":
                raise RateLimitError(
                    f"The daily limit of calls for division {division} is used up.",
                    f"It resets at {_hhmm(until)} ({_utc(until):%Y-%m-%d}).",
                )
            now = self.clock.now()
            wait = max(0.0, until - now) + 0.002
            if now + wait - started > self.max_wait:
                raise RateLimitError(
                    f"No call to division {division} could be admitted for {now - started:.0f} s: its minute "
                    f"window is said to reopen at {_utc(until):%H:%M:%S} UTC.",
                    "Other processes may be using every call, or this machine's clock differs from the state "
                    "store's; `exactsql status` shows the windows.",
                )
            if on_wait is not None and wait > 0.5:
                on_wait(wait, f"the minute window of division {division}")
            time.sleep(wait)

    def release(self, division: int, admitted: float | None) -> None:
        """Gives back a call that :meth:`acquire` admitted but that was never sent (its token or the store
        failed first), so that it does not hold a slot of the window."""

        def give_back(raw: bytes | None) -> tuple[bytes | None, None]:
            if not raw:
                return raw, None
            st = RateState.load(raw, self.minutely, self.daily)
            now = self.clock.now()
            st.minute.roll(now)
            st.day.roll(now)
            counted_in = st.minute.admitted_in(now)
            if counted_in is None or admitted is None:
                same = counted_in is None and admitted is None
            else:
                same = abs(counted_in - admitted) < 0.001
            if same:
                st.minute.uncount()
                st.day.uncount()
            return st.dump(), None

        self.store.update(self._key(division), give_back)

    def reconcile(self, division: int, headers: Mapping[str, str], admitted: float | None = None) -> None:
        """Takes in the ``X-RateLimit-*`` headers of a response (either set may be absent); ``admitted`` is
        what :meth:`acquire` returned for its call."""
        minute = [_header(headers, f"X-RateLimit-Minutely-{p}") for p in ("Limit", "Remaining", "Reset")]
        day = [_header(headers, f"X-RateLimit-{p}") for p in ("Limit", "Remaining", "Reset")]
        if None in minute and None in day:
            return

        def fold(raw: bytes | None) -> tuple[bytes | None, None]:
            st = RateState.load(raw, self.minutely, self.daily)
            if None not in minute:
                st.minute.reconcile(
                    int(minute[0] or 0), int(minute[1] or 0), int(minute[2] or 0) / 1000, admitted
                )
            if None not in day:
                st.day.reconcile(int(day[0] or 0), int(day[1] or 0), int(day[2] or 0) / 1000)
            return st.dump(), None

        self.store.update(self._key(division), fold)

    def exhausted(self, division: int, headers: Mapping[str, str]) -> float:
        """After an unexpected 429: the window it names is full until its reset (60 s when none is given).

        Returns how long to wait before trying again: 0, or, when the 429 names a window this process has
        already rolled past (its clock runs ahead of Exact's), a guard; the current window keeps its count.
        """
        now = self.clock.now()
        minute_reset = _header(headers, "X-RateLimit-Minutely-Reset")
        day_reset = _header(headers, "X-RateLimit-Reset")

        def fill(raw: bytes | None) -> tuple[bytes | None, float]:
            st = RateState.load(raw, self.minutely, self.daily)
            if day_reset and not minute_reset:
                st.day.used, st.day.reset = st.day.limit, int(day_reset) / 1000
                return st.dump(), 0.0
            named = int(minute_reset) / 1000 if minute_reset else now + 60
            if st.minute.stale(named):
                return raw, st.minute.guard()
            st.minute.used, st.minute.reset = st.minute.limit, named
            return st.dump(), 0.0

        return float(self.store.update(self._key(division), fill))


#: How long a call may hold a slot of the error reserve (longer than a rate window's wait, a refresh and
#: the HTTP time-outs together): the slot of a process killed mid-call is free again after this.
FLIGHT_LEASE = 300.0


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
        ticket to :meth:`settle`."""
        ticket = secrets.token_hex(8)
        if self._unsettled:
            self._settle_kept()
        while True:
            now = self.clock.now()
            keys = [
                self._key(division, endpoint),  # this hour's
                self._flight_key(division, endpoint),
                self._block_key(division, endpoint),
            ]

            def take(values: list[bytes | None], now: float = now) -> tuple[list[bytes | None], str]:
                raw, flight, block = values
                if block is not None and float(block) > now:
                    return values, "blocked"
                errors = int(raw or b"0")
                slots = {t: d for t, d in (orjson.loads(flight) if flight else {}).items() if d > now}
                if errors >= self.reserve:
                    return values, "refused"
                if errors + len(slots) >= self.reserve:
                    return values, "wait"
                slots[ticket] = now + FLIGHT_LEASE
                return [raw, orjson.dumps(slots), block], "ok"

            verdict = self.store.update_many(keys, take)
            if verdict == "ok":
                return ticket
            if verdict in ("refused", "blocked"):
                self.check(division, endpoint)  # raises (unless the hour has just turned: then try again)
                continue
            time.sleep(0.01)
            while not self._changed(keys[:2], self.clock.now()):
                time.sleep(0.01)

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
        next admission, so that an outage does not leave slots held for their whole lease."""
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

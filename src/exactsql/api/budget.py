"""Budgets shared through the state store: rate windows and token-endpoint calls (the error budget:
``exactsql.api.error_budget``)."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import orjson

from exactsql.api.clock import StoreClock
from exactsql.errors import RateLimitError, TokenBudgetError
from exactsql.state import StateStore

#: Exact's window lengths, used until the answers teach the real ones (a time-scaled sandbox has shorter).
MINUTE, DAY = 60.0, 86400.0
#: The longest a call waits for a slot of a minute window before that is an error that says why.
MAX_WAIT = 600.0
#: In the last part of a window (this share of its length) calls are admitted one at a time: a leased slot
#: not sent before the window closes is lost to every process.
LEASE_TAIL = 0.2
#: A window with fewer calls left than this many leases may fill: near its end, calls are admitted singly.
SCARCE = 4
#: Answers kept for the next transaction at most; more are folded in at once.
MAX_KEPT = 64


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

    def fold(self, answers: list[_Answer]) -> None:
        """Takes in what responses said, in the order they came (see :meth:`Window.reconcile`)."""
        for answer in answers:
            if answer.minute is not None:
                self.minute.reconcile(*answer.minute, answer.admitted)
            if answer.day is not None:
                self.day.reconcile(*answer.day)


@dataclass
class _Answer:
    """The ``X-RateLimit-*`` headers of one response: (limit, remaining, reset) of each window."""

    minute: tuple[int, int, float] | None
    day: tuple[int, int, float] | None
    admitted: float | None


@dataclass
class _Lease:
    """Slots of one window that this process counted in the store and has not sent yet."""

    window: float  # the reset of the window they are counted in
    slots: int
    use_by: float  # the window's reset less its guard: a slot sent later could land in the next one


class WindowFull(Exception):
    """No call to ``division`` fits its minute window before ``until`` (from ``acquire(wait=False)``)."""

    def __init__(self, division: int, until: float) -> None:
        super().__init__(f"the minute window of division {division} is full until {until:.3f}")
        self.division, self.until = division, until


def _same_day(day: Window, admitted: float) -> bool:
    """Whether calls counted in a minute window that ended at ``admitted`` are in ``day``'s current count."""
    if day.reset is not None and admitted > day.reset:
        return False
    return day.ended is None or admitted > day.ended


def default_lease(minutely: int) -> int:
    """Calls one admission counts at most: a tenth of the minute's limit, between 1 and 32."""
    return max(1, min(32, minutely // 10))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name) or headers.get(name.lower())


def _refusal(st: RateState, now: float) -> tuple[str, float] | None:
    """Why no call can be admitted now ("minute" or "day") and until when; None when one can. Rolls and
    ends the windows of ``st`` as time has passed."""
    minute, reset, guard = st.minute, st.minute.reset, st.minute.guard()
    # A window in use closes ``guard`` before its reset and the next opens ``guard`` after it: a call sent
    # at the very end may arrive in the next window, and this clock may run a little ahead of Exact's (a
    # call sent just after the reset would land in the full window).
    full = minute.used >= minute.limit
    if reset is not None and minute.used > 0 and now < reset + guard and (full or now >= reset - guard):
        return "minute", reset + guard
    minute.roll(now)
    st.day.roll(now)
    minute.expire(now, MINUTE)
    st.day.expire(now, DAY)
    if st.day.used >= st.day.limit:
        return "day", st.day.reset or st.day.reopens(now, DAY)
    if minute.used >= minute.limit:
        return "minute", minute.reopens(now, MINUTE)
    return None


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
        lease: int | None = None,
    ) -> None:
        lease = default_lease(minutely) if lease is None else lease
        self.store, self.client_id, self.minutely, self.daily, self.clock = (
            store,
            client_id,
            minutely,
            daily,
            clock,
        )
        self.max_wait = max_wait
        self.lease = lease
        self._indexed: set[int] = set()
        self._lock = threading.Lock()
        self._leases: dict[int, _Lease] = {}
        self._pending: dict[int, list[_Answer]] = {}

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

    def acquire(
        self, division: int, on_wait: Callable[[float, str], None] | None = None, wait: bool = True
    ) -> float | None:
        """Blocks until one call to ``division`` fits both windows; RateLimitError when the day is used up, or
        when no slot opens within ``max_wait`` seconds (every wait ends: a window whose reset is unknown ends
        on the clock, see :meth:`Window.expire`). ``wait=False``: :class:`WindowFull` instead of a wait.

        A slot comes from this process's lease when it holds one (no store round trip); otherwise one
        transaction folds the answers kept since the last one into the window, then counts a lease of
        several calls (see :meth:`_lease_size`) and hands out the first.

        Returns the reset of the minute window the call is counted in, for :meth:`reconcile` and
        :meth:`release`.
        """
        leased = self._from_lease(division)
        if leased is not None:
            return leased[0]
        self._index(division)
        started = self.clock.now()
        while True:
            now = self.clock.now()
            with self._lock:
                pending = self._pending.pop(division, [])

            def admit(
                raw: bytes | None, now: float = now, pending: list[_Answer] = pending
            ) -> tuple[bytes | None, tuple[str, float | None, int, float]]:
                st = RateState.load(raw, self.minutely, self.daily)
                st.fold(pending)
                refused = _refusal(st, now)
                if refused is not None:
                    return st.dump(), (*refused, 0, 0.0)
                admitted = st.minute.admitted_in(now)
                n = self._lease_size(st, now, admitted)
                for _ in range(n):
                    st.minute.count(now)
                    st.day.count(now)
                return st.dump(), ("ok", admitted, n, st.minute.guard())

            try:
                verdict, until, n, guard = self.store.update(self._key(division), admit)
            except BaseException:
                with self._lock:  # kept for the next transaction
                    self._pending[division] = pending + self._pending.get(division, [])
                raise
            if verdict == "ok":
                if n > 1:
                    assert until is not None
                    with self._lock:  # another thread's lease on the same window is added to, not lost
                        held = self._leases.get(division)
                        if held is not None and abs(held.window - until) < 0.001:
                            held.slots += n - 1
                        else:
                            self._leases[division] = _Lease(until, n - 1, until - guard)
                return until
            assert until is not None
            if verdict == "day":
                raise RateLimitError(
                    f"The daily limit of calls for division {division} is used up.",
                    f"It resets at {_hhmm(until)} ({_utc(until):%Y-%m-%d}).",
                )
            now = self.clock.now()
            delay = max(0.0, until - now) + 0.002
            if not wait:
                raise WindowFull(division, until + 0.002)
            if now + delay - started > self.max_wait:
                raise RateLimitError(
                    f"No call to division {division} could be admitted for {now - started:.0f} s: its minute "
                    f"window is said to reopen at {_utc(until):%H:%M:%S} UTC.",
                    "Other processes may be using every call, or this machine's clock differs from the state "
                    "store's; `exactsql status` shows the windows.",
                )
            if on_wait is not None and delay > 0.5:
                on_wait(delay, f"the minute window of division {division}")
            time.sleep(delay)

    def check_open(self, division: int) -> None:
        """:class:`WindowFull` when no call to ``division`` would be admitted now (a read, no transaction):
        a caller that must not wait asks before it counts the call anywhere else (``--max-calls``)."""
        with self._lock:
            lease = self._leases.get(division)
            if lease is not None and lease.slots > 0 and self.clock.now() < lease.use_by:
                return
            pending = list(self._pending.get(division, []))
        st = RateState.load(self.store.get(self._key(division)), self.minutely, self.daily)
        st.fold(pending)
        refused = _refusal(st, self.clock.now())
        if refused is not None and refused[0] == "minute":
            raise WindowFull(division, refused[1] + 0.002)

    def _lease_size(self, st: RateState, now: float, admitted: float | None) -> int:
        """How many calls one admission counts for this process: one while the window's end is unknown, or
        near while the window may fill (a slot not sent before the end is lost to everyone; near is judged
        by Exact's minute until the window's length is learned), else up to ``lease`` of what is left."""
        minute = st.minute
        if admitted is None or self.lease <= 1:
            return 1
        left = min(minute.limit - minute.used, st.day.limit - st.day.used)
        near = admitted - minute.guard() - now < (minute.length or MINUTE) * LEASE_TAIL
        if (near and left < SCARCE * self.lease) or st.day.limit - st.day.used < SCARCE * self.lease:
            return 1  # the day's last calls are not held by one process while others need them
        return max(1, min(self.lease, left))

    def _from_lease(self, division: int) -> tuple[float] | None:
        """A slot of this process's lease on ``division``'s current window (None when it holds none)."""
        with self._lock:
            lease = self._leases.get(division)
            if lease is None or lease.slots <= 0:
                return None
            if self.clock.now() >= lease.use_by:
                del self._leases[division]  # its minute window is closing: the slots go back to the day
                expired = lease
            else:
                lease.slots -= 1
                if lease.slots == 0:
                    del self._leases[division]
                return (lease.window,)
        self.release(division, expired.window, expired.slots)
        return None

    def release(self, division: int, admitted: float | None, count: int = 1) -> None:
        """Gives back ``count`` calls that :meth:`acquire` admitted but that were never sent (a token or the
        store failed first, or a lease was left over), so that they do not hold slots of the window."""
        with self._lock:
            pending = self._pending.pop(division, [])

        def give_back(raw: bytes | None) -> tuple[bytes | None, None]:
            if not raw:
                return raw, None
            st = RateState.load(raw, self.minutely, self.daily)
            st.fold(pending)
            now = self.clock.now()
            st.minute.roll(now)
            st.day.roll(now)
            counted_in = st.minute.admitted_in(now)
            if counted_in is None or admitted is None:
                same = counted_in is None and admitted is None
            else:
                same = abs(counted_in - admitted) < 0.001
            if same:
                # Not below what Exact counted (the answers just folded in): its count has none of these.
                floor = max((a.minute[0] - a.minute[1] for a in pending if a.minute), default=0)
                for _ in range(count):
                    if st.minute.used > floor:
                        st.minute.uncount()
                    st.day.uncount()
            elif admitted is not None and _same_day(st.day, admitted):
                for _ in range(count):  # the minute window has passed, but the day still counts them
                    st.day.uncount()
            return st.dump(), None

        self.store.update(self._key(division), give_back)

    def flush(self) -> None:
        """Gives back every slot leased and not used, and folds the answers kept since the last transaction
        (before this process ends, or stops calling these divisions for a while)."""
        with self._lock:
            leases, self._leases = self._leases, {}
            divisions = set(self._pending) | set(leases)
        for division in sorted(divisions):
            lease = leases.get(division)
            if lease is not None and lease.slots > 0:
                self.release(division, lease.window, lease.slots)  # to the day, when the minute has passed
            else:
                self.release(division, None, 0)

    def reconcile(self, division: int, headers: Mapping[str, str], admitted: float | None = None) -> None:
        """Takes in the ``X-RateLimit-*`` headers of a response (either set may be absent); ``admitted`` is
        what :meth:`acquire` returned for its call. While the window's reset is known, the answer is kept and
        folded in by this process's next transaction on the division (at most a lease later); the first
        answers, which teach the window, are folded in at once."""
        minute = [_header(headers, f"X-RateLimit-Minutely-{p}") for p in ("Limit", "Remaining", "Reset")]
        day = [_header(headers, f"X-RateLimit-{p}") for p in ("Limit", "Remaining", "Reset")]
        if None in minute and None in day:
            return
        answer = _Answer(
            None
            if None in minute
            else (int(minute[0] or 0), int(minute[1] or 0), int(minute[2] or 0) / 1000),
            None if None in day else (int(day[0] or 0), int(day[1] or 0), int(day[2] or 0) / 1000),
            admitted,
        )
        if admitted is not None and self.lease > 1 and not self._contradicts_lease(division, answer):
            with self._lock:
                kept = self._pending.setdefault(division, [])
                kept.append(answer)
                if len(kept) < MAX_KEPT:
                    return
                self._pending.pop(division)
            pending = kept
        else:
            with self._lock:
                pending = [*self._pending.pop(division, []), answer]

        def fold(raw: bytes | None) -> tuple[bytes | None, None]:
            st = RateState.load(raw, self.minutely, self.daily)
            st.fold(pending)
            return st.dump(), None

        self.store.update(self._key(division), fold)

    def _contradicts_lease(self, division: int, answer: _Answer) -> bool:
        """Whether Exact says fewer calls are left (this minute or today) than this process holds leased:
        calls were made that the store does not know of. The lease is then dropped (its slots stay counted)
        and the answer folded in at once."""
        with self._lock:
            lease = self._leases.get(division)
            held = lease.slots if lease is not None else 0
            short = any(
                window is not None and (window[1] < held or window[0] < limit)
                for window, limit in ((answer.minute, self.minutely), (answer.day, self.daily))
            )
            if short:
                self._leases.pop(division, None)
        return short

    def exhausted(self, division: int, headers: Mapping[str, str]) -> float:
        """After an unexpected 429: the window it names is full until its reset (60 s when none is given).

        Returns how long to wait before trying again: 0, or, when the 429 names a window this process has
        already rolled past (its clock runs ahead of Exact's), a guard; the current window keeps its count.
        """
        with self._lock:
            self._leases.pop(division, None)  # the window is full at Exact: no leased slot is sent
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

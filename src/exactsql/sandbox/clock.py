"""The sandbox's clock: real time, sped up by a time scale and movable forward by the control plane."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from exactsql.sandbox.values import cet_ms


class SandboxClock:
    """Simulated time in epoch seconds.

    With ``scale`` F, one real second is F simulated seconds, so every duration the rules use (token
    lifetime, the 570-second rule, minute/hour/day windows) passes F times faster. Values reported to
    clients (``expires_in``, reset headers) are converted back to real time with :meth:`to_real`.
    """

    def __init__(
        self,
        scale: float = 1.0,
        start: float | None = None,
        real_time: Callable[[], float] = time.time,
    ) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._real_time = real_time
        self._real0 = real_time()
        self._sim0 = self._real0 if start is None else start
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current simulated time, epoch seconds."""
        return self._sim0 + (self._real_time() - self._real0) * self.scale + self._offset

    def wall_ms(self) -> int:
        """The current simulated time as ``/Date(ms)/`` writes it (Amsterdam wall-clock milliseconds)."""
        return cet_ms(dt.datetime.fromtimestamp(self.now(), dt.UTC))

    def advance(self, seconds: float) -> float:
        """Moves simulated time forward by ``seconds``; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def to_real(self, simulated: float) -> float:
        """The real epoch time at which the simulated clock shows ``simulated``."""
        return self._real0 + (simulated - self._sim0 - self._offset) / self.scale

    def real_duration(self, simulated_seconds: float) -> float:
        """A simulated duration in real seconds."""
        return simulated_seconds / self.scale

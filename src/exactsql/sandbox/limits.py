"""Rate windows per (app, division) and the error budget per (app, user, division, endpoint, hour)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from exactsql.sandbox.clock import SandboxClock
from exactsql.sandbox.settings import SandboxSettings

MINUTE = 60
HOUR = 3600
DAY = 86400


@dataclass
class RateDecision:
    """Whether a call is admitted, and the X-RateLimit-* headers to send with its response."""

    allowed: bool
    headers: dict[str, str]
    exceeded: str | None = None  # "minutely" or "daily"


class RateLimiter:
    """Fixed windows aligned to the (simulated) clock minute and the UTC day."""

    def __init__(self, settings: SandboxSettings, clock: SandboxClock) -> None:
        self.settings = settings
        self.clock = clock
        self._minute: dict[tuple[str, int], tuple[int, int]] = {}
        self._day: dict[tuple[str, int], tuple[int, int]] = {}

    def _reset_ms(self, window_end: float) -> str:
        return str(math.ceil(self.clock.to_real(window_end) * 1000))

    def admit(self, client_id: str, division: int) -> RateDecision:
        """Counts one call against both windows, unless one of them is used up."""
        now = self.clock.now()
        key = (client_id, division)
        minute_no, day_no = int(now // MINUTE), int(now // DAY)
        m_no, m_used = self._minute.get(key, (minute_no, 0))
        d_no, d_used = self._day.get(key, (day_no, 0))
        if m_no != minute_no:
            m_used = 0
        if d_no != day_no:
            d_used = 0
        s = self.settings
        minute_headers = {
            "X-RateLimit-Minutely-Limit": str(s.minutely_limit),
            "X-RateLimit-Minutely-Remaining": "0",
            "X-RateLimit-Minutely-Reset": self._reset_ms((minute_no + 1) * MINUTE),
        }
        day_headers = {
            "X-RateLimit-Limit": str(s.daily_limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": self._reset_ms((day_no + 1) * DAY),
        }
        if d_used >= s.daily_limit:
            if s.rejected_calls_count:
                self._minute[key] = (minute_no, m_used + 1)
            return RateDecision(False, day_headers, "daily")
        if m_used >= s.minutely_limit:
            if s.rejected_calls_count:
                self._day[key] = (day_no, d_used + 1)
            return RateDecision(False, minute_headers, "minutely")
        m_used += 1
        d_used += 1
        self._minute[key] = (minute_no, m_used)
        self._day[key] = (day_no, d_used)
        day_headers["X-RateLimit-Remaining"] = str(s.daily_limit - d_used)
        minute_headers["X-RateLimit-Minutely-Remaining"] = str(s.minutely_limit - m_used)
        return RateDecision(True, {**day_headers, **minute_headers})

    def minute_exhausted_headers(self) -> dict[str, str]:
        """The headers of a minutely 429 in the current window (for an injected, unexpected 429)."""
        minute_no = int(self.clock.now() // MINUTE)
        return {
            "X-RateLimit-Minutely-Limit": str(self.settings.minutely_limit),
            "X-RateLimit-Minutely-Remaining": "0",
            "X-RateLimit-Minutely-Reset": self._reset_ms((minute_no + 1) * MINUTE),
        }

    def remaining(self, client_id: str, division: int) -> dict[str, int]:
        """Calls left in the current windows, for the control plane."""
        now = self.clock.now()
        key = (client_id, division)
        m_no, m_used = self._minute.get(key, (-1, 0))
        d_no, d_used = self._day.get(key, (-1, 0))
        s = self.settings
        return {
            "minute": s.minutely_limit - (m_used if m_no == int(now // MINUTE) else 0),
            "day": s.daily_limit - (d_used if d_no == int(now // DAY) else 0),
        }

    def reset(self) -> None:
        """Forgets all windows."""
        self._minute.clear()
        self._day.clear()


class ErrorBudget:
    """Counts 400/401/403/404 per (app, user, division, endpoint, clock hour); blocks at the limit."""

    def __init__(self, settings: SandboxSettings, clock: SandboxClock) -> None:
        self.settings = settings
        self.clock = clock
        self._errors: dict[tuple[str, str, int | None, str, int], int] = {}

    def _key(self, client_id: str, user: str, division: int | None, endpoint: str) -> tuple:
        return (client_id, user, division, endpoint.lower(), int(self.clock.now() // HOUR))

    def blocked(self, client_id: str, user: str, division: int | None, endpoint: str) -> bool:
        """Whether this key has used up its errors for the current hour."""
        key = self._key(client_id, user, division, endpoint)
        return self._errors.get(key, 0) >= self.settings.error_limit

    def record(self, status: int, client_id: str, user: str, division: int | None, endpoint: str) -> None:
        """Counts a response if its status is one that the rule counts."""
        if status in self.settings.error_statuses:
            key = self._key(client_id, user, division, endpoint)
            self._errors[key] = self._errors.get(key, 0) + 1

    def reset(self) -> None:
        """Forgets all counts."""
        self._errors.clear()

"""A hard cap on the API calls of a run (``--max-calls``): checked before every call is sent, retries and
``current/Me`` included, from every thread of the run."""

from __future__ import annotations

import threading
from collections.abc import Callable

from exactsql.api.client import ExactClient
from exactsql.api.session import Session
from exactsql.sql.dialect import SQLError


class CallBudget:
    """The calls one run may still make; shared by the clients of an engine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.spent = 0

    def start(self, limit: int | None) -> None:
        """A new run with at most ``limit`` calls (None: no cap)."""
        with self._lock:
            self.limit, self.spent = limit, 0

    def left(self) -> int | None:
        """Calls still allowed in this run (None: no cap)."""
        with self._lock:
            return None if self.limit is None else self.limit - self.spent

    def spend(self) -> None:
        """Counts one call about to be sent; SQLError (and the call is not sent) when the cap is reached."""
        with self._lock:
            if self.limit is not None and self.spent >= self.limit:
                raise SQLError(
                    f"Stopped before API call {self.spent + 1}: the statement needs more than "
                    f"--max-calls {self.limit}.",
                    "Add filters (see `exactsql explain`), or raise --max-calls.",
                )
            self.spent += 1


def budgeted_client(
    session: Session, budget: CallBudget, on_wait: Callable[[float, str], None] | None = None
) -> ExactClient:
    """A client on ``session`` whose every call, first tries and retries alike, spends from ``budget``
    before a rate slot or a token is taken for it."""
    return session.client(on_wait, before_call=budget.spend)

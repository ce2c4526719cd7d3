"""Named points where a process can be made to stop, for crash tests (``EXACTSQL_FAILPOINTS``).

``EXACTSQL_FAILPOINTS=token_response_received:/tmp/marker`` makes a process that reaches that point write
the marker file (its pid) and sleep, so that a harness can ``kill -9`` it exactly there. Unset, a
failpoint costs one dictionary look-up.
"""

from __future__ import annotations

import os
import time

#: Holding the refresh lock before the token call; between Exact's answer and the store write (the one window
#: where a kill loses the new pair); after the store write, still holding the lock.
POINTS = ("refresh_lock_held", "token_response_received", "token_stored")


def _armed() -> dict[str, str]:
    spec = os.environ.get("EXACTSQL_FAILPOINTS", "")
    pairs = (item.split(":", 1) for item in spec.split(",") if ":" in item)
    return {name: path for name, path in pairs}


_ARMED = _armed()


def failpoint(name: str) -> None:
    """Stops here (writes the marker, then sleeps) when ``name`` is armed for this process."""
    marker = _ARMED.get(name)
    if marker is None:
        return
    with open(marker, "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(3600)

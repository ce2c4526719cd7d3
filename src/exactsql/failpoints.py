"""Named points where a process can be made to stop, for crash tests (``EXACTSQL_FAILPOINTS``).

``EXACTSQL_FAILPOINTS=token_response_received:/tmp/marker`` makes a process that reaches that point write
the marker file (its pid) and sleep, so that a harness can ``kill -9`` it exactly there;
``token_response_received:/tmp/marker:pause`` makes it wait there until the harness deletes the marker (to
do something to the world at exactly that moment, e.g. stop the state store), then go on. Unset, a
failpoint costs one dictionary look-up.
"""

from __future__ import annotations

import os
import time

#: Holding the refresh lock before the token call; between Exact's answer and the store write (the one window
#: where a kill loses the new pair); after the store write, still holding the lock; between Exact's answer to
#: a POST and the idempotency record's update (a kill there leaves a written record marked pending).
POINTS = ("refresh_lock_held", "token_response_received", "token_stored", "write_answered")


#: How long a paused process waits for its marker to go before it goes on anyway.
PAUSE_LIMIT = 600.0


def _armed() -> dict[str, tuple[str, bool]]:
    spec = os.environ.get("EXACTSQL_FAILPOINTS", "")
    armed = {}
    for item in spec.split(","):
        name, _, rest = item.partition(":")
        if not rest:
            continue
        path, pause = (rest[: -len(":pause")], True) if rest.endswith(":pause") else (rest, False)
        armed[name] = (path, pause)
    return armed


_ARMED = _armed()


def failpoint(name: str) -> None:
    """Stops here (writes the marker, then sleeps, or waits for the marker to go) when ``name`` is armed."""
    armed = _ARMED.get(name)
    if armed is None:
        return
    marker, pause = armed
    with open(marker, "w") as fh:
        fh.write(str(os.getpid()))
    if not pause:
        time.sleep(3600)
        return
    deadline = time.monotonic() + PAUSE_LIMIT
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.01)

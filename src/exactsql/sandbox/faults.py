"""Fault injection: 5xx answers, time-outs, resets, truncated bodies, surprise 429s, lost responses.

``token_after_rotation`` and ``lost_response`` do the work first and then drop the connection: the new token
pair is issued, the write (POST, PUT or DELETE) is committed, but the client never hears of it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

KINDS = ("500", "503", "timeout", "reset", "truncated", "429", "token_after_rotation", "lost_response")
#: The kinds that let the request do its work and then drop the connection.
AFTER_WORK = frozenset({"token_after_rotation", "lost_response"})
#: The methods a ``lost_response`` fault hits (reads pass, so a client can look whether its write landed).
WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH", "MERGE"})


@dataclass
class Fault:
    """One armed fault: for ``count`` matching requests, or for a ``ratio`` of them."""

    kind: str
    count: int | None = None
    ratio: float | None = None
    path_prefix: str = ""
    seconds: float = 5.0

    def as_dict(self) -> dict:
        """The fault as the control plane shows it."""
        return {
            "kind": self.kind,
            "count": self.count,
            "ratio": self.ratio,
            "path_prefix": self.path_prefix,
            "seconds": self.seconds,
        }


class Faults:
    """The armed faults; each request asks which one (if any) hits it."""

    def __init__(self, seed: int = 0) -> None:
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, spec: dict) -> Fault:
        """Arms a fault from a control-plane request; ValueError says what is wrong with it."""
        kind = str(spec.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(KINDS)}")
        count, ratio = spec.get("count"), spec.get("ratio")
        if (count is None) == (ratio is None):
            raise ValueError("give exactly one of 'count' or 'ratio'")
        if ratio is not None and not 0 <= float(ratio) <= 1:
            raise ValueError("'ratio' must be between 0 and 1")
        fault = Fault(
            kind,
            None if count is None else int(count),
            None if ratio is None else float(ratio),
            str(spec.get("path_prefix") or ""),
            float(spec.get("seconds", 5.0)),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def pick(self, path: str, token_endpoint: bool, method: str = "GET") -> Fault | None:
        """The fault that hits a ``method`` request to ``path``, consuming one use of a counted fault."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == "token_after_rotation" and not token_endpoint:
                    continue
                if fault.kind == "lost_response" and (token_endpoint or method.upper() not in WRITES):
                    continue
                if not path.lower().startswith(fault.path_prefix.lower()):
                    continue
                if fault.count is not None:
                    if fault.count <= 0:
                        continue
                    fault.count -= 1
                    return fault
                if fault.ratio is not None and self._rng.random() < fault.ratio:
                    return fault
            self._faults = [f for f in self._faults if f.count is None or f.count > 0]
        return None

    def list(self) -> list[dict]:
        """The armed faults."""
        with self._lock:
            return [f.as_dict() for f in self._faults if f.count is None or f.count > 0]

    def clear(self) -> None:
        """Disarms every fault."""
        with self._lock:
            self._faults.clear()

"""exactsql: SQL over Exact Online within its API limits, with a faithful local sandbox."""

from __future__ import annotations

__version__ = "0.1.0"

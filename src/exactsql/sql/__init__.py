"""Invantive-style SQL over Exact Online: dialect, names, planner (pushdown), executor (DuckDB)."""

from __future__ import annotations

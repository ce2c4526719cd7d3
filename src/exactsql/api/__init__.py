"""The only place that speaks HTTP to Exact Online: login, tokens, budgets, paging, conversion."""

from __future__ import annotations

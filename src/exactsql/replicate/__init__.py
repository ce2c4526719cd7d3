"""Replication: a local copy of the books in SQLite, DuckDB or PostgreSQL that stays exact, incrementally,
within the API limits. See ``docs/design/replication.md``."""

from __future__ import annotations

from exactsql.replicate.plan import DEFAULT_TABLES, DELETED_ENTITY_TYPES, TablePlan, plan_tables
from exactsql.replicate.runner import Outcome, Progress, RunReport, replicate
from exactsql.replicate.targets import open_target

__all__ = [
    "DEFAULT_TABLES",
    "DELETED_ENTITY_TYPES",
    "Outcome",
    "Progress",
    "RunReport",
    "TablePlan",
    "open_target",
    "plan_tables",
    "replicate",
]

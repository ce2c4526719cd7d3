"""Table generations: which table a cursor was read into.

Every replicated table carries a generation marker, written when exactsql creates it: a table comment
(PostgreSQL, DuckDB), a comment in its ``CREATE TABLE`` statement (SQLite). The cursors rows of the table
record the generation they were read into. Before a run, a table that is missing is created with a new
generation, and cursors that recorded another generation than the table carries (the table was dropped and
recreated, restored, replaced by hand) are reset: the table is read again in full. Jobs fence their commits
with the generation they started on, so a process still working on a replaced table cannot move its cursor.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from exactsql.replicate.plan import RELOAD, TablePlan, stage_name

if TYPE_CHECKING:
    from exactsql.replicate.targets.base import TargetConnection

_MARKER = re.compile(r"exactsql generation ([0-9a-f]{16})")


def new_generation() -> str:
    """A fresh generation (16 hex digits)."""
    return uuid.uuid4().hex[:16]


def marker(generation: str) -> str:
    """The text that marks a table with ``generation`` (safe inside an SQL string literal or comment)."""
    if not re.fullmatch(r"[0-9a-f]{16}", generation):
        raise ValueError(f"not a generation: {generation!r}")
    return f"exactsql generation {generation}"


def generation_in(text: str | None) -> str:
    """The generation a table's comment (or ``CREATE`` statement) carries; "" when none."""
    found = _MARKER.search(text or "")
    return found.group(1) if found else ""


def settle(conn: TargetConnection, plan: TablePlan) -> int:
    """Creates the table of ``plan`` if it is missing and makes its cursors agree with the table that is
    there; returns how many (table, division) cursors were reset (the table is read again in full there).

    A table without a marker (made before generations were kept) is marked where the dialect can and
    adopted by cursors that recorded no generation. A reload's staging table carries the generation of its
    table; one that does not is made again and the reloads under way start over.
    """
    name = plan.spec.name
    with conn.transaction():
        conn.ddl_lock()
        found = conn.table_generation(name)
        if found is None:
            current = new_generation()
            conn.ensure_table(plan.spec, generation=current)
            reset = conn.settle_cursors(plan.name, current, keep=None)
        else:
            current = found or conn.mark_table(name, new_generation())
            reset = conn.settle_cursors(plan.name, current, keep={found, current})
        if plan.strategy == RELOAD:
            stage = stage_name(name)
            if conn.table_generation(stage) != current:
                conn.drop_table(stage)
                conn.ensure_table(plan.spec, stage, generation=current)
                conn.restart_reloads(plan.name)
    return reset

"""Checks of a path where exactsql is to create or open a file (a store, a replica, an info file)."""

from __future__ import annotations

from pathlib import Path


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a file (it is a directory, or lies under something that is not), or None."""
    if path.is_dir():
        return f"{path} is a directory"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{path} cannot be made: {ancestor} is not a directory"
    return None

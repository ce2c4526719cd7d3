"""``python -m exactsql``."""

from __future__ import annotations

from exactsql.cli import main

main()

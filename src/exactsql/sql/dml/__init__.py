"""Writes to Exact Online through SQL: insert, update, delete, and Invantive's transactions."""

from __future__ import annotations

from exactsql.sql.dml.run import WriteSession, check, execute, explain, explain_end, is_write
from exactsql.sql.dml.statements import KINDS, parse, writes_to_exact

__all__ = [
    "KINDS",
    "WriteSession",
    "check",
    "execute",
    "explain",
    "explain_end",
    "is_write",
    "parse",
    "writes_to_exact",
]

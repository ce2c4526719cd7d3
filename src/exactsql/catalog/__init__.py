"""The Exact Online endpoint catalog: logical tables, their columns and their access paths."""

from __future__ import annotations

from exactsql.catalog.model import AccessPath, Catalog, Column, Table, load_catalog

__all__ = ["AccessPath", "Catalog", "Column", "Table", "load_catalog"]

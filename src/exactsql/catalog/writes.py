"""What each endpoint lets a client write: methods, key, fields (required, read-only) and the line
collections a header takes inline (built by ``scripts/build_write_catalog.py``)."""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Field:
    """One property of an endpoint as a write sees it."""

    name: str
    edm: str
    required: bool
    read_only: bool

    @property
    def collection(self) -> str | None:
        """The entity of a ``Collection(X)`` property (lines), or None."""
        return self.edm[len("Collection(") : -1] if self.edm.startswith("Collection(") else None


@dataclass(frozen=True)
class WriteTarget:
    """An endpoint that takes POST, PUT or DELETE."""

    endpoint: str
    methods: tuple[str, ...]
    key: str | None
    fields: tuple[Field, ...]
    lines: dict[str, str]  # collection property → endpoint of its lines

    def field(self, name: str) -> Field | None:
        """The field called ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((f for f in self.fields if f.name.lower() == lowered), None)

    def allows(self, method: str) -> bool:
        """Whether Exact takes ``method`` on this endpoint."""
        return method in self.methods


@functools.cache
def write_targets() -> dict[str, WriteTarget]:
    """Every writable endpoint by its lower-cased endpoint (``salesinvoice/salesinvoices``)."""
    blob = resources.files("exactsql.catalog").joinpath("writes.json.gz").read_bytes()
    data = json.loads(gzip.decompress(blob))["endpoints"]
    return {
        endpoint.lower(): WriteTarget(
            endpoint,
            tuple(raw["methods"]),
            raw["key"],
            tuple(Field(n, t, "r" in flags, "o" in flags) for n, t, flags in raw["fields"]),
            dict(raw["lines"]),
        )
        for endpoint, raw in data.items()
    }


def write_target(endpoint: str) -> WriteTarget | None:
    """The write description of ``endpoint`` (``salesinvoice/SalesInvoices``), or None when it takes no
    write."""
    return write_targets().get(endpoint.strip("/").lower())


def header_of(line_endpoint: str) -> tuple[WriteTarget, str] | None:
    """The header endpoint that takes ``line_endpoint``'s rows inline, and its collection property."""
    lowered = line_endpoint.lower()
    for target in write_targets().values():
        for prop, endpoint in target.lines.items():
            if endpoint.lower() == lowered:
                return target, prop
    return None

"""What a write may carry, per endpoint: the mandatory and the read-only properties of Exact's reference.

The flags come from the reference catalog (Exact's "Mandatory" column and the properties its pages mark
read-only), packaged as ``write_fields.json.gz``. Rebuild it with
``python -m exactsql.sandbox.write_rules [SOURCE]`` (SOURCE defaults to ../shared/exact-online/catalog.json).
"""

from __future__ import annotations

import functools
import gzip
import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_DATA = "write_fields.json.gz"


@dataclass(frozen=True)
class WriteFields:
    """The mandatory and the read-only properties of one writable endpoint."""

    required: frozenset[str]
    read_only: frozenset[str]


@functools.cache
def _all() -> dict[str, WriteFields]:
    blob = resources.files("exactsql.sandbox").joinpath(_DATA).read_bytes()
    raw = json.loads(gzip.decompress(blob))
    return {
        endpoint.lower(): WriteFields(frozenset(v["required"]), frozenset(v["read_only"]))
        for endpoint, v in raw.items()
    }


def write_fields(endpoint: str) -> WriteFields:
    """The fields of ``endpoint`` (``salesinvoice/SalesInvoices``); none flagged when it is unknown."""
    return _all().get(endpoint.lower(), WriteFields(frozenset(), frozenset()))


def build(source: Path, target: Path) -> int:
    """Writes the packaged flags of every endpoint that takes a write; returns how many endpoints."""
    out = {}
    for entry in json.loads(source.read_text()):
        if not set(entry["methods"]) - {"GET"}:
            continue
        endpoint = "/".join(p for p in entry["uri"].split("/")[3:] if p != "{division}")
        props = entry["properties"]
        out[endpoint] = {
            "required": [p["name"] for p in props if p.get("required")],
            "read_only": [p["name"] for p in props if p.get("read_only")],
        }
    target.write_bytes(
        gzip.compress(json.dumps(out, separators=(",", ":"), sort_keys=True).encode(), mtime=0)
    )
    return len(out)


if __name__ == "__main__":
    here = Path(__file__).resolve()
    default = here.parents[3].parent / "shared" / "exact-online" / "catalog.json"
    count = build(Path(sys.argv[1]) if len(sys.argv) > 1 else default, here.parent / _DATA)
    print(f"{count} writable endpoints written to {here.parent / _DATA}")

"""Builds the packaged write catalog: what each endpoint lets a client write (methods, key, fields with their
required and read-only flags, and the line collections a header takes inline).

Usage: python scripts/build_write_catalog.py [SOURCE] — SOURCE defaults to ../shared/exact-online/catalog.json.
Writes src/exactsql/catalog/writes.json.gz (the read catalog, catalog.json.gz, keeps no such flags).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "exact-online" / "catalog.json"
TARGET = ROOT / "src" / "exactsql" / "catalog" / "writes.json.gz"


def endpoint_of(uri: str) -> str:
    """``/api/v1/{division}/salesinvoice/SalesInvoices`` → ``salesinvoice/SalesInvoices``."""
    return "/".join(p for p in uri.split("/")[3:] if p != "{division}")


def build(source: list[dict]) -> dict:
    """The write catalog of every regular endpoint that takes POST, PUT or DELETE."""
    writable = [e for e in source if e["kind"] == "regular" and {"POST", "PUT", "DELETE"} & set(e["methods"])]
    by_service_entity = {
        (endpoint_of(e["uri"]).split("/")[0].lower(), e["entity"].split("/")[-1].lower()): endpoint_of(
            e["uri"]
        )
        for e in writable
    }
    out: dict[str, dict] = {}
    for entry in writable:
        endpoint = endpoint_of(entry["uri"])
        service = endpoint.split("/")[0].lower()
        fields, lines = [], {}
        for prop in entry["properties"]:
            flags = "".join(
                f for f, k in (("r", "required"), ("o", "read_only"), ("k", "key")) if prop.get(k)
            )
            fields.append([prop["name"], prop["type"], flags])
            kind = prop["type"]
            if kind.startswith("Collection(") and not prop.get("read_only"):
                line = by_service_entity.get((service, kind[len("Collection(") : -1].lower()))
                if line is not None:
                    lines[prop["name"]] = line
        out[endpoint] = {
            "methods": entry["methods"],
            "key": entry.get("key"),
            "fields": fields,
            "lines": lines,
        }
    return {"source": "exact-online/catalog.json", "endpoints": out}


def main() -> None:
    """Reads the source catalog and writes the packaged write catalog."""
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    data = build(json.loads(source.read_text()))
    TARGET.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), mtime=0))
    print(f"{len(data['endpoints'])} writable endpoints → {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

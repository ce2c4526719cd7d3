"""Builds the packaged endpoint catalog from the reference catalog of Exact Online endpoints.

Usage: python scripts/build_catalog.py [SOURCE] — SOURCE defaults to ../shared/exact-online/catalog.json.
Writes src/exactsql/catalog/catalog.json.gz: logical tables with their columns and access paths.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "exact-online" / "catalog.json"
TARGET = ROOT / "src" / "exactsql" / "catalog" / "catalog.json.gz"

# Documented mandatory-filter lists (API.md §5.6); the Items list is cut short in the source, so the
# documented prefix is completed with the free fields and the key.
ACCOUNTS_MANDATORY = [
    "Accountant",
    "AccountManager",
    "AddressLine1",
    "AddressLine2",
    "AddressLine3",
    "Blocked",
    "BRIN",
    "BSN",
    "ChamberOfCommerce",
    "City",
    "Classification1",
    "Classification2",
    "Classification3",
    "Classification4",
    "Classification5",
    "Classification6",
    "Classification7",
    "Classification8",
    "Classification",
    "Code",
    "CodeAtSupplier",
    "Country",
    "Created",
    "Email",
    "EndDate",
    "Fax",
    "ID",
    "InvoiceAccount",
    "IsAccountant",
    "IsReseller",
    "IsSales",
    "IsSupplier",
    "MainContact",
    "Modified",
    "Name",
    "Parent",
    "Phone",
    "Postcode",
    "PriceList",
    "Reseller",
    "RSIN",
    "SearchCode",
    "StartDate",
    "Status",
    "Type",
    "VATNumber",
]
ITEMS_MANDATORY_PREFIX = [
    "Barcode",
    "Class_01",
    "Class_02",
    "Class_03",
    "Class_04",
    "Class_05",
    "Class_06",
    "Class_07",
    "Class_08",
    "Class_09",
    "Class_10",
    "Code",
    "CostPriceNew",
    "Created",
    "Description",
    "EndDate",
    "ExtraDescription",
]
DOCUMENTED_MANDATORY = {"crm/accounts": ACCOUNTS_MANDATORY, "logistics/items": ITEMS_MANDATORY_PREFIX}

# Not in the source: the division-partitioned users endpoint, with the fields of system/Users.
USERS_URI = "/api/v1/{division}/users/Users"


def segments(uri: str) -> list[str]:
    """The path segments after /api/v1/, without 'beta' and '{division}'."""
    parts = uri.split("/")[3:]
    return [p for p in parts if p not in ("beta", "{division}")]


def logical_name(uri: str) -> tuple[str, str]:
    """(schema, name) of the logical table an endpoint belongs to."""
    segs = segments(uri)
    if segs[0] in ("sync", "bulk") and len(segs) >= 3:
        segs = segs[1:]
    return "_".join(segs[:-1]).lower(), segs[-1]


def entity_type(schema: str, name: str) -> str:
    """The __metadata type of a record, e.g. Exact.Web.Api.Models.Account."""
    if (schema, name) == ("current", "Me"):
        return "Exact.Web.Api.System.Me"
    singular = name[:-3] + "y" if name.endswith("ies") else name[:-1] if name.endswith("s") else name
    return f"Exact.Web.Api.Models.{singular}"


def build(source: list[dict]) -> dict:
    """Groups endpoints into logical tables and derives each access path's rules."""
    by_uri = {e["uri"]: e for e in source}
    users = dict(by_uri["/api/v1/system/Users"])
    users.update(uri=USERS_URI, kind="system", service="Users", entity="Users")
    by_uri[USERS_URI] = users

    tables: dict[tuple[str, str], dict] = {}
    has_sync: set[tuple[str, str]] = set()
    for ep in by_uri.values():
        props = ep.get("properties") or []
        if not props:
            continue
        schema, name = logical_name(ep["uri"])
        if ep["kind"] in ("sync", "bulk") and ep.get("base_endpoint") in by_uri:
            schema, name = logical_name(ep["base_endpoint"])
        key = (schema.lower(), name.lower())
        if ep["kind"] == "sync":
            has_sync.add(key)
        table = tables.setdefault(
            key,
            {
                "schema": schema,
                "name": name,
                "partitioned": False,
                "key": None,
                "columns": {},
                "paths": [],
                "entity_type": entity_type(schema, name),
            },
        )
        division_in_url = "{division}" in ep["uri"]
        kind = ep["kind"]
        if kind == "system":
            kind = "regular"
        if kind == "regular" or table["key"] is None:
            table["key"] = ep.get("key")
        if kind == "regular":
            table["schema"], table["name"] = schema, name
        for p in props:
            table["columns"].setdefault(p["name"], p["type"])
        filterable = ep.get("filters_allowed")
        if kind == "sync":
            filterable = ["Timestamp", "EntityType"] if name == "Deleted" else ["Timestamp"]
        table["paths"].append(
            {
                "kind": kind,
                "uri": ep["uri"],
                "division_in_url": division_in_url,
                "key": ep.get("key"),
                "page_size": 1000 if kind in ("sync", "bulk") else int(ep.get("page_size") or 60),
                "select_mandatory": bool(ep.get("select_mandatory")) or kind in ("sync", "bulk"),
                "filterable": filterable,
                "methods": ep.get("methods") or ["GET"],
                "function": bool(ep.get("function")),
                "beta": bool(ep.get("beta")),
                "columns": [[p["name"], p["type"]] for p in props],
            }
        )
    division_tables = {("system", "divisions"), ("system", "alldivisions")}
    for key, table in tables.items():
        paths = table["paths"]
        table["partitioned"] = key not in division_tables and any(p["division_in_url"] for p in paths)
        if table["partitioned"] and "Division" not in table["columns"]:
            table["columns"]["Division"] = "Edm.Int32"
        for path in paths:
            mandatory = None
            if key in has_sync and path["kind"] in ("regular", "bulk"):
                documented = DOCUMENTED_MANDATORY.get("/".join(key))
                if documented is not None:
                    names = {c for c, _ in path["columns"]}
                    extra = sorted(c for c in names if c.startswith("Free") or c in ("ID", "Modified"))
                    mandatory = list(dict.fromkeys(documented + (extra if key[1] == "items" else [])))
                elif path["filterable"]:
                    mandatory = path["filterable"]
                else:
                    mandatory = [c for c, _ in path["columns"]]
            path["mandatory_filter"] = mandatory
        order = {"regular": 0, "bulk": 1, "sync": 2}
        paths.sort(key=lambda p: order.get(p["kind"], 3))
        table["columns"] = [[n, t] for n, t in table["columns"].items()]
    return {
        "source": "exact-online/catalog.json",
        "tables": sorted(tables.values(), key=lambda t: (t["schema"], t["name"])),
    }


def main() -> None:
    """Reads the source catalog and writes the packaged one."""
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    data = build(json.loads(source.read_text()))
    payload = json.dumps(data, separators=(",", ":"), sort_keys=False).encode()
    with gzip.GzipFile(TARGET, "wb", mtime=0) as fh:
        fh.write(payload)
    paths = sum(len(t["paths"]) for t in data["tables"])
    print(f"wrote {TARGET.relative_to(ROOT)}: {len(data['tables'])} tables, {paths} access paths")


if __name__ == "__main__":
    main()

"""``/api/v1/{division}/{service}/$metadata``: the service's EDMX, built from the catalog (sandbox-fidelity.md §8).

Exact documents the call ("will return a service document in an XML-format"); no recorded document was
found, so this is the WCF Data Services form: entity types named as in ``__metadata.type``, keys, the
non-nullable properties of §4, the line collections as navigation properties, one entity set a resource.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from exactsql.catalog import Catalog, Table
from exactsql.sandbox.expand import navigation
from exactsql.sandbox.fidelity import not_null

_EDMX = "http://schemas.microsoft.com/ado/2007/06/edmx"
_M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
_EDM = "http://schemas.microsoft.com/ado/2008/09/edm"


def service_tables(catalog: Catalog, service: str) -> list[Table]:
    """The tables with a division URL in ``service`` (case-insensitive), one a name."""
    return [
        t
        for t in catalog.tables
        if t.schema.lower() == service.lower() and any(p.division_in_url for p in t.paths)
    ]


def _split(entity_type: str) -> tuple[str, str]:
    namespace, _, name = entity_type.rpartition(".")
    return namespace, name


def document(catalog: Catalog, service: str) -> bytes | None:
    """The EDMX of ``service`` (e.g. ``crm``), or None when the catalog has no such service."""
    tables = service_tables(catalog, service)
    if not tables:
        return None
    schemas: dict[str, dict[str, str]] = {}  # namespace -> entity type name -> XML
    associations: list[tuple[str, str, str]] = []  # namespace, Association, AssociationSet
    sets: list[str] = []
    for table in tables:
        namespace, name = _split(table.entity_type)
        types = schemas.setdefault(namespace, {})
        sets.append(f"<EntitySet Name={quoteattr(table.name)} EntityType={quoteattr(table.entity_type)} />")
        if name in types:
            continue
        types[name] = _entity_type(catalog, table, namespace, name, associations)
    body = []
    for namespace, types in schemas.items():
        own = [a for a in associations if a[0] == namespace]
        body.append(
            f"<Schema Namespace={quoteattr(namespace)} xmlns={quoteattr(_EDM)}>"
            + "".join(types.values())
            + "".join(a[1] for a in own)
            + "</Schema>"
        )
    container = (
        f'<Schema Namespace="Exact.Web.Api" xmlns={quoteattr(_EDM)}>'
        f'<EntityContainer Name="{service.lower()}" m:IsDefaultEntityContainer="true">'
        + "".join(sets)
        + "".join(a[2] for a in associations)
        + "</EntityContainer></Schema>"
    )
    return (
        '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
        f'<edmx:Edmx Version="1.0" xmlns:edmx="{_EDMX}">'
        f'<edmx:DataServices xmlns:m="{_M}" m:DataServiceVersion="2.0">'
        + "".join(body)
        + container
        + "</edmx:DataServices></edmx:Edmx>"
    ).encode()


def _entity_type(
    catalog: Catalog, table: Table, namespace: str, name: str, associations: list[tuple[str, str, str]]
) -> str:
    flags = not_null(table)
    keys = [table.key] if isinstance(table.key, str) else []
    props = []
    for column in table.columns:
        if not column.edm.startswith("Edm."):
            nav = navigation(catalog, table, column.name)
            if nav is None or nav.table.schema != table.schema:
                continue
            relation = f"{name}_{column.name}"
            child = nav.table.entity_type
            associations.append(
                (
                    namespace,
                    f"<Association Name={quoteattr(relation)}>"
                    f'<End Type={quoteattr(table.entity_type)} Role="{name}" Multiplicity="0..1" />'
                    f'<End Type={quoteattr(child)} Role="{column.name}" Multiplicity="*" /></Association>',
                    f'<AssociationSet Name="{relation}" Association="{namespace}.{relation}">'
                    f'<End Role="{name}" EntitySet="{table.name}" />'
                    f'<End Role="{column.name}" EntitySet="{nav.table.name}" /></AssociationSet>',
                )
            )
            props.append(
                f'<NavigationProperty Name="{column.name}" Relationship="{namespace}.{relation}" '
                f'FromRole="{name}" ToRole="{column.name}" />'
            )
            continue
        nullable = "false" if column.name in keys or column.name in flags else "true"
        props.append(f'<Property Name="{column.name}" Type="{column.edm}" Nullable="{nullable}" />')
    key = "".join(f'<PropertyRef Name="{k}" />' for k in keys)
    return f'<EntityType Name="{name}"><Key>{key}</Key>' + "".join(props) + "</EntityType>"

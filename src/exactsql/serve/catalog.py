"""The catalog clients introspect: Exact Online's services as schemas (the dictionary tables in schema
``dictionary``), tables and columns with PostgreSQL types, in ``pg_catalog`` and ``information_schema``
tables kept in a locked-down, in-memory DuckDB database (no file, no network, settings locked).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from exactsql.catalog import Catalog
from exactsql.serve.pgtypes import TYPES, PgType, edm_type
from exactsql.sql import dictionary

#: The schema that holds the dictionary tables (SystemTables, SessionIOs …).
DICTIONARY_SCHEMA = "dictionary"
#: Where the emulated catalogs live inside DuckDB (its own ``pg_catalog`` and ``information_schema`` differ).
PG = "pgc"
INFO = "isc"
OWNER_OID = 10
NAMESPACE_OIDS = {"pg_catalog": 11, "public": 2200, "information_schema": 13000}
FIRST_OID = 16384
ARRAY_RECV = 2400  # pg_proc's array_recv: clients tell arrays by their receive function

_PG_TABLES = {
    "pg_namespace": "oid oid, nspname text, nspowner oid, nspacl text",
    "pg_class": "oid oid, relname text, relnamespace oid, reltype oid, reloftype oid, relowner oid, relam oid, "
    "relfilenode oid, reltablespace oid, relpages int, reltuples float, relallvisible int, "
    "reltoastrelid oid, relhasindex bool, relisshared bool, relpersistence text, relkind text, "
    "relnatts smallint, relchecks smallint, relhasoids bool, relhasrules bool, relhastriggers bool, "
    "relhassubclass bool, relrowsecurity bool, relforcerowsecurity bool, relispopulated bool, "
    "relreplident text, relispartition bool, relrewrite oid, relfrozenxid int, relminmxid int, "
    "relacl text, reloptions text[], relpartbound text",
    "pg_attribute": "attrelid oid, attname text, atttypid oid, attstattarget int, attlen smallint, "
    "attnum smallint, attndims int, attcacheoff int, atttypmod int, attbyval bool, attalign text, "
    "attstorage text, attcompression text, attnotnull bool, atthasdef bool, atthasmissing bool, "
    "attidentity text, attgenerated text, attisdropped bool, attislocal bool, attinhcount int, "
    "attcollation oid, attacl text, attoptions text[], attfdwoptions text[], attmissingval text",
    "pg_type": "oid oid, typname text, typnamespace oid, typowner oid, typlen smallint, typbyval bool, "
    "typtype text, typcategory text, typispreferred bool, typisdefined bool, typdelim text, typrelid oid, "
    "typsubscript oid, typelem oid, typarray oid, typinput oid, typoutput oid, typreceive oid, "
    "typsend oid, typmodin oid, typmodout oid, typanalyze oid, typalign text, typstorage text, "
    "typnotnull bool, typbasetype oid, typtypmod int, typndims int, typcollation oid, typdefaultbin text, "
    "typdefault text, typacl text",
    "pg_database": "oid oid, datname text, datdba oid, encoding int, datlocprovider text, datistemplate bool, "
    "datallowconn bool, datconnlimit int, datlastsysoid oid, datfrozenxid int, datminmxid int, "
    "dattablespace oid, datcollate text, datctype text, daticulocale text, datcollversion text, datacl text",
    "pg_roles": "oid oid, rolname text, rolsuper bool, rolinherit bool, rolcreaterole bool, rolcreatedb bool, "
    "rolcanlogin bool, rolreplication bool, rolconnlimit int, rolpassword text, rolvaliduntil timestamptz, "
    "rolbypassrls bool, rolconfig text[]",
    "pg_user": "usename text, usesysid oid, usecreatedb bool, usesuper bool, userepl bool, usebypassrls bool, "
    "passwd text, valuntil timestamptz, useconfig text[]",
    "pg_am": "oid oid, amname text, amhandler oid, amtype text",
    "pg_index": "indexrelid oid, indrelid oid, indnatts smallint, indnkeyatts smallint, indisunique bool, "
    "indnullsnotdistinct bool, indisprimary bool, indisexclusion bool, indimmediate bool, "
    "indisclustered bool, indisvalid bool, indcheckxmin bool, indisready bool, indislive bool, "
    "indisreplident bool, indkey smallint[], indcollation oid[], indclass oid[], indoption smallint[], "
    "indexprs text, indpred text",
    "pg_constraint": "oid oid, conname text, connamespace oid, contype text, condeferrable bool, "
    "condeferred bool, convalidated bool, conrelid oid, contypid oid, conindid oid, conparentid oid, "
    "confrelid oid, confupdtype text, confdeltype text, confmatchtype text, conislocal bool, "
    "coninhcount int, connoinherit bool, conkey smallint[], confkey smallint[], conpfeqop oid[], "
    "conppeqop oid[], conffeqop oid[], confdelsetcols smallint[], conexclop oid[], conbin text",
    "pg_attrdef": "oid oid, adrelid oid, adnum smallint, adbin text",
    "pg_description": "objoid oid, classoid oid, objsubid int, description text",
    "pg_shdescription": "objoid oid, classoid oid, description text",
    "pg_proc": "oid oid, proname text, pronamespace oid, proowner oid, prolang oid, procost float, "
    "prorows float, provariadic oid, prosupport oid, prokind text, prosecdef bool, proleakproof bool, "
    "proisstrict bool, proretset bool, provolatile text, proparallel text, pronargs smallint, "
    "pronargdefaults smallint, prorettype oid, proargtypes oid[], proallargtypes oid[], "
    "proargmodes text[], proargnames text[], proargdefaults text, protrftypes oid[], prosrc text, "
    "probin text, prosqlbody text, proconfig text[], proacl text",
    "pg_collation": "oid oid, collname text, collnamespace oid, collowner oid, collprovider text, "
    "collisdeterministic bool, collencoding int, collcollate text, collctype text",
    "pg_inherits": "inhrelid oid, inhparent oid, inhseqno int, inhdetachpending bool",
    "pg_policy": "oid oid, polname text, polrelid oid, polcmd text, polpermissive bool, polroles oid[], "
    "polqual text, polwithcheck text",
    "pg_statistic_ext": "oid oid, stxrelid oid, stxname text, stxnamespace oid, stxowner oid, "
    "stxstattarget int, stxkeys smallint[], stxkind text[], stxexprs text",
    "pg_publication": "oid oid, pubname text, pubowner oid, puballtables bool, pubinsert bool, "
    "pubupdate bool, pubdelete bool, pubtruncate bool, pubviaroot bool",
    "pg_publication_rel": "oid oid, prpubid oid, prrelid oid, prqual text, prattrs smallint[]",
    "pg_publication_namespace": "oid oid, pnpubid oid, pnnspid oid",
    "pg_trigger": "oid oid, tgrelid oid, tgparentid oid, tgname text, tgfoid oid, tgtype smallint, "
    "tgenabled text, tgisinternal bool, tgconstrrelid oid, tgconstrindid oid, tgconstraint oid, "
    "tgdeferrable bool, tginitdeferred bool, tgnargs smallint, tgattr smallint[], tgargs text, "
    "tgqual text, tgoldtable text, tgnewtable text",
    "pg_rewrite": "oid oid, rulename text, ev_class oid, ev_type text, ev_enabled text, is_instead bool, "
    "ev_qual text, ev_action text",
    "pg_depend": "classid oid, objid oid, objsubid int, refclassid oid, refobjid oid, refobjsubid int, "
    "deptype text",
    "pg_extension": "oid oid, extname text, extowner oid, extnamespace oid, extrelocatable bool, "
    "extversion text, extconfig oid[], extcondition text[]",
    "pg_tablespace": "oid oid, spcname text, spcowner oid, spcacl text, spcoptions text[]",
    "pg_range": "rngtypid oid, rngsubtype oid, rngmultitypid oid, rngcollation oid, rngsubopc oid, "
    "rngcanonical oid, rngsubdiff oid",
    "pg_enum": "oid oid, enumtypid oid, enumsortorder float, enumlabel text",
    "pg_language": "oid oid, lanname text, lanowner oid, lanispl bool, lanpltrusted bool",
    "pg_cast": "oid oid, castsource oid, casttarget oid, castfunc oid, castcontext text, castmethod text",
    "pg_operator": "oid oid, oprname text, oprnamespace oid, oprowner oid, oprkind text, oprleft oid, "
    "oprright oid, oprresult oid, oprcode oid",
    "pg_opclass": "oid oid, opcmethod oid, opcname text, opcnamespace oid, opcowner oid, opcfamily oid, "
    "opcintype oid, opcdefault bool, opckeytype oid",
    "pg_foreign_table": "ftrelid oid, ftserver oid, ftoptions text[]",
    "pg_foreign_server": "oid oid, srvname text, srvowner oid, srvfdw oid",
    "pg_foreign_data_wrapper": "oid oid, fdwname text, fdwowner oid",
    "pg_sequence": "seqrelid oid, seqtypid oid, seqstart bigint, seqincrement bigint, seqmax bigint, "
    "seqmin bigint, seqcache bigint, seqcycle bool",
    "pg_event_trigger": "oid oid, evtname text, evtevent text, evtowner oid, evtfoid oid, evtenabled text",
    "pg_auth_members": "oid oid, roleid oid, member oid, grantor oid, admin_option bool",
    "pg_stat_activity": "datid oid, datname text, pid int, leader_pid int, usesysid oid, usename text, "
    "application_name text, client_addr text, client_hostname text, client_port int, "
    "backend_start timestamptz, xact_start timestamptz, query_start timestamptz, state_change timestamptz, "
    "wait_event_type text, wait_event text, state text, backend_xid int, backend_xmin int, query_id bigint, "
    "query text, backend_type text",
    "pg_locks": "locktype text, database oid, relation oid, pid int, mode text, granted bool",
    "pg_settings": "name text, setting text, unit text, category text, short_desc text, extra_desc text, "
    "context text, vartype text, source text, min_val text, max_val text, enumvals text[], boot_val text, "
    "reset_val text, sourcefile text, sourceline int, pending_restart bool",
    "pg_timezone_names": "name text, abbrev text, utc_offset interval, is_dst bool",
    "pg_available_extensions": "name text, default_version text, installed_version text, comment text",
}
_VIEWS_EMPTY = {
    "pg_views": "schemaname text, viewname text, viewowner text, definition text",
    "pg_matviews": "schemaname text, matviewname text, matviewowner text, tablespace text, "
    "hasindexes bool, ispopulated bool, definition text",
    "pg_indexes": "schemaname text, tablename text, indexname text, tablespace text, indexdef text",
}
_TYPE_SQL = {
    "oid": "UINTEGER",
    "oid[]": "UINTEGER[]",
    "text": "VARCHAR",
    "text[]": "VARCHAR[]",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "smallint[]": "SMALLINT[]",
    "bigint": "BIGINT",
    "bool": "BOOLEAN",
    "float": "DOUBLE",
    "timestamptz": "TIMESTAMPTZ",
    "interval": "INTERVAL",
}
CATALOG_TABLE_NAMES = frozenset({*_PG_TABLES, *_VIEWS_EMPTY, "pg_tables", "pg_shadow", "pg_group"})
INFO_TABLES = frozenset(
    {
        "schemata", "tables", "columns", "views", "table_constraints", "key_column_usage",
        "referential_constraints", "constraint_column_usage", "routines", "parameters", "sequences",
        "triggers", "character_sets", "table_privileges", "column_privileges", "enabled_roles",
        "applicable_roles", "check_constraints", "domains", "element_types", "attributes",
    }
)  # fmt: skip


def is_catalog_table(schema: str, name: str) -> bool:
    """Whether a table reference names the emulated ``pg_catalog`` or ``information_schema``."""
    schema, name = schema.lower(), name.lower()
    if schema == "pg_catalog" or (not schema and name in CATALOG_TABLE_NAMES):
        return True
    return schema == "information_schema"


@dataclass(frozen=True)
class TableInfo:
    """A table the server offers: schema, name, columns with their PostgreSQL types, key, description."""

    schema: str
    name: str
    columns: tuple[tuple[str, PgType], ...]
    key: tuple[str, ...] = ()
    description: str = ""


def tables_of(catalog: Catalog) -> list[TableInfo]:
    """Every table of the catalog (partitioned ones with ``Division``) and the dictionary tables."""
    found = []
    for table in catalog.tables:
        columns = [(c.name, edm_type(c.edm)) for c in table.columns]
        if table.partitioned and all(c.name != "Division" for c in table.columns):
            columns.append(("Division", TYPES["int4"]))
        key = tuple(k for k in ([table.key] if isinstance(table.key, str) else table.key or []) if k)
        endpoints = ", ".join(p.endpoint for p in table.paths)
        found.append(TableInfo(table.schema, table.name, tuple(columns), key, f"Exact Online: {endpoints}"))
    for name in ("SystemTables", "SystemTableColumns", "SystemDivisions", "SessionIOs", "RateLimits"):
        columns = [(c.name, edm_type(c.edm)) for c in dictionary.columns(name)]
        found.append(TableInfo(DICTIONARY_SCHEMA, name, tuple(columns), (), "exactsql dictionary table"))
    return found


def _ddl(columns: str) -> str:
    parts = []
    for item in columns.split(", "):
        name, kind = item.rsplit(" ", 1)
        parts.append(f'"{name}" {_TYPE_SQL[kind]}')
    return ", ".join(parts)


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: str, rows: Iterable[tuple]) -> None:
    names = [item.rsplit(" ", 1)[0] for item in columns.split(", ")]
    data = list(rows)
    if not data:
        return
    arrays = {n: [r[i] if i < len(r) else None for r in data] for i, n in enumerate(names)}
    source = pa.table(
        {n: pa.array(v) if any(x is not None for x in v) else pa.nulls(len(v)) for n, v in arrays.items()}
    )
    con.register("exactsql_rows", source)
    select = ", ".join(
        f'CAST("{n}" AS {_TYPE_SQL[k.rsplit(" ", 1)[1]]})'
        for n, k in zip(names, columns.split(", "), strict=True)
    )
    con.execute(f"INSERT INTO {table} SELECT {select} FROM exactsql_rows")
    con.unregister("exactsql_rows")


class Introspection:
    """The emulated catalogs over the server's tables, in one locked-down in-memory DuckDB database."""

    def __init__(self, tables: list[TableInfo], database: str, settings: dict[str, str]) -> None:
        self.tables = tables
        self.database = database
        self.duck = duckdb.connect(config={"enable_external_access": False})
        self._lock = threading.Lock()
        con = self.duck
        con.execute(f"CREATE SCHEMA {PG}; CREATE SCHEMA {INFO}")
        for name, columns in {**_PG_TABLES, **_VIEWS_EMPTY}.items():
            con.execute(f"CREATE TABLE {PG}.{name} ({_ddl(columns)})")
        self.schemas = sorted({t.schema for t in tables})
        self.namespace_oid = dict(NAMESPACE_OIDS)
        self.namespace_oid.update({s: FIRST_OID + i for i, s in enumerate(self.schemas)})
        self.table_oid: dict[tuple[str, str], int] = {}
        next_oid = FIRST_OID + 1000
        for t in tables:
            self.table_oid[(t.schema, t.name)] = next_oid
            next_oid += 1
        self._fill(settings)
        from exactsql.serve.rewrite import install_functions

        install_functions(con, self)
        _information_schema(con, database)
        con.execute("SET lock_configuration = true")

    def _fill(self, settings: dict[str, str]) -> None:
        con = self.duck
        _insert(con, f"{PG}.pg_namespace", _PG_TABLES["pg_namespace"],
                [(oid, name, OWNER_OID) for name, oid in self.namespace_oid.items()])  # fmt: skip
        classes, attributes, descriptions = [], [], []
        for t in self.tables:
            oid = self.table_oid[(t.schema, t.name)]
            ns = self.namespace_oid[t.schema]
            classes.append((oid, t.name, ns, 0, 0, OWNER_OID, 2, 0, 0, 0, -1.0, 0, 0, False, False, "p", "r",
                            len(t.columns), 0, False, False, False, False, False, False, True, "d", False, 0))  # fmt: skip
            descriptions.append((oid, 1259, 0, t.description))
            for number, (name, pg) in enumerate(t.columns, start=1):
                attributes.append((oid, name, pg.oid, -1, pg.size, number, 0, -1, -1, pg.size in (1, 2, 4, 8),
                                   "i", "p", "", name in t.key, False, False, "", "", False, True, 0,
                                   100 if pg.category == "S" else 0))  # fmt: skip
        _insert(con, f"{PG}.pg_class", _PG_TABLES["pg_class"], classes)
        _insert(con, f"{PG}.pg_attribute", _PG_TABLES["pg_attribute"], attributes)
        _insert(con, f"{PG}.pg_description", _PG_TABLES["pg_description"], descriptions)
        types = []
        for pg in TYPES.values():
            kind = "p" if pg.category == "P" else "b"
            types.append(_type_row(pg.oid, pg.name, pg.size, pg.category, 0, pg.array_oid, kind, 0))
            if pg.array_oid:
                types.append(_type_row(pg.array_oid, "_" + pg.name, -1, "A", pg.oid, 0, "b", ARRAY_RECV))
        _insert(con, f"{PG}.pg_type", _PG_TABLES["pg_type"], types)
        _insert(con, f"{PG}.pg_proc", _PG_TABLES["pg_proc"], [(ARRAY_RECV, "array_recv", 11, OWNER_OID, 12)])
        _insert(con, f"{PG}.pg_database", _PG_TABLES["pg_database"],
                [(1, self.database, OWNER_OID, 6, "c", False, True, -1, 0, 0, 0, 1663, "C.UTF-8", "C.UTF-8")])  # fmt: skip
        _insert(con, f"{PG}.pg_am", _PG_TABLES["pg_am"], [(2, "heap", 0, "t"), (403, "btree", 0, "i")])
        _insert(con, f"{PG}.pg_collation", _PG_TABLES["pg_collation"],
                [(100, "default", 11, OWNER_OID, "d", True, -1, None, None)])  # fmt: skip
        _insert(con, f"{PG}.pg_tablespace", _PG_TABLES["pg_tablespace"], [(1663, "pg_default", OWNER_OID)])
        _insert(con, f"{PG}.pg_language", _PG_TABLES["pg_language"],
                [(12, "internal", OWNER_OID, False, False), (14, "sql", OWNER_OID, False, True)])  # fmt: skip
        _insert(con, f"{PG}.pg_settings", _PG_TABLES["pg_settings"],
                [(k, v, None, "exactsql", "", None, "user", "string", "default") for k, v in sorted(settings.items())])  # fmt: skip
        con.execute(
            f"CREATE VIEW {PG}.pg_tables AS SELECT n.nspname AS schemaname, c.relname AS tablename, "
            f"'exactsql' AS tableowner, NULL::VARCHAR AS tablespace, false AS hasindexes, false AS hasrules, "
            f"false AS hastriggers, false AS rowsecurity FROM {PG}.pg_class c JOIN {PG}.pg_namespace n "
            f"ON n.oid = c.relnamespace WHERE c.relkind = 'r'"
        )
        con.execute(f"CREATE VIEW {PG}.pg_shadow AS SELECT usename, usesysid FROM {PG}.pg_user")
        con.execute(f"CREATE VIEW {PG}.pg_group AS SELECT NULL::VARCHAR AS groname, 0::UINTEGER AS grosysid")

    def add_user(self, name: str) -> None:
        """Makes a user known to ``pg_roles``/``pg_user`` (the users that may log in)."""
        with self._lock:
            oid = (
                OWNER_OID
                if name == "exactsql"
                else 20000 + len(self.duck.execute(f"FROM {PG}.pg_roles").fetchall())
            )
            _insert(self.duck, f"{PG}.pg_roles", _PG_TABLES["pg_roles"],
                    [(oid, name, False, True, False, False, True, False, -1, "********")])  # fmt: skip
            _insert(
                self.duck,
                f"{PG}.pg_user",
                _PG_TABLES["pg_user"],
                [(name, oid, False, False, False, False, "********")],
            )

    def query(self, sql: str, interrupt: threading.Event | None = None) -> pa.Table:
        """Runs DuckDB SQL (already rewritten) on a cursor of its own."""
        cursor = self.duck.cursor()
        try:
            return cursor.sql(sql).to_arrow_table()
        finally:
            cursor.close()


def _type_row(
    oid: int, name: str, size: int, category: str, elem: int, array: int, kind: str, receive: int
) -> tuple:
    return (oid, name, 11, OWNER_OID, size, size in (1, 2, 4, 8), kind, category, False, True, ",", 0,
            0, elem, array, 0, 0, receive, 0, 0, 0, 0, "i", "p", False, 0, -1, 0, 100 if category == "S" else 0)  # fmt: skip


def _information_schema(con: duckdb.DuckDBPyConnection, database: str) -> None:
    """``information_schema`` as views over the emulated ``pg_catalog``."""
    db = database.replace("'", "''")
    user_schemas = "n.nspname NOT IN ('pg_catalog', 'information_schema')"
    con.execute(
        f"CREATE VIEW {INFO}.schemata AS SELECT '{db}' AS catalog_name, nspname AS schema_name, "
        f"'exactsql' AS schema_owner, NULL::VARCHAR AS default_character_set_catalog, "
        f"NULL::VARCHAR AS default_character_set_schema, NULL::VARCHAR AS default_character_set_name, "
        f"NULL::VARCHAR AS sql_path FROM {PG}.pg_namespace n"
    )
    con.execute(
        f"CREATE VIEW {INFO}.tables AS SELECT '{db}' AS table_catalog, n.nspname AS table_schema, "
        f"c.relname AS table_name, 'BASE TABLE' AS table_type, NULL::VARCHAR AS self_referencing_column_name, "
        f"NULL::VARCHAR AS reference_generation, NULL::VARCHAR AS user_defined_type_catalog, "
        f"NULL::VARCHAR AS user_defined_type_schema, NULL::VARCHAR AS user_defined_type_name, "
        f"'NO' AS is_insertable_into, 'NO' AS is_typed, NULL::VARCHAR AS commit_action "
        f"FROM {PG}.pg_class c JOIN {PG}.pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE c.relkind = 'r' AND {user_schemas}"
    )
    con.execute(
        f"CREATE VIEW {INFO}.columns AS SELECT '{db}' AS table_catalog, n.nspname AS table_schema, "
        f"c.relname AS table_name, a.attname AS column_name, a.attnum::INTEGER AS ordinal_position, "
        f"NULL::VARCHAR AS column_default, CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable, "
        f"pgx_format_type(a.atttypid, -1) AS data_type, NULL::INTEGER AS character_maximum_length, "
        f"CASE WHEN t.typcategory = 'S' THEN 1073741824 END AS character_octet_length, "
        f"CASE t.typname WHEN 'int2' THEN 16 WHEN 'int4' THEN 32 WHEN 'int8' THEN 64 WHEN 'float8' THEN 53 "
        f"WHEN 'float4' THEN 24 END AS numeric_precision, "
        f"CASE WHEN t.typcategory = 'N' THEN 2 END AS numeric_precision_radix, "
        f"CASE WHEN t.typname IN ('int2', 'int4', 'int8') THEN 0 END AS numeric_scale, "
        f"CASE WHEN t.typcategory = 'D' THEN 3 END AS datetime_precision, NULL::VARCHAR AS interval_type, "
        f"NULL::INTEGER AS interval_precision, NULL::VARCHAR AS character_set_catalog, "
        f"NULL::VARCHAR AS character_set_schema, NULL::VARCHAR AS character_set_name, "
        f"NULL::VARCHAR AS collation_catalog, NULL::VARCHAR AS collation_schema, "
        f"NULL::VARCHAR AS collation_name, NULL::VARCHAR AS domain_catalog, NULL::VARCHAR AS domain_schema, "
        f"NULL::VARCHAR AS domain_name, '{db}' AS udt_catalog, 'pg_catalog' AS udt_schema, "
        f"t.typname AS udt_name, NULL::VARCHAR AS scope_catalog, NULL::VARCHAR AS scope_schema, "
        f"NULL::VARCHAR AS scope_name, NULL::INTEGER AS maximum_cardinality, a.attnum::VARCHAR AS dtd_identifier, "
        f"'NO' AS is_self_referencing, 'NO' AS is_identity, NULL::VARCHAR AS identity_generation, "
        f"NULL::VARCHAR AS identity_start, NULL::VARCHAR AS identity_increment, NULL::VARCHAR AS identity_maximum, "
        f"NULL::VARCHAR AS identity_minimum, NULL::VARCHAR AS identity_cycle, 'NEVER' AS is_generated, "
        f"NULL::VARCHAR AS generation_expression, 'NO' AS is_updatable "
        f"FROM {PG}.pg_attribute a JOIN {PG}.pg_class c ON c.oid = a.attrelid "
        f"JOIN {PG}.pg_namespace n ON n.oid = c.relnamespace JOIN {PG}.pg_type t ON t.oid = a.atttypid"
    )
    empty = {
        "views": "table_catalog text, table_schema text, table_name text, view_definition text, "
        "check_option text, is_updatable text, is_insertable_into text",
        "table_constraints": "constraint_catalog text, constraint_schema text, constraint_name text, "
        "table_catalog text, table_schema text, table_name text, constraint_type text, is_deferrable text, "
        "initially_deferred text, enforced text",
        "key_column_usage": "constraint_catalog text, constraint_schema text, constraint_name text, "
        "table_catalog text, table_schema text, table_name text, column_name text, ordinal_position int, "
        "position_in_unique_constraint int",
        "referential_constraints": "constraint_catalog text, constraint_schema text, constraint_name text, "
        "unique_constraint_catalog text, unique_constraint_schema text, unique_constraint_name text, "
        "match_option text, update_rule text, delete_rule text",
        "constraint_column_usage": "table_catalog text, table_schema text, table_name text, column_name text, "
        "constraint_catalog text, constraint_schema text, constraint_name text",
        "routines": "specific_catalog text, specific_schema text, specific_name text, routine_catalog text, "
        "routine_schema text, routine_name text, routine_type text, data_type text",
        "parameters": "specific_catalog text, specific_schema text, specific_name text, "
        "ordinal_position int, parameter_mode text, parameter_name text, data_type text",
        "sequences": "sequence_catalog text, sequence_schema text, sequence_name text, data_type text",
        "triggers": "trigger_catalog text, trigger_schema text, trigger_name text, event_manipulation text, "
        "event_object_schema text, event_object_table text",
        "character_sets": "character_set_catalog text, character_set_schema text, character_set_name text",
        "table_privileges": "grantor text, grantee text, table_catalog text, table_schema text, "
        "table_name text, privilege_type text, is_grantable text, with_hierarchy text",
        "column_privileges": "grantor text, grantee text, table_catalog text, table_schema text, "
        "table_name text, column_name text, privilege_type text, is_grantable text",
        "enabled_roles": "role_name text",
        "applicable_roles": "grantee text, role_name text, is_grantable text",
        "check_constraints": "constraint_catalog text, constraint_schema text, constraint_name text, "
        "check_clause text",
        "domains": "domain_catalog text, domain_schema text, domain_name text, data_type text",
        "element_types": "object_catalog text, object_schema text, object_name text, data_type text",
        "attributes": "udt_catalog text, udt_schema text, udt_name text, attribute_name text, data_type text",
    }
    for name, columns in empty.items():
        con.execute(f"CREATE TABLE {INFO}.{name} ({_ddl(columns)})")

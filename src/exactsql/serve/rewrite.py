"""PostgreSQL catalog queries rewritten for the emulated catalog in DuckDB: ``pg_catalog``/``information_schema``
names, ``OPERATOR(pg_catalog.~)``, ``COLLATE``, ``::regclass`` and friends, and the system functions
clients call (``version()``, ``current_setting()``, ``format_type()``, ``pg_get_userbyid()`` …).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb
from sqlglot import exp

from exactsql.serve.catalog import INFO, PG, is_catalog_table

if TYPE_CHECKING:
    from exactsql.serve.catalog import Introspection

SERVER_VERSION = "16.0"
SERVER_VERSION_NUM = "160000"


@dataclass
class Context:
    """What a session's catalog queries may ask about: who, where, and its settings."""

    user: str
    database: str
    pid: int
    settings: dict[str, str] = field(default_factory=dict)
    version: str = ""


#: Functions answered from the session (by a literal) when the query is rewritten.
_SESSION_FUNCTIONS: dict[str, Callable[[Context, list[exp.Expr]], exp.Expr]] = {
    "version": lambda c, a: exp.Literal.string(c.version),
    "current_database": lambda c, a: exp.Literal.string(c.database),
    "current_catalog": lambda c, a: exp.Literal.string(c.database),
    "current_user": lambda c, a: exp.Literal.string(c.user),
    "session_user": lambda c, a: exp.Literal.string(c.user),
    "user": lambda c, a: exp.Literal.string(c.user),
    "current_role": lambda c, a: exp.Literal.string(c.user),
    "getpgusername": lambda c, a: exp.Literal.string(c.user),
    "current_schema": lambda c, a: exp.Literal.string(_search_path(c)[0] if _search_path(c) else "public"),
    "current_schemas": lambda c, a: exp.Array(expressions=[exp.Literal.string(s) for s in _search_path(c)]),
    "pg_backend_pid": lambda c, a: exp.Literal.number(c.pid),
    "current_setting": lambda c, a: _setting(c, a),
    "set_config": lambda c, a: a[1] if len(a) > 1 else exp.null(),
    "inet_server_port": lambda c, a: exp.null(),
    "inet_server_addr": lambda c, a: exp.null(),
    "inet_client_addr": lambda c, a: exp.null(),
    "pg_postmaster_start_time": lambda c, a: exp.Anonymous(this="now"),
    "txid_current": lambda c, a: exp.Literal.number(1),
    "pg_current_xact_id": lambda c, a: exp.Literal.number(1),
    "pg_is_in_recovery": lambda c, a: exp.false(),
}

#: Functions defined as DuckDB macros (``pgx_`` + name): (parameters, body).
_MACROS = {
    "unquote": ("s", "CASE WHEN s LIKE '\"%\"' THEN replace(s[2:-2], '\"\"', '\"') ELSE lower(s) END"),
    "pg_get_userbyid": ("o", "'exactsql'"),
    "pg_table_is_visible": ("o", f"o IN (SELECT oid FROM {PG}.exactsql_visible)"),
    "pg_type_is_visible": ("o", "true"),
    "pg_function_is_visible": ("o", "true"),
    "format_type": ("o, m", f"(SELECT map_type FROM {PG}.exactsql_maps)[o]"),
    "pg_get_expr": ("e, r, p := false", "NULL::VARCHAR"),
    "pg_get_indexdef": ("o, n := 0, p := false", "NULL::VARCHAR"),
    "pg_get_constraintdef": ("o, p := false", "NULL::VARCHAR"),
    "pg_get_viewdef": ("o, p := false", "NULL::VARCHAR"),
    "pg_get_triggerdef": ("o, p := false", "NULL::VARCHAR"),
    "pg_get_functiondef": ("o", "NULL::VARCHAR"),
    "pg_get_function_arguments": ("o", "NULL::VARCHAR"),
    "pg_get_function_result": ("o", "NULL::VARCHAR"),
    "pg_get_function_identity_arguments": ("o", "NULL::VARCHAR"),
    "pg_get_statisticsobjdef_columns": ("o", "NULL::VARCHAR"),
    "pg_get_partkeydef": ("o", "NULL::VARCHAR"),
    "pg_get_serial_sequence": ("t, c", "NULL::VARCHAR"),
    "pg_relation_is_publishable": ("o", "false"),
    "pg_encoding_to_char": ("e", "'UTF8'"),
    "pg_char_to_encoding": ("e", "6"),
    "obj_description": ("o, c := NULL", f"(SELECT map_desc FROM {PG}.exactsql_maps)[o::VARCHAR || ':0']"),
    "col_description": (
        "o, n",
        f"(SELECT map_desc FROM {PG}.exactsql_maps)[o::VARCHAR || ':' || n::VARCHAR]",
    ),
    "shobj_description": ("o, c", "NULL::VARCHAR"),
    "has_table_privilege": ("a, b, c := NULL", "true"),
    "has_schema_privilege": ("a, b, c := NULL", "true"),
    "has_database_privilege": ("a, b, c := NULL", "true"),
    "has_column_privilege": ("a, b, c, d := NULL", "true"),
    "has_any_column_privilege": ("a, b, c := NULL", "true"),
    "has_function_privilege": ("a, b, c := NULL", "true"),
    "pg_has_role": ("a, b, c := NULL", "true"),
    "pg_relation_size": ("o, f := NULL", "0::BIGINT"),
    "pg_total_relation_size": ("o", "0::BIGINT"),
    "pg_table_size": ("o", "0::BIGINT"),
    "pg_indexes_size": ("o", "0::BIGINT"),
    "pg_database_size": ("o", "0::BIGINT"),
    "pg_size_pretty": ("s", "s::VARCHAR || ' bytes'"),
    "pg_tablespace_location": ("o", "''"),
    "quote_ident": (
        "s",
        "CASE WHEN regexp_full_match(s, '[a-z_][a-z0-9_$]*') THEN s ELSE '\"' || replace(s, '\"', '\"\"') || '\"' END",
    ),
    "array_upper": ("a, d", "len(a)"),
    "array_lower": ("a, d", "CASE WHEN len(a) > 0 THEN 1 END"),
    "regclass_key": (
        "s",
        "CASE WHEN s LIKE '%.%' THEN pgx_unquote(split_part(s, '.', 1)) || '.' ELSE '' END "
        "|| pgx_unquote(split_part(s, '.', -1))",
    ),
    "regclass_oid": ("s", f"(SELECT map_regclass FROM {PG}.exactsql_maps)[pgx_regclass_key(s)]"),
    "regclass_name": ("o", f"(SELECT map_class FROM {PG}.exactsql_maps)[o]"),
    "regtype_oid": (
        "s",
        f"(SELECT map_regtype FROM {PG}.exactsql_maps)[pgx_unquote(split_part(s, '.', -1))]",
    ),
    "regnamespace_name": ("o", f"(SELECT map_ns FROM {PG}.exactsql_maps)[o]"),
    "pg_collation_is_visible": ("o", "true"),
    "to_regclass": ("s", "pgx_regclass_oid(s)"),
    "to_regtype": ("s", "pgx_regtype_oid(s)"),
}
#: Set-returning functions defined as DuckDB table macros.
_TABLE_MACROS = {
    "pg_get_keywords": "SELECT NULL::VARCHAR AS word, NULL::VARCHAR AS catcode, NULL::VARCHAR AS barelabel, "
    "NULL::VARCHAR AS catdesc, NULL::VARCHAR AS baredesc WHERE false",
}
#: Functions DuckDB has under another name.
_RENAMED = {"json_build_object": "json_object", "json_agg": "json_group_array", "to_json": "to_json"}
_REG_TYPES = {
    "regclass",
    "regtype",
    "regproc",
    "regprocedure",
    "regnamespace",
    "regrole",
    "regoper",
    "regconfig",
}
_SIMPLE_TYPES = {
    "oid": "UINTEGER",
    "name": "VARCHAR",
    "char": "VARCHAR",
    "text": "VARCHAR",
    "int2vector": "VARCHAR",
    "oidvector": "VARCHAR",
    "xid": "UINTEGER",
    "int2": "SMALLINT",
    "int4": "INTEGER",
    "int8": "BIGINT",
}


def install_functions(con: duckdb.DuckDBPyConnection, introspection: Introspection) -> None:
    """The macros catalog queries call, and the helper tables behind them."""
    from exactsql.serve.pgtypes import TYPES

    display = {t.oid: t.display for t in TYPES.values()}
    names = con.execute(f"SELECT oid, typname, typelem, typcategory FROM {PG}.pg_type").fetchall()
    shown = {oid: display.get(oid, name) for oid, name, _, _ in names}
    shown.update({oid: shown.get(elem, "unknown") + "[]" for oid, _, elem, kind in names if kind == "A"})
    type_oids = {name: oid for oid, name, _, _ in names} | {d: o for o, d in display.items()}
    classes = con.execute(
        f"SELECT c.oid, c.relname, n.nspname FROM {PG}.pg_class c JOIN {PG}.pg_namespace n ON n.oid = c.relnamespace"
    ).fetchall()
    by_name: dict[str, int] = {}
    for oid, rel, nsp in sorted(classes, key=lambda r: r[2], reverse=True):
        by_name[rel] = oid  # unqualified: the first schema by name, as a search path would
        by_name[f"{nsp}.{rel}"] = oid
    descriptions = con.execute(f"SELECT objoid, objsubid, description FROM {PG}.pg_description").fetchall()
    namespaces = con.execute(f"SELECT oid, nspname FROM {PG}.pg_namespace").fetchall()
    con.execute(
        f"CREATE TABLE {PG}.exactsql_maps AS SELECT MAP(?::UINTEGER[], ?::VARCHAR[]) AS map_type, "
        f"MAP(?::VARCHAR[], ?::VARCHAR[]) AS map_desc, MAP(?::UINTEGER[], ?::VARCHAR[]) AS map_class, "
        f"MAP(?::UINTEGER[], ?::VARCHAR[]) AS map_ns, MAP(?::VARCHAR[], ?::UINTEGER[]) AS map_regclass, "
        f"MAP(?::VARCHAR[], ?::UINTEGER[]) AS map_regtype",
        [
            list(shown), list(shown.values()),
            [f"{o}:{n}" for o, n, _ in descriptions], [d for _, _, d in descriptions],
            [r[0] for r in classes], [r[1] for r in classes],
            [r[0] for r in namespaces], [r[1] for r in namespaces],
            list(by_name), list(by_name.values()),
            list(type_oids), list(type_oids.values()),
        ],
    )  # fmt: skip
    # The first schema (by name) that has a table of that name shows it unqualified, as a search path would.
    con.execute(
        f"CREATE TABLE {PG}.exactsql_visible AS SELECT min_by(c.oid, n.nspname) AS oid FROM {PG}.pg_class c "
        f"JOIN {PG}.pg_namespace n ON n.oid = c.relnamespace GROUP BY c.relname"
    )
    for name, (params, body) in _MACROS.items():
        con.execute(f"CREATE MACRO pgx_{name}({params}) AS {body}")
    for name, body in _TABLE_MACROS.items():
        con.execute(f"CREATE MACRO pgx_{name}() AS TABLE {body}")


def _search_path(context: Context) -> list[str]:
    path = context.settings.get("search_path", "public")
    return [p.strip().strip('"') for p in path.split(",") if p.strip() and "$user" not in p]


def _setting(context: Context, args: list[exp.Expr]) -> exp.Expr:
    if not args or not isinstance(args[0], exp.Literal):
        return exp.null()
    value = context.settings.get(args[0].name.lower())
    return exp.Literal.string(value) if value is not None else exp.null()


def _function_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None


_CLASS_FUNCTIONS = {
    "CurrentVersion": "version",
    "CurrentUser": "current_user",
    "CurrentSchema": "current_schema",
    "CurrentDatabase": "current_database",
    "CurrentCatalog": "current_catalog",
    "SessionUser": "session_user",
    "CurrentRole": "current_role",
    "GroupConcat": "string_agg",
    "ArrayAgg": "array_agg",
}


def rewrite(tree: exp.Expr, context: Context) -> str:
    """DuckDB SQL for a catalog query of a session."""
    tree = tree.copy()
    _name_outputs(tree)
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            if table.db.lower() == "pg_catalog":
                table.set("db", None)
        elif is_catalog_table(table.db, table.name):
            table.set("db", exp.to_identifier(INFO if table.db.lower() == "information_schema" else PG))
            table.set("catalog", None)
            table.set("this", exp.to_identifier(table.name.lower()))

    for column in list(tree.find_all(exp.Column)):
        if column.args.get("db") is not None and is_catalog_table(column.text("db"), column.table):
            schema = INFO if column.text("db").lower() == "information_schema" else PG
            column.set("db", exp.to_identifier(schema))
            column.set("catalog", None)
            column.set("table", exp.to_identifier(column.table.lower()))
    for dot in list(tree.find_all(exp.Dot)):
        pg_catalog = isinstance(dot.this, exp.Identifier) and dot.this.name.lower() == "pg_catalog"
        if pg_catalog and isinstance(dot.expression, exp.Func):
            dot.replace(dot.expression)

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Collate):
            return node.this
        if isinstance(node, exp.Operator):
            return _operator(node)
        if isinstance(node, exp.Cast):
            return _cast(node)
        if isinstance(node, exp.EQ) and isinstance(node.expression, exp.Any):
            values = node.expression.this
            if not isinstance(values, (exp.Subquery, exp.Select)):
                return exp.Anonymous(this="list_contains", expressions=[values, node.this])
            return node
        name = _CLASS_FUNCTIONS.get(type(node).__name__) or _function_name(node)
        if name is None:
            return node
        if isinstance(node, exp.Anonymous):
            args = list(node.expressions)
        else:
            args = [a for a in node.args.values() if isinstance(a, exp.Expr)]
        if name in _SESSION_FUNCTIONS:
            return _SESSION_FUNCTIONS[name](context, args)
        if name in _MACROS or name in _TABLE_MACROS:
            return exp.Anonymous(this=f"pgx_{name}", expressions=args)
        if name in _RENAMED and isinstance(node, exp.Anonymous):
            return exp.Anonymous(this=_RENAMED[name], expressions=args)
        return node

    for _ in range(3):  # a replaced node's children are fixed on the next pass
        tree = tree.transform(fix)
    return tree.sql(dialect="duckdb")


def output_names(tree: exp.Expr) -> list[str] | None:
    """The names PostgreSQL gives a query's output columns (None when a ``*`` leaves them to the tables)."""
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return None
    names = []
    for node in select.expressions:
        if isinstance(node, exp.Star) or (isinstance(node, exp.Column) and isinstance(node.this, exp.Star)):
            return None
        if isinstance(node, exp.Alias):
            names.append(_identifier_name(node.args["alias"]))
        else:
            names.append(_output_name(node))
    return names


def _identifier_name(node: exp.Expr) -> str:
    """An identifier as PostgreSQL keeps it: folded to lower case unless quoted."""
    if isinstance(node, exp.Identifier):
        return node.name if node.quoted else node.name.lower()
    return node.name


def _output_name(node: exp.Expr) -> str:
    """The name PostgreSQL gives an unaliased output column."""
    if isinstance(node, exp.Column):
        return _identifier_name(node.this)
    if isinstance(node, exp.Cast):
        inner = _output_name(node.this)
        return inner if inner != "?column?" else _type_name(node)
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        return _output_name(node.expression)
    if isinstance(node, exp.Case):
        return "case"
    if isinstance(node, (exp.Array, exp.Subquery)) and not isinstance(node, exp.Subquery):
        return "array"
    name = _CLASS_FUNCTIONS.get(type(node).__name__) or _function_name(node)
    if name and not isinstance(node, exp.Binary) and not isinstance(node, exp.Literal):
        return name.removeprefix("exploding_")
    return "?column?"


def _name_outputs(tree: exp.Expr) -> None:
    """Aliases the outer SELECT's unaliased expressions as PostgreSQL names them (``version``, ``?column?``)."""
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return
    for i, node in enumerate(list(select.expressions)):
        if isinstance(node, (exp.Alias, exp.Star)) or (
            isinstance(node, exp.Column) and isinstance(node.this, exp.Star)
        ):
            continue
        if isinstance(node, exp.Column):
            continue
        select.expressions[i] = exp.alias_(node, _output_name(node), quoted=True)


def _operator(node: exp.Operator) -> exp.Expr:
    op = str(node.args.get("operator") or "").split(".")[-1].strip()
    left, right = node.this, node.expression
    if isinstance(right, exp.Collate):
        right = right.this
    regex = {"~": (False, ""), "!~": (True, ""), "~*": (False, "i"), "!~*": (True, "i")}
    if op in regex:
        negate, flags = regex[op]
        args = [left, right] + ([exp.Literal.string(flags)] if flags else [])
        match: exp.Expr = exp.Anonymous(this="regexp_matches", expressions=args)
        return exp.Not(this=match) if negate else match
    binary = {"=": exp.EQ, "<>": exp.NEQ, "<": exp.LT, ">": exp.GT, "<=": exp.LTE, ">=": exp.GTE}
    if op in binary:
        return binary[op](this=left, expression=right)
    return node


def _type_name(node: exp.Cast) -> str:
    to = node.to
    if isinstance(to, exp.DataType) and to.this == exp.DataType.Type.ARRAY and to.expressions:
        return _type_name(exp.Cast(this=node.this, to=to.expressions[0])) + "[]"
    kind = to.args.get("kind")
    if isinstance(kind, exp.Dot):
        return kind.expression.name.lower()
    if isinstance(to, exp.DataType) and to.this == exp.DataType.Type.USERDEFINED and kind is not None:
        return str(kind.name if isinstance(kind, exp.Expr) else kind).lower()
    if isinstance(to, exp.ObjectIdentifier) or to.__class__.__name__ == "ObjectIdentifier":
        return to.name.lower()
    return to.sql("postgres").lower().split(".")[-1]


def _cast(node: exp.Cast) -> exp.Expr:
    name = _type_name(node)
    inner = node.this
    if name in _REG_TYPES:
        if isinstance(inner, exp.Literal) and inner.is_string:
            helper = {"regclass": "pgx_regclass_oid", "regtype": "pgx_regtype_oid"}.get(name)
            return exp.Anonymous(this=helper, expressions=[inner]) if helper else exp.null()
        return exp.Cast(this=inner, to=exp.DataType.build("UINTEGER", dialect="duckdb"))
    if name in ("text", "varchar", "name") and isinstance(inner, exp.Cast):
        inner_name = _type_name(inner)
        helper = {
            "regclass": "pgx_regclass_name",
            "regtype": "pgx_format_type",
            "regnamespace": "pgx_regnamespace_name",
        }.get(inner_name)
        if helper:
            args = [inner.this] + ([exp.null()] if helper == "pgx_format_type" else [])
            return exp.Anonymous(this=helper, expressions=args)
    if name.endswith("[]"):
        base = _SIMPLE_TYPES.get(name[:-2])
        if base:
            return exp.Cast(this=inner, to=exp.DataType.build(base + "[]", dialect="duckdb"))
    if name in _SIMPLE_TYPES:
        return exp.Cast(this=inner, to=exp.DataType.build(_SIMPLE_TYPES[name], dialect="duckdb"))
    return node

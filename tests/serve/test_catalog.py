"""Catalog queries of the shapes tools send on connect (Npgsql's type loading for Power BI, DBeaver's
namespaces and keywords, pgjdbc's and SQLAlchemy's lookups) answered from the emulated catalog."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from tests.serve.conftest import Served

TYPE_LOADING = """
SELECT version();
SELECT ns.nspname, t.oid, t.typname, t.typtype, t.elemtypoid
FROM (
  SELECT typ.oid, typ.typnamespace, typ.typname, typ.typtype, elem.oid AS elemtypoid
  FROM (
    SELECT typ.oid, typnamespace, typname, typrelid, relkind,
           CASE WHEN proc.proname = 'array_recv' THEN 'a' ELSE typ.typtype END AS typtype,
           CASE WHEN proc.proname = 'array_recv' THEN typ.typelem
                WHEN typ.typtype = 'r' THEN rngsubtype WHEN typ.typtype = 'd' THEN typ.typbasetype END AS elemtypoid
    FROM pg_type AS typ
    LEFT JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
    LEFT JOIN pg_proc AS proc ON proc.oid = typ.typreceive
    LEFT JOIN pg_range ON (pg_range.rngtypid = typ.oid)
  ) AS typ
  LEFT JOIN pg_type AS elem ON elem.oid = elemtypoid
) AS t
JOIN pg_namespace AS ns ON (ns.oid = t.typnamespace)
WHERE t.typtype IN ('b', 'a', 'r', 'e', 'd') OR (t.typtype = 'p' AND t.typname IN ('record', 'void'))
ORDER BY CASE WHEN t.typtype = 'a' THEN 1 ELSE 0 END;
SELECT pg_type.oid, enumlabel FROM pg_enum JOIN pg_type ON pg_type.oid = enumtypid ORDER BY oid, enumsortorder
"""


def test_type_loading_in_one_simple_query(served: Served) -> None:
    with psycopg.connect(served.dsn(), cursor_factory=psycopg.ClientCursor) as conn:
        cur = conn.cursor()
        cur.execute(TYPE_LOADING)
        assert cur.fetchone()[0].startswith("PostgreSQL 16.0")  # type: ignore[index]
        assert cur.nextset()
        types = {name: (oid, kind, elem) for _, oid, name, kind, elem in cur.fetchall()}
        assert types["int4"] == (23, "b", None)
        assert types["_int4"] == (1007, "a", 23)
        assert types["timestamp"][0] == 1114 and types["_text"][2] == 25
        assert types["record"][1] == "p"
        assert cur.nextset()
        assert cur.fetchall() == []


def test_tool_lookups(served: Served) -> None:
    with psycopg.connect(served.dsn(), autocommit=True) as conn:
        namespaces = conn.execute(
            "SELECT n.oid, n.*, d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN "
            "pg_catalog.pg_description d ON d.objoid = n.oid AND d.objsubid = 0 "
            "AND d.classoid = 'pg_namespace'::regclass ORDER BY nspname"
        ).fetchall()
        assert "crm" in [row[2] for row in namespaces]
        keywords = conn.execute(
            "select string_agg(word, ',') from pg_catalog.pg_get_keywords() where word <> ALL ('{a,abs}'::text[])"
        )
        assert [d.name for d in keywords.description] == ["string_agg"]
        oid = conn.execute("""select 'crm."Accounts"'::regclass::oid""").fetchone()
        assert oid is not None and oid[0] > 16384
        described = conn.execute(
            "select c.oid::regclass::text, obj_description(c.oid, 'pg_class'), "
            "pg_catalog.format_type(a.atttypid, a.atttypmod) from pg_class c join pg_attribute a "
            "on a.attrelid = c.oid where c.oid = %s and a.attname = 'Modified'",
            (oid[0],),
        ).fetchall()
        assert len(described) == 1
        name, description, shown = described[0]
        assert name == "Accounts" and shown == "timestamp without time zone"
        assert description.startswith("Exact Online: ") and "crm/Accounts" in description
        assert (
            conn.execute("select pg_catalog.current_schemas(false), current_schema()").fetchone() is not None
        )
        assert conn.execute("select setting from pg_settings where name = 'server_version'").fetchall() == [
            ("16.0",)
        ]


def test_a_server_without_users_says_how_to_add_one(served: Served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**served.env, "EXACTSQL_HOME": str(tmp_path / "empty")}
    result = subprocess.run(
        [sys.executable, "-m", "exactsql", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "No user may log in" in result.stderr and "exactsql serve user add NAME" in result.stderr

"""Table names as Invantive users write them (fixtures/names/*.sql), and every …Bulk / …Incremental name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlglot import exp

from exactsql.catalog import load_catalog
from exactsql.sql.dialect import SQLError, parse_statement
from exactsql.sql.names import NameResolver, TableRef

FIXTURES = Path(__file__).parent / "fixtures" / "names"
RESOLVER = NameResolver(load_catalog())


def load_cases() -> list[tuple[str, str]]:
    cases = []
    for path in sorted(FIXTURES.glob("*.sql")):
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("--"):
                written, _, expected = line.partition(" -> ")
                cases.append((written.strip(), expected.strip()))
    return cases


CASES = load_cases()


def resolve(name: str) -> TableRef:
    tree = parse_statement(f"select * from {name}")
    return RESOLVER.resolve(next(tree.find_all(exp.Table)))


@pytest.mark.parametrize(("written", "expected"), CASES, ids=[c[0] for c in CASES])
def test_names_fixture(written: str, expected: str) -> None:
    if expected.startswith("error: "):
        with pytest.raises(SQLError) as info:
            resolve(written)
        message = f"{info.value} {info.value.hint}"
        assert expected[len("error: ") :] in message
        return
    assert resolve(written).display == expected


def test_every_bulk_table_in_its_service_schema() -> None:
    catalog = load_catalog()
    bulk = [t for t in catalog.tables if t.path("bulk") is not None]
    assert len(bulk) >= 15
    for table in bulk:
        ref = resolve(f"ExactOnlineREST.{table.schema}.{table.name}Bulk@eol")
        assert (ref.table, ref.forced_path) == (table, "bulk")


def test_every_incremental_table_in_schema_incremental() -> None:
    catalog = load_catalog()
    synced = [t for t in catalog.tables if t.path("sync") is not None and t.full_name != "sync/Deleted"]
    assert len(synced) >= 50
    for table in synced:
        for written in (
            f"ExactOnlineREST.Incremental.{table.name}Incremental@eol",
            f"{table.name.lower()}incremental",
            f"ExactOnlineREST.Sync.Sync{table.name}",
        ):
            ref = resolve(written)
            assert (ref.table, ref.forced_path) == (table, "sync"), written


def test_data_dictionary_alias_reads_the_default_connection() -> None:
    ref = resolve("SystemTables@DataDictionary")
    assert (ref.dictionary, ref.alias) == ("SystemTables", "eol")

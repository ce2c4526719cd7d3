"""Conformance: REST shapes, paging and OData query options (API.md §4)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.sandbox_client import SandboxClient

DATE = re.compile(r"^/Date\(-?\d+\)/$")
ANY = "ID ne guid'00000000-0000-0000-0000-000000000000'"


def _truth(eol: SandboxClient, division: int, entity: str) -> list[dict]:
    return eol.control("GET", f"snapshot/{division}/{entity}")["rows"]


def test_me_is_a_one_row_collection_without_rate_headers(eol: SandboxClient) -> None:
    response = eol.get("current/Me")
    assert response.status_code == 200
    results = response.json()["d"]["results"]
    assert len(results) == 1
    me = results[0]
    assert me["__metadata"]["type"] == "Exact.Web.Api.System.Me"
    assert me["CurrentDivision"] in eol.divisions
    assert not any(h.lower().startswith("x-ratelimit") for h in response.headers)
    selected = eol.get("current/Me", {"$select": "CurrentDivision"}).json()["d"]["results"][0]
    assert set(selected) == {"__metadata", "CurrentDivision"}


def test_system_users_needs_no_division(eol: SandboxClient) -> None:
    response = eol.get("system/Users", {"$select": "UserID,FullName,UserName"})
    assert response.status_code == 200
    rows = response.json()["d"]["results"]
    assert {r["UserName"] for r in rows} == {u["username"] for u in eol.info["users"]}
    assert "X-RateLimit-Remaining" not in response.headers


def test_divisions_and_all_divisions(eol: SandboxClient) -> None:
    first = eol.divisions[0]
    eol.login(divisions=[first])
    mine = eol.get(f"{first}/system/Divisions", {"$select": "Code,Description"}).json()["d"]["results"]
    everything = eol.get(f"{first}/system/AllDivisions", {"$select": "Code"}).json()["d"]["results"]
    assert [r["Code"] for r in mine] == [first]
    assert sorted(r["Code"] for r in everything) == sorted(eol.divisions)


def test_regular_pages_hold_60_rows_and_next_carries_a_guid_skiptoken(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    truth = _truth(eol, division, "financialtransaction/TransactionLines")
    assert len(truth) > 120
    rows, nexts = eol.follow(
        f"{division}/financialtransaction/TransactionLines", {"$filter": ANY, "$select": "ID,AmountDC"}
    )
    assert len(rows) == len(truth)
    assert {r["ID"] for r in rows} == {r["ID"] for r in truth}
    assert all(len(rows[i * 60 : (i + 1) * 60]) == 60 for i in range(len(rows) // 60))
    first = urlsplit(nexts[0])
    assert first.scheme == "http" and first.netloc  # absolute
    query = parse_qs(first.query)
    assert re.fullmatch(r"guid'[0-9a-f-]{36}'", query["$skiptoken"][0])
    assert query["$filter"] == [ANY]
    assert query["$select"] == ["ID,AmountDC"]


def test_records_carry_metadata_dates_and_explicit_nulls(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    rows = eol.get(f"{division}/financialtransaction/TransactionLines", {"$filter": ANY}).json()["d"][
        "results"
    ]
    row = rows[0]
    meta = row["__metadata"]
    assert meta["uri"].endswith(
        f"/api/v1/{division}/financialtransaction/TransactionLines(guid'{row['ID']}')"
    )
    assert meta["type"] == "Exact.Web.Api.Models.TransactionLine"
    assert DATE.match(row["Date"])
    assert row["Division"] == division
    assert any(v is None for v in row.values()), "without $select every property is present, nulls explicit"
    assert len(row) == 1 + 74


def test_accounts_have_padded_codes_and_countries(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    rows = eol.get(
        f"{division}/crm/Accounts", {"$filter": "IsSales eq true", "$select": "Code,Country,Name"}
    ).json()["d"]["results"]
    assert rows
    assert all(
        len(r["Code"]) == 18 and r["Code"].strip().isdigit() and r["Code"].startswith(" ") for r in rows
    )
    assert all(r["Country"] == "NL " for r in rows if r["Country"])


def test_select_returns_only_the_selected_properties(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    rows = eol.get(f"{division}/crm/Contacts", {"$filter": ANY, "$select": "ID, FullName"}).json()["d"][
        "results"
    ]
    assert rows and all(set(r) == {"__metadata", "ID", "FullName"} for r in rows)
    bad = eol.get(f"{division}/crm/Contacts", {"$filter": ANY, "$select": "ID,Nope"})
    assert bad.status_code == 400
    assert "Nope" in bad.json()["error"]["message"]["value"]


def test_top_limits_the_whole_result(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    path = f"{division}/financialtransaction/TransactionLines"
    few = eol.get(path, {"$filter": ANY, "$select": "ID", "$top": "5"}).json()["d"]
    assert isinstance(few, list) and len(few) == 5  # within a page: OData 1.0's bare array, no __next
    rows, nexts = eol.follow(path, {"$filter": ANY, "$select": "ID", "$top": "100"})
    assert len(rows) == 100 and len(nexts) == 1
    assert parse_qs(urlsplit(nexts[0]).query)["$top"] == ["40"]


def test_skip_orderby_and_inlinecount(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    truth = _truth(eol, division, "financial/GLAccounts")
    codes = sorted((r["Code"] for r in truth), reverse=True)
    path = f"{division}/financial/GLAccounts"
    d = eol.get(
        path,
        {
            "$filter": ANY,
            "$select": "Code",
            "$orderby": "Code desc",
            "$skip": "3",
            "$top": "4",
            "$inlinecount": "allpages",
        },
    ).json()["d"]
    assert [r["Code"] for r in d["results"]] == codes[3:7]
    assert d["__count"] == str(len(truth))


def test_count_returns_a_bare_number(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    truth = _truth(eol, division, "crm/Accounts")
    response = eol.get(f"{division}/crm/Accounts/$count", {"$filter": "IsSales eq true"})
    assert response.status_code == 200
    assert response.text == str(sum(1 for r in truth if r["IsSales"]))


def test_entity_by_key(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    truth = _truth(eol, division, "salesinvoice/SalesInvoices")
    wanted = truth[len(truth) // 2]
    response = eol.get(f"{division}/salesinvoice/SalesInvoices(guid'{wanted['InvoiceID']}')")
    assert response.status_code == 200
    entity = response.json()["d"]
    assert entity["InvoiceID"] == wanted["InvoiceID"]
    assert entity["InvoiceNumber"] == wanted["InvoiceNumber"]
    missing = eol.get(f"{division}/salesinvoice/SalesInvoices(guid'00000000-0000-4000-8000-000000000000')")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == ""


def test_unknown_endpoint_and_bad_filters_are_clear_400s_and_404s(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    assert eol.get(f"{division}/crm/NoSuchThing").status_code == 404
    unknown = eol.get(f"{division}/financial/GLAccounts", {"$filter": "Nope eq 1"})
    assert unknown.status_code == 400
    assert "Nope" in unknown.json()["error"]["message"]["value"]
    syntax = eol.get(f"{division}/financial/GLAccounts", {"$filter": "Code eq"})
    assert syntax.status_code == 400
    assert "position" in syntax.json()["error"]["message"]["value"]
    body = syntax.json()
    assert body["error"]["code"] == "" and body["error"]["message"]["lang"] == ""


def test_url_longer_than_6000_characters_is_refused(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    long_filter = " or ".join(f"Code eq '{i:05d}'" for i in range(400))
    response = eol.get(f"{division}/financial/GLAccounts", {"$filter": long_filter})
    assert response.status_code == 400
    assert "too long" in response.json()["error"]["message"]["value"]


@pytest.mark.parametrize(
    ("odata_filter", "predicate"),
    [
        ("startswith(Name,'B')", lambda r: r["Name"].startswith("B")),
        ("substringof('en', Name) eq true", lambda r: "en" in r["Name"]),
        ("endswith(Name,'B.V.')", lambda r: r["Name"].endswith("B.V.")),
        ("IsSales eq true and not (IsSupplier eq true)", lambda r: r["IsSales"] and not r["IsSupplier"]),
        (
            "(City eq 'Utrecht' or City eq 'Amsterdam') and Status ne 'P'",
            lambda r: r["City"] in ("Utrecht", "Amsterdam") and r["Status"] != "P",
        ),
    ],
)
def test_filters_match_the_truth(eol: SandboxClient, odata_filter: str, predicate) -> None:  # type: ignore[no-untyped-def]
    division = eol.divisions[1]
    truth = _truth(eol, division, "crm/Accounts")
    rows, _ = eol.follow(f"{division}/crm/Accounts", {"$filter": odata_filter, "$select": "ID"})
    assert sorted(r["ID"] for r in rows) == sorted(r["ID"] for r in truth if predicate(r))


def test_guid_and_datetime_literals(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    truth = _truth(eol, division, "financialtransaction/TransactionLines")
    target = truth[7]
    by_guid = eol.get(
        f"{division}/financialtransaction/TransactionLines",
        {"$filter": f"ID eq guid'{target['ID'].upper()}'", "$select": "ID"},
    )
    assert [r["ID"] for r in by_guid.json()["d"]["results"]] == [target["ID"]]
    dates = sorted(int(r["Date"][6:-2]) for r in truth)
    median = dates[len(dates) // 2]
    import datetime as dt

    moment = dt.datetime.fromtimestamp(median / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    rows, _ = eol.follow(
        f"{division}/financialtransaction/TransactionLines",
        {"$filter": f"Date ge datetime'{moment}'", "$select": "ID"},
    )
    assert len(rows) == sum(1 for d in dates if d >= median)


def test_quotes_in_string_literals_are_doubled(eol: SandboxClient) -> None:
    found = [(d, r) for d in eol.divisions for r in _truth(eol, d, "crm/Accounts") if "'" in r["Name"]]
    assert found, "the generated books include names with an apostrophe ('t Hart, D'Hondt)"
    division = found[0][0]
    truth = _truth(eol, division, "crm/Accounts")
    quoted = [r for _, r in found]
    name = quoted[0]["Name"]
    literal = name.replace("'", "''")
    rows = eol.get(
        f"{division}/crm/Accounts", {"$filter": f"Name eq '{literal}'", "$select": "ID,Name"}
    ).json()["d"]["results"]
    assert [r["Name"] for r in rows] == [r["Name"] for r in truth if r["Name"] == name]
    unbalanced = eol.get(f"{division}/crm/Accounts", {"$filter": f"Name eq '{name}'"})
    assert unbalanced.status_code == 400


def test_without_accept_json_the_answer_is_atom_xml(eol: SandboxClient) -> None:
    eol.login()
    assert eol.tokens is not None
    division = eol.divisions[0]
    response = eol.http.get(
        f"/api/v1/{division}/financial/GLAccounts",
        params={"$filter": "Code eq '1000'", "$select": "Code,Description"},
        headers={"Authorization": f"Bearer {eol.tokens.access}"},
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    assert "<d:Code>1000</d:Code>" in response.text
    bad = eol.http.get(
        f"/api/v1/{division}/crm/Accounts", headers={"Authorization": f"Bearer {eol.tokens.access}"}
    )
    assert bad.status_code == 400 and bad.text.startswith("<?xml") and "mandatory filtering" in bad.text

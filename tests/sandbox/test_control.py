"""Conformance: the control plane under /_sandbox/."""

from __future__ import annotations

from tests.sandbox_client import SandboxClient


def test_stats_count_what_happened(eol: SandboxClient) -> None:
    eol.login()
    division = eol.divisions[0]
    eol.get(f"{division}/financial/GLAccounts", {"$filter": "Code ne ''", "$select": "Code"})
    eol.get(f"{division}/crm/Accounts", {"$select": "ID"})  # 400: mandatory filter
    eol.refresh()  # too early
    stats = eol.stats()
    assert stats["token_calls"] == 2
    assert stats["token_errors"] == {"old_refresh_token": 0, "too_early": 1, "limit_exceeded": 0, "other": 0}
    assert stats["api_calls"] == 2
    assert stats["by_status"] == {"200": 2, "400": 2}
    assert stats["rate_limited"] == 0
    assert stats["error_budget_blocks"] == 0


def test_request_log_is_newest_last_with_decoded_options(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    eol.get(f"{division}/financial/GLAccounts", {"$filter": "Code eq '1000'", "$select": "Code,Description"})
    eol.get("current/Me")
    log = eol.control("GET", "requests", params={"limit": 2})
    assert [e["path"] for e in log] == [f"/api/v1/{division}/financial/GLAccounts", "/api/v1/current/Me"]
    first = log[0]
    assert first["method"] == "GET"
    assert first["query"] == {"$filter": "Code eq '1000'", "$select": "Code,Description"}
    assert first["division"] == division
    assert first["status"] == 200
    assert log[1]["division"] is None


def test_snapshot_is_what_the_api_returns(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    snap = eol.control("GET", f"snapshot/{division}/financial/GLAccounts")
    assert snap["count"] == len(snap["rows"]) > 20
    api = eol.get(
        f"{division}/sync/Financial/GLAccounts", {"$select": "ID,Code,Description,Timestamp"}
    ).json()["d"]["results"]
    by_id = {r["ID"]: r for r in snap["rows"]}
    for row in api:
        for name in ("Code", "Description", "Timestamp"):
            assert by_id[row["ID"]][name] == row[name]


def test_mutate_changes_rows_and_reset_restores_them(eol: SandboxClient) -> None:
    division = eol.divisions[0]
    before = eol.control("GET", f"snapshot/{division}/crm/Accounts")
    done = eol.control(
        "POST",
        "mutate",
        json={"division": division, "entity": "crm/Accounts", "inserts": 4, "updates": 3, "deletes": 2},
    )
    assert done == {"division": division, "entity": "crm/Accounts", "inserted": 4, "updated": 3, "deleted": 2}
    after = eol.control("GET", f"snapshot/{division}/crm/Accounts")
    assert after["count"] == before["count"] + 2
    old = {r["ID"]: r for r in before["rows"]}
    changed = [r for r in after["rows"] if r["ID"] in old and r != old[r["ID"]]]
    assert 3 - 2 <= len(changed) <= 3  # an updated row may have been deleted afterwards
    assert all(r["Timestamp"] > max(o["Timestamp"] for o in before["rows"]) for r in changed)
    eol.control("POST", "reset")
    assert eol.control("GET", f"snapshot/{division}/crm/Accounts") == before


def test_mutate_and_snapshot_reject_bad_input(eol: SandboxClient) -> None:
    bad = eol.http.post(
        "/_sandbox/mutate", json={"division": eol.divisions[0], "entity": "crm/Nothing", "inserts": 1}
    )
    assert bad.status_code == 404 and "crm/Nothing" in bad.json()["error"]
    assert (
        eol.http.post("/_sandbox/mutate", json={"division": 1, "entity": "crm/Accounts"}).status_code == 400
    )
    assert eol.http.get("/_sandbox/snapshot/nope").status_code == 400
    assert eol.http.post("/_sandbox/mutate", content=b"{not json").status_code == 400


def test_authorize_gives_a_code_for_a_chosen_user(eol: SandboxClient) -> None:
    other = eol.info["users"][1]
    eol.login(user=other["username"])
    me = eol.get("current/Me").json()["d"]["results"][0]
    assert me["UserID"] == other["user_id"]
    refused = eol.http.post(
        "/_sandbox/authorize", json={"client_id": eol.info["client_id"], "redirect_uri": "http://x/"}
    )
    assert refused.status_code == 400


def test_clock_moves_forward_only(eol: SandboxClient) -> None:
    start = eol.control("GET", "clock")["now"]
    moved = eol.control("POST", "clock", json={"advance": 3600})["now"]
    assert 3600 <= moved - start < 3700
    assert eol.http.post("/_sandbox/clock", json={"advance": -5}).status_code == 400


def test_reset_clears_counters_tokens_and_log(eol: SandboxClient) -> None:
    tokens = eol.login()
    eol.get("current/Me")
    eol.control("POST", "reset")
    assert eol.stats()["api_calls"] == 0
    assert eol.control("GET", "requests") == []
    assert eol.get("current/Me", token=tokens.access).status_code == 401

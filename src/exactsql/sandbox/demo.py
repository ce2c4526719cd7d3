"""The first run on the sandbox: start it, log in through OAuth, call the API, show the limits at work."""

from __future__ import annotations

import httpx
from rich.console import Console
from rich.table import Table

from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.process import control_plane_tokens
from exactsql.sandbox.server import BackgroundServer


def run_demo(console: Console, divisions: int = 3) -> None:
    """Runs a sandbox server, completes a login and shows a first few calls."""
    sb = Sandbox(divisions=divisions, size="small")
    with BackgroundServer(sb) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        info = sb.info(server.base_url)
        console.print(
            f"[bold green]Sandbox running[/] on {server.base_url} with divisions {info['divisions']}"
        )
        token = control_plane_tokens(http, info)
        console.print(
            f"Logged in; the access token lives {token['expires_in']} s (the secret and tokens stay hidden)."
        )
        auth = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"}
        me = http.get("/api/v1/current/Me", headers=auth).json()["d"]["results"][0]
        console.print(
            f"GET /api/v1/current/Me → {me['FullName']} ({me['UserName']}), current division {me['CurrentDivision']}"
        )
        division = me["CurrentDivision"]
        response = http.get(
            f"/api/v1/{division}/financial/GLAccounts",
            params={"$select": "Code,Description,BalanceSide,BalanceType", "$filter": "startswith(Code,'8')"},
            headers=auth,
        )
        rows = response.json()["d"]["results"]
        table = Table(title=f"GET /api/v1/{division}/financial/GLAccounts?$filter=startswith(Code,'8')")
        for name in ("Code", "Description", "BalanceSide", "BalanceType"):
            table.add_column(name)
        for row in rows[:10]:
            table.add_row(*(str(row[n]) for n in ("Code", "Description", "BalanceSide", "BalanceType")))
        console.print(table)
        minute = response.headers.get("X-RateLimit-Minutely-Remaining")
        day = response.headers.get("X-RateLimit-Remaining")
        console.print(f"Rate limits for this app and division: {minute} calls left this minute, {day} today.")
        unfiltered = http.get(f"/api/v1/{division}/crm/Accounts", headers=auth)
        message = unfiltered.json()["error"]["message"]["value"]
        console.print(f"Without a $filter, crm/Accounts answers {unfiltered.status_code}: {message[:90]}…")
        stats = http.get("/_sandbox/stats").json()
        console.print(
            f"Sandbox stats: {stats['api_calls']} API calls, {stats['token_calls']} token calls, by status {stats['by_status']}"
        )

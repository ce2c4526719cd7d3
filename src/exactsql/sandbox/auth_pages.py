"""``/api/oauth2/auth``: the HTML login and consent pages, and the redirect with ``code`` and ``state``."""

from __future__ import annotations

import html
import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from exactsql.sandbox.messages import Request, Response, html_response, redirect

if TYPE_CHECKING:
    from exactsql.sandbox.core import Sandbox

_STYLE = """
body{font-family:system-ui,Segoe UI,Arial,sans-serif;background:#f3f5f8;margin:0}
main{max-width:420px;margin:64px auto;background:#fff;padding:32px;border-radius:8px;box-shadow:0 2px 8px #0002}
h1{font-size:20px;color:#e4032e;margin-top:0} label{display:block;margin:12px 0 4px}
input[type=text],input[type=password]{width:100%;padding:8px;box-sizing:border-box}
button{margin-top:16px;padding:8px 16px;margin-right:8px} .error{color:#b00020} .muted{color:#666;font-size:13px}
"""


def _page(title: str, body: str, status: int = 200) -> Response:
    doc = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><main><h1>Exact Online sandbox</h1>{body}</main></body></html>"
    )
    return html_response(status, doc)


def _error(title: str, message: str) -> Response:
    return _page(
        title, f"<h2>{html.escape(title)}</h2><p class='error' id='error'>{html.escape(message)}</p>", 400
    )


def _hidden(fields: dict[str, str]) -> str:
    return "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>" for k, v in fields.items()
    )


def handle(sb: Sandbox, request: Request) -> Response:
    """Validates the app and redirect URI, then walks the user through login and consent."""
    params = request.params() if request.method == "GET" else request.form()
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    state = params.get("state", "")
    app = sb.oauth.app(client_id)
    if app is None:
        return _error(
            "Unknown client ID",
            f"The client ID '{client_id}' is not registered. Register an app in the App Center and use its client ID.",
        )
    if redirect_uri not in app.redirect_uris:
        return _error(
            "Redirect URI mismatch",
            f"The redirect URI '{redirect_uri}' does not match the redirect URI registered for this app.",
        )
    if params.get("response_type", "code") != "code":
        return _error("Unsupported response type", "Only response_type=code is supported by this sandbox.")
    carry = {"client_id": client_id, "redirect_uri": redirect_uri, "state": state, "response_type": "code"}
    if request.method == "GET":
        return _login_form(carry, "")
    step = params.get("step")
    if step == "login":
        user = sb.users_by_name.get(params.get("username", "").lower())
        if user is None or not secrets.compare_digest(params.get("password", ""), user.password):
            return _login_form(carry, "The username or password is incorrect.")
        ticket = secrets.token_urlsafe(24)
        sb.login_tickets[ticket] = (user.user_id, sb.clock.now() + 600)
        return _consent_form(sb, carry, ticket, user.user_id)
    if step == "consent":
        ticket = params.get("ticket", "")
        user_id, expires = sb.login_tickets.pop(ticket, ("", 0.0))
        if not user_id or expires < sb.clock.now():
            return _login_form(carry, "Your session has expired. Please log in again.")
        sep = "&" if "?" in redirect_uri else "?"
        if params.get("action") != "allow":
            query = urlencode(
                {"error": "access_denied", "error_description": "The user denied access.", "state": state}
            )
            return redirect(f"{redirect_uri}{sep}{query}")
        form_divisions = [int(v) for k, v in _all_pairs(request) if k == "division" and v.isdigit()]
        allowed = sb.users[user_id].divisions
        chosen = tuple(d for d in allowed if d in form_divisions) or allowed
        code = sb.oauth.issue_code(app, redirect_uri, user_id, chosen)
        return redirect(f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}")
    return _login_form(carry, "")


def _all_pairs(request: Request) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)


def _login_form(carry: dict[str, str], message: str) -> Response:
    error = f"<p class='error' id='error'>{html.escape(message)}</p>" if message else ""
    return _page(
        "Log in",
        f"""<h2>Log in</h2>{error}
<form method='post' action='/api/oauth2/auth' id='login'>{_hidden({**carry, "step": "login"})}
<label for='username'>Username</label><input type='text' id='username' name='username' autocomplete='username'>
<label for='password'>Password</label><input type='password' id='password' name='password'>
<button type='submit' id='submit'>Log in</button></form>""",
    )


def _consent_form(sb: Sandbox, carry: dict[str, str], ticket: str, user_id: str) -> Response:
    user = sb.users[user_id]
    names = {
        int(c): str(d)
        for c, d in zip(
            sb.world.divisions_table()["Code"].tolist(),
            sb.world.divisions_table()["Description"].tolist(),
            strict=False,
        )
    }
    boxes = "".join(
        f"<label><input type='checkbox' name='division' value='{d}' checked> {d} {html.escape(names.get(d, ''))}</label>"
        for d in user.divisions
    )
    return _page(
        "Allow access",
        f"""<h2>Allow access</h2><p>Signed in as <b>{html.escape(user.full_name)}</b>.</p>
<p><b>{html.escape(sb.default_app.name)}</b> asks for access to your data in these divisions:</p>
<form method='post' action='/api/oauth2/auth' id='consent'>{_hidden({**carry, "step": "consent", "ticket": ticket})}
<fieldset id='divisions'>{boxes}</fieldset>
<button type='submit' name='action' value='allow' id='allow'>Allow</button>
<button type='submit' name='action' value='deny' id='deny'>Deny</button></form>
<p class='muted'>You can withdraw this consent at any time.</p>""",
    )

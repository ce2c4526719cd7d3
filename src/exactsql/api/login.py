"""The authorization-code flow: the browser (or the sandbox's own login page), the redirect, the code exchange."""

from __future__ import annotations

import html
import http.server
import secrets
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from exactsql.config import Connection
from exactsql.errors import LoginError

APP_CENTER_STEPS = (
    "Register the app in Exact Online's App Center (https://apps.exactonline.com): 'Manage apps' → "
    "'Register a test app', give it a name and the redirect URI, then copy its client ID and client secret "
    "into `exactsql connection add NAME --client-id … --redirect-uri …`. The client ID, the secret and the "
    "redirect URI must be exactly those shown there."
)


@dataclass
class TokenGrant:
    """The answer of a code exchange and when it was asked for and received (epoch seconds)."""

    body: dict
    sent_at: float
    received_at: float


def authorize_url(connection: Connection, base_url: str, state: str) -> str:
    """The URL of Exact's login and consent page for this app."""
    query = urlencode(
        {
            "client_id": connection.client_id,
            "redirect_uri": connection.redirect_uri,
            "response_type": "code",
            "state": state,
            "force_login": "0",
        }
    )
    return f"{base_url}/api/oauth2/auth?{query}"


def code_from_redirect(redirected: str, state: str) -> str:
    """The code in the URL the browser was sent back to; LoginError for a refusal or a wrong state."""
    query = parse_qs(urlsplit(redirected.strip()).query)
    if "error" in query:
        error = query["error"][0]
        text = query.get("error_description", [""])[0]
        if error == "access_denied":
            raise LoginError(
                "The consent was refused in the browser.", "Run the login again and choose 'Allow'."
            )
        raise LoginError(f"Exact Online answered the login with {error}: {text}.", "Run the login again.")
    if query.get("state", [""])[0] != state:
        raise LoginError(
            "The redirected URL does not belong to this login (its state does not match).",
            "Paste the URL of this login's redirect, or run the login again.",
        )
    if "code" not in query:
        raise LoginError(
            "The redirected URL holds no code.", "Paste the whole URL from the browser's address bar."
        )
    return query["code"][0]


def preflight(http: httpx.Client, url: str) -> None:
    """Opens the login page once without a browser, to turn app-registration mistakes into clear errors."""
    try:
        response = http.get(url, follow_redirects=False)
    except httpx.TransportError as exc:
        raise LoginError(
            f"Cannot reach {urlsplit(url).netloc}: {exc}.", "Check the region or --base-url."
        ) from None
    text = response.text
    if response.status_code < 400:
        return
    if "Unknown client ID" in text or "client_id" in text.lower():
        raise LoginError("Exact Online does not know this client ID.", APP_CENTER_STEPS)
    if "Redirect URI mismatch" in text or "redirect_uri" in text.lower():
        raise LoginError(
            "The redirect URI does not match the one registered for this app.",
            "Use exactly the redirect URI shown in the App Center. " + APP_CENTER_STEPS,
        )


def exchange_code(
    http: httpx.Client,
    base_url: str,
    connection: Connection,
    secret: str,
    code: str,
    clock: Callable[[], float],
) -> TokenGrant:
    """Trades the code for the first token pair."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": connection.redirect_uri,
        "client_id": connection.client_id,
        "client_secret": secret,
    }
    sent = clock()
    try:
        response = http.post(f"{base_url}/api/oauth2/token", data=form)
    except httpx.TransportError as exc:
        raise LoginError(
            f"Cannot reach {urlsplit(base_url).netloc} to exchange the code: {exc}.",
            "Check the network (or --base-url), then run the login again.",
        ) from None
    received = clock()
    if response.status_code == 200:
        return TokenGrant(response.json(), sent, received)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if body.get("error") == "invalid_client":
        raise LoginError(
            "Exact Online refused the client secret.",
            "Copy the secret again from the App Center and re-add the connection. " + APP_CENTER_STEPS,
        )
    raise LoginError(
        f"Exact Online refused the authorization code ({response.status_code} {response.text.strip()[:120]}).",
        "Codes are valid for 3 minutes and only once: run the login again and finish it promptly.",
    )


class LoopbackListener:
    """A one-shot HTTP listener on a loopback redirect URI that captures the redirected URL."""

    def __init__(self, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        self.path = parts.path or "/"
        self.redirected: str | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 30  # seconds an idle connection is kept

            def do_GET(self) -> None:
                if urlsplit(self.path).path != listener.path:
                    self.send_error(404)
                    return
                with listener._lock:  # the first redirect counts
                    if listener.redirected is None:
                        listener.redirected = f"{redirect_uri.split('?')[0]}?{urlsplit(self.path).query}"
                page = "<!doctype html><title>exactsql</title><p>Signed in. You can close this window."
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                listener._done.set()

            def log_message(self, format: str, *args: object) -> None:
                pass

        try:
            # Threads: a connection that sends nothing (a browser's preconnect) must not hold up the redirect.
            self.server = http.server.ThreadingHTTPServer(
                (parts.hostname or "127.0.0.1", parts.port or 80), Handler
            )
        except OSError as exc:
            raise LoginError(
                f"Cannot listen on {parts.hostname}:{parts.port} for the redirect: {exc.strerror}.",
                "Close what uses that port, or use `--redirected-url` to paste the redirected URL.",
            ) from None
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> str:
        """The redirected URL, once the browser has come back."""
        if not self._done.wait(timeout):
            raise LoginError(f"No redirect arrived within {timeout:.0f} s.", "Run the login again.")
        assert self.redirected is not None
        return self.redirected

    def close(self) -> None:
        """Stops listening."""
        self.server.shutdown()
        self.server.server_close()


def is_loopback(redirect_uri: str) -> bool:
    """Whether the redirect URI is an http URL on this machine (so a listener can catch it)."""
    parts = urlsplit(redirect_uri)
    return (
        parts.scheme == "http"
        and parts.hostname in ("127.0.0.1", "localhost", "::1")
        and parts.port is not None
    )


def sandbox_info(http: httpx.Client, base_url: str) -> dict | None:
    """The control-plane info when ``base_url`` is an exactsql sandbox, else None."""
    try:
        response = http.get(f"{base_url}/_sandbox/info")
    except httpx.TransportError:
        return None
    if response.status_code != 200 or "json" not in response.headers.get("Content-Type", ""):
        return None
    info: dict = response.json()
    return info


def complete_sandbox_login(http: httpx.Client, url: str, username: str, password: str) -> str:
    """Fills in the sandbox's login and consent pages as a person would; returns the redirected URL."""
    import re

    def hidden(page: str) -> dict[str, str]:
        pairs = re.findall(r"<input type='hidden' name='([^']+)' value='([^']*)'>", page)
        return {html.unescape(k): html.unescape(v) for k, v in pairs}

    page = http.get(url)
    if page.status_code != 200:
        preflight(http, url)
        raise LoginError(
            f"The sandbox's login page answered {page.status_code}.", "Check the connection's settings."
        )
    action = url.split("?", 1)[0]
    consent = http.post(action, data={**hidden(page.text), "username": username, "password": password})
    if "name='ticket'" not in consent.text:
        raise LoginError(
            f"The sandbox refused the login of {username!r}.", "Check --user (see the sandbox's info file)."
        )
    done = http.post(action, data={**hidden(consent.text), "action": "allow"}, follow_redirects=False)
    location = done.headers.get("Location")
    if done.status_code != 302 or not location:
        raise LoginError("The sandbox's consent page did not redirect.", "Run the login again.")
    return location


def new_state() -> str:
    """A fresh ``state`` value for one login."""
    return secrets.token_urlsafe(16)


def browser_login(
    url: str,
    redirect_uri: str,
    timeout: float = 300.0,
    open_browser: Callable[[str], object] = webbrowser.open,
) -> str:
    """Opens the browser on the login page and waits for the redirect on a loopback listener."""
    listener = LoopbackListener(redirect_uri)
    try:
        threading.Thread(target=open_browser, args=(url,), daemon=True).start()
        return listener.wait(timeout)
    finally:
        listener.close()

"""Logging in to a sandbox server: as a person in headless Chromium, from the CLI, by script; clear errors.

Every test runs real ``exactsql sandbox`` server processes and real ``exactsql`` command lines; nothing of
exactsql is mocked. The browser is Debian's Chromium (``scripts/install_test_servers.sh`` installs it),
driven by Playwright; ``playwright install`` is never needed.
"""

from __future__ import annotations

import html
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest

from exactsql.api.session import Session, open_session
from exactsql.api.tokens import TokenChain
from exactsql.errors import LoginError
from exactsql.sandbox.process import SandboxProcess
from tests.connections.helpers import make_connection

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOGIN_TIMEOUT = 45.0  # seconds login() waits for the redirect (a failing browser unblocks it at once)
UNKNOWN_CLIENT_ID = "{00000000-0000-0000-0000-000000000000}"
WRONG_SECRET = "not-the-registered-secret-5f1c9a"


# --- servers, connections, command lines --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def server() -> Iterator[dict]:
    """A sandbox server whose app has a loopback redirect URI on a free port (a listener can catch it)."""
    redirect_uri = f"http://127.0.0.1:{_free_port()}/callback"
    with SandboxProcess("--divisions", "2", "--redirect-uri", redirect_uri) as sandbox:
        assert sandbox.info["redirect_uri"] == redirect_uri
        yield sandbox.info


@pytest.fixture()
def chromium() -> Path:
    """Debian's Chromium and Playwright, or a failure that says how to get them (never a silent skip)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `bash scripts/install_test_servers.sh` (as root) to install "
            "Debian's chromium; do not run `playwright install`.",
            pytrace=False,
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("Playwright is missing: run `pip install -e '.[dev]'`.", pytrace=False)
    return CHROMIUM


def sandbox_stats(info: dict) -> dict:
    response = httpx.get(f"{info['base_url']}/_sandbox/stats", timeout=30)
    response.raise_for_status()
    stats: dict = response.json()
    return stats


def advance_sandbox_clock(info: dict, seconds: float) -> None:
    response = httpx.post(f"{info['base_url']}/_sandbox/clock", json={"advance": seconds}, timeout=30)
    response.raise_for_status()


@contextmanager
def opened(name: str = "eol") -> Iterator[Session]:
    session = open_session(name)
    try:
        yield session
    finally:
        session.close()


def stored_tokens(name: str = "eol") -> list[str]:
    """The access and refresh token of the stored chain, decrypted."""
    with opened(name) as session:
        chain = session.broker.read()
    assert chain is not None
    assert len(chain.access_token) > 20 and len(chain.refresh_token) > 20
    return [chain.access_token, chain.refresh_token]


def one_line(text: str) -> str:
    """The text with Rich's line wrapping undone."""
    return " ".join(text.split())


class Cli:
    """Runs ``python -m exactsql`` in the test's environment and keeps everything it printed."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**env, "COLUMNS": "400", "NO_COLOR": "1"}
        self.printed: list[str] = []

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "exactsql", *args],
            env={**self.env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,  # a prompt would fail instead of hanging
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.printed += [result.stdout, result.stderr]
        return result

    def ok(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, extra_env=extra_env)
        assert result.returncode == 0, f"exactsql {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def fails(self, *args: str, says: tuple[str, ...]) -> str:
        """Runs a command that must fail cleanly: exit code 1, no traceback, a message with ``says``."""
        result = self.run(*args)
        stderr = one_line(result.stderr)
        assert result.returncode == 1, f"exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        assert stderr.startswith("Error: "), result.stderr
        for phrase in says:
            assert phrase in stderr, f"{phrase!r} not in: {stderr}"
        return stderr

    def assert_never_printed(self, *secrets: str) -> None:
        assert self.printed
        for secret in secrets:
            assert secret
            for text in self.printed:
                assert secret not in text, "a secret or token was printed"


# --- completing the sandbox's pages -------------------------------------------------------------------


def _hidden(page: str) -> dict[str, str]:
    pairs = re.findall(r"<input type='hidden' name='([^']+)' value='([^']*)'>", page)
    return {html.unescape(k): html.unescape(v) for k, v in pairs}


def complete_pages_over_http(url: str, user: dict, action: str = "allow") -> str:
    """GETs the login page, POSTs the login form and the consent form; returns the redirect's Location."""
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        page = http.get(url)
        assert page.status_code == 200, page.text
        assert "id='login'" in page.text and "id='username'" in page.text
        form = re.search(r"<form method='post' action='([^']+)' id='login'>", page.text)
        assert form is not None, page.text
        target = urljoin(url, form[1])
        consent = http.post(
            target, data={**_hidden(page.text), "username": user["username"], "password": user["password"]}
        )
        assert consent.status_code == 200 and "id='consent'" in consent.text, consent.text
        divisions = [str(d) for d in user["divisions"]]
        done = http.post(target, data={**_hidden(consent.text), "action": action, "division": divisions})
        assert done.status_code == 302, done.text
        location: str = done.headers["Location"]
        return location


def with_state(url: str, state: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, "state": state})))


class Person:
    """Headless Chromium going through the sandbox's login and consent pages, as login's browser opener.

    ``login`` calls it (in a thread of its own) with the login URL; the browser follows the consent
    page's redirect to the loopback listener that ``login`` runs.
    """

    def __init__(
        self, user: dict, redirect_uri: str, choice: str = "allow", preconnect: bool = False
    ) -> None:
        self.user = user
        self.redirect_uri = redirect_uri
        self.choice = choice
        self.preconnect = preconnect
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.opened: list[str] = []
        self.offered: list[int] = []
        self.final_url = ""
        self.final_text = ""

    def __call__(self, url: str) -> None:
        self.opened.append(url)
        idle: socket.socket | None = None
        try:
            if self.preconnect:
                # A connection to the listener that sends nothing, as browsers open speculatively.
                parts = urlsplit(self.redirect_uri)
                idle = socket.create_connection((parts.hostname, parts.port), timeout=5)
            self._drive(url)
        except BaseException as exc:
            self.error = exc
            # Let login's listener stop waiting now rather than after its timeout.
            query = urlencode({"error": "test_browser_failed", "error_description": repr(exc)[:200]})
            with suppress(httpx.HTTPError):
                httpx.get(f"{self.redirect_uri}?{query}", timeout=5)
        finally:
            if idle is not None:
                idle.close()
            self.done.set()

    def _drive(self, url: str) -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
            )
            try:
                page = browser.new_context().new_page()
                page.set_default_timeout(20_000)
                page.goto(url)
                page.fill("#username", self.user["username"])
                page.fill("#password", self.user["password"])
                page.click("#submit")  # "Log in"
                page.wait_for_selector("form#consent")
                values = page.eval_on_selector_all("input[name=division]", "els => els.map(e => e.value)")
                self.offered = [int(v) for v in values]
                page.click(f"#{self.choice}")  # "Allow" or "Deny"
                page.wait_for_url(re.compile(re.escape(self.redirect_uri) + r"\?"), wait_until="load")
                self.final_url = page.url
                self.final_text = page.inner_text("body")
            finally:
                browser.close()


def login_in_browser(session: Session, person: Person) -> TokenChain:
    """``session.login`` with the sandbox's pages completed by ``person`` (not by the sandbox shortcut)."""
    try:
        return session.login(auto_sandbox=False, open_browser=person, timeout=LOGIN_TIMEOUT)
    finally:
        if person.opened or person.done.wait(1):  # (login may fail before it opens the browser)
            finished = person.done.wait(60)
            if person.error is not None:
                problem = f"Chromium did not get through the sandbox's pages: {person.error!r}"
                raise AssertionError(problem) from person.error
            assert finished, "Chromium did not finish"


def never_opened(url: str) -> None:
    raise AssertionError(f"the browser should not have been opened for {url}")


# --- 1. headless Chromium, as a person would ---------------------------------------------------------


def test_login_in_headless_chromium_as_a_person_would(
    server: dict, sqlite_env: dict[str, str], chromium: Path
) -> None:
    user = server["users"][0]
    make_connection(server)
    person = Person(user, server["redirect_uri"])
    with opened() as session:
        chain = login_in_browser(session, person)

        # The browser went through both pages and ended on the listener's page.
        assert len(person.opened) == 1
        assert person.opened[0].startswith(f"{server['base_url']}/api/oauth2/auth?")
        assert person.offered == user["divisions"]
        assert person.final_url.startswith(server["redirect_uri"] + "?") and "code=" in person.final_url
        assert "Signed in" in person.final_text

        # The chain is stored, for the right user, after exactly one token call.
        assert chain.user_id == user["user_id"]
        status = session.status()
        assert status["user_id"] == user["user_id"]
        assert status["chain"] is not None and status["chain"]["version"] == 1
        assert status["chain"]["broken"] is None and not status["chain"]["expired"]
        assert status["token_calls_today"] == 1
        assert sandbox_stats(server)["token_calls"] == 1

        # The API works with it, without another token call.
        me = session.client().me()
        assert me["UserID"] == user["user_id"]
        assert int(me["CurrentDivision"]) in user["divisions"]
        assert sandbox_stats(server)["token_calls"] == 1

    # Another process sees the same chain; it prints no token.
    cli = Cli(sqlite_env)
    out = cli.ok("status", "eol", "--json").stdout
    assert user["user_id"] in out and '"chain": null' not in out
    cli.assert_never_printed(server["client_secret"], *stored_tokens())


def test_refusing_consent_in_the_browser_is_a_clear_login_error(
    server: dict, sqlite_env: dict[str, str], chromium: Path
) -> None:
    make_connection(server)
    person = Person(server["users"][0], server["redirect_uri"], choice="deny")
    with opened() as session:
        with pytest.raises(LoginError, match="consent was refused") as raised:
            login_in_browser(session, person)
        assert "Allow" in raised.value.hint
        assert "error=access_denied" in person.final_url
        assert session.status()["chain"] is None
    assert sandbox_stats(server)["token_calls"] == 0


def test_an_idle_connection_to_the_listener_does_not_hold_up_the_redirect(
    server: dict, sqlite_env: dict[str, str], chromium: Path
) -> None:
    """A browser may open a connection to the redirect URI's port early and send nothing on it."""
    user = server["users"][0]
    make_connection(server)
    person = Person(user, server["redirect_uri"], preconnect=True)
    with opened() as session:
        started = time.monotonic()
        assert login_in_browser(session, person).user_id == user["user_id"]
        assert time.monotonic() - started < 15
        assert "Signed in" in person.final_text
        assert session.status()["chain"] is not None


# --- 2. the CLI login against a sandbox server -------------------------------------------------------


def test_cli_login_completes_the_sandbox_login_page_itself(server: dict, sqlite_env: dict[str, str]) -> None:
    user = server["users"][0]
    cli = Cli(sqlite_env)
    cli.ok(
        "connection",
        "add",
        "eol",
        "--base-url",
        server["base_url"],
        "--client-id",
        server["client_id"],
        "--redirect-uri",
        server["redirect_uri"],
        "--client-secret-env",
        "EOL_TEST_SECRET",
        extra_env={"EOL_TEST_SECRET": server["client_secret"]},
    )
    result = cli.ok("login", "eol")
    assert f"as user {user['user_id']}" in one_line(result.stdout)
    assert sandbox_stats(server)["token_calls"] == 1

    with opened() as session:
        assert session.status()["chain"] is not None
        assert session.client().me()["UserID"] == user["user_id"]

    # A second user of the same sandbox, by --user.
    other = server["users"][1]
    result = cli.ok("login", "eol", "--user", other["username"])
    assert f"as user {other['user_id']}" in one_line(result.stdout)
    cli.assert_never_printed(server["client_secret"], *stored_tokens())


# --- 3. the two-step login for scripts ---------------------------------------------------------------


def test_two_step_login_for_scripts(server: dict, exactsql_env: dict[str, str]) -> None:
    """--print-url in one process, --redirected-url in another: the pending state lives in the shared store."""
    user = server["users"][0]
    make_connection(server)
    cli = Cli(exactsql_env)

    url = cli.ok("login", "eol", "--print-url").stdout.strip()
    assert url.startswith(f"{server['base_url']}/api/oauth2/auth?") and "\n" not in url
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == [server["client_id"]]
    assert query["redirect_uri"] == [server["redirect_uri"]]
    redirected = complete_pages_over_http(url, user)
    assert redirected.startswith(server["redirect_uri"] + "?")
    assert parse_qs(urlsplit(redirected).query)["state"] == query["state"]

    # A redirect of another login (wrong state) is refused and leaves this login pending.
    cli.fails(
        "login",
        "eol",
        "--redirected-url",
        with_state(redirected, "not-this-login"),
        says=("does not belong to this login",),
    )
    assert sandbox_stats(server)["token_calls"] == 0

    result = cli.ok("login", "eol", "--redirected-url", redirected)
    assert f"as user {user['user_id']}" in one_line(result.stdout)
    assert sandbox_stats(server)["token_calls"] == 1
    with opened() as session:
        status = session.status()
        assert status["user_id"] == user["user_id"] and status["chain"] is not None
        assert session.client().me()["UserID"] == user["user_id"]

    # The login is finished: the same URL again finds no pending login.
    cli.fails("login", "eol", "--redirected-url", redirected, says=("no login waiting", "--print-url"))
    assert sandbox_stats(server)["token_calls"] == 1
    cli.assert_never_printed(server["client_secret"], *stored_tokens())


def test_redirected_url_without_a_pending_login_fails_clearly(
    server: dict, sqlite_env: dict[str, str]
) -> None:
    make_connection(server)
    cli = Cli(sqlite_env)
    redirected = f"{server['redirect_uri']}?code=abc&state=def"
    cli.fails(
        "login",
        "eol",
        "--redirected-url",
        redirected,
        says=("There is no login waiting for a redirected URL", "exactsql login eol --print-url"),
    )
    with opened() as session:
        with pytest.raises(LoginError, match="no login waiting"):
            session.login(redirected_url=redirected)
        assert session.status()["chain"] is None
    assert sandbox_stats(server)["token_calls"] == 0


# --- 4. clear, actionable errors ---------------------------------------------------------------------

APP_CENTER = ("App Center", "client ID", "client secret", "redirect URI")
REGISTRATION_MISTAKES = {
    "unknown client ID": (
        {"client_id": UNKNOWN_CLIENT_ID},
        ("Exact Online does not know this client ID.", *APP_CENTER),
    ),
    "redirect URI mismatch": (
        {"redirect_uri": "http://127.0.0.1:9/not-registered"},
        ("The redirect URI does not match the one registered for this app.", *APP_CENTER),
    ),
    "wrong client secret": (
        {"client_secret": WRONG_SECRET},
        ("Exact Online refused the client secret.", *APP_CENTER),
    ),
}


@pytest.mark.parametrize("mistake", list(REGISTRATION_MISTAKES))
def test_app_registration_mistakes_are_explained(
    mistake: str, server: dict, sqlite_env: dict[str, str]
) -> None:
    changes, says = REGISTRATION_MISTAKES[mistake]
    make_connection({**server, **changes})
    cli = Cli(sqlite_env)

    # The command line (the sandbox completes its own pages).
    cli.fails("login", "eol", says=says)

    # The library, as with a real Exact Online: the browser is not opened for a mistake found beforehand.
    with opened() as session:
        with pytest.raises(LoginError) as raised:
            if mistake == "wrong client secret":
                session.login()  # found only at the code exchange, after the login pages
            else:
                session.login(auto_sandbox=False, open_browser=never_opened, timeout=LOGIN_TIMEOUT)
        error = one_line(f"{raised.value.message} {raised.value.hint}")
        for phrase in says:
            assert phrase in error
        assert session.status()["chain"] is None
    cli.assert_never_printed(server["client_secret"], WRONG_SECRET)


def test_consent_refused_over_http_fails_clearly(server: dict, sqlite_env: dict[str, str]) -> None:
    make_connection(server)
    cli = Cli(sqlite_env)
    url = cli.ok("login", "eol", "--print-url").stdout.strip()
    redirected = complete_pages_over_http(url, server["users"][0], action="deny")
    assert "error=access_denied" in redirected
    cli.fails(
        "login", "eol", "--redirected-url", redirected, says=("The consent was refused", "choose 'Allow'")
    )
    assert sandbox_stats(server)["token_calls"] == 0
    cli.assert_never_printed(server["client_secret"])


def test_expired_code_fails_clearly(server: dict, sqlite_env: dict[str, str]) -> None:
    user = server["users"][0]
    make_connection(server)
    cli = Cli(sqlite_env)

    # The command line: the redirect is obtained, then 181 s pass on the sandbox's clock (codes live 180 s).
    url = cli.ok("login", "eol", "--print-url").stdout.strip()
    redirected = complete_pages_over_http(url, user)
    advance_sandbox_clock(server, 181)
    cli.fails(
        "login",
        "eol",
        "--redirected-url",
        redirected,
        says=("Exact Online refused the authorization code", "valid for 3 minutes", "run the login again"),
    )

    # The library: the same, with the right exception class.
    with opened() as session:
        redirected = complete_pages_over_http(session.login_url(), user)
        advance_sandbox_clock(server, 181)
        with pytest.raises(LoginError, match="refused the authorization code"):
            session.login(redirected_url=redirected)
        assert session.status()["chain"] is None

        # A fresh code within its 3 minutes still works (the failures consumed nothing needed).
        redirected = complete_pages_over_http(session.login_url(), user)
        assert session.login(redirected_url=redirected).user_id == user["user_id"]
    cli.assert_never_printed(server["client_secret"], *stored_tokens())


def test_an_unreachable_token_endpoint_fails_clearly(sqlite_env: dict[str, str]) -> None:
    """The redirect is obtained, then Exact Online cannot be reached for the code exchange."""
    cli = Cli(sqlite_env)
    with SandboxProcess("--divisions", "1") as sandbox:
        make_connection(sandbox.info)
        url = cli.ok("login", "eol", "--print-url").stdout.strip()
        redirected = complete_pages_over_http(url, sandbox.info["users"][0])
    cli.fails(
        "login",
        "eol",
        "--redirected-url",
        redirected,
        says=(f"Cannot reach {urlsplit(sandbox.info['base_url']).netloc}", "run the login again"),
    )
    cli.assert_never_printed(sandbox.info["client_secret"])

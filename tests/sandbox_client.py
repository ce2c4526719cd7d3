"""A small test client for the sandbox: login through the control plane, authorised GETs, control calls."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass
class Tokens:
    """An access/refresh token pair."""

    access: str
    refresh: str
    expires_in: str


class SandboxClient:
    """Talks to a sandbox over HTTP the way an Exact Online client would."""

    def __init__(self, http: httpx.Client, info: dict) -> None:
        self.http = http
        self.info = info
        self.tokens: Tokens | None = None

    @property
    def divisions(self) -> list[int]:
        """The divisions of the sandbox."""
        return list(self.info["divisions"])

    def control(self, method: str, name: str, **kwargs: object) -> dict:
        """A control-plane call; fails the test on an error status."""
        response = self.http.request(method, f"/_sandbox/{name}", **kwargs)  # type: ignore[arg-type]
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def code(self, user: str | None = None, divisions: list[int] | None = None) -> str:
        """An authorization code, as the login page would hand out."""
        body: dict = {"client_id": self.info["client_id"], "redirect_uri": self.info["redirect_uri"]}
        if user:
            body["user"] = user
        if divisions:
            body["divisions"] = divisions
        return str(self.control("POST", "authorize", json=body)["code"])

    def token_call(self, **form: str) -> httpx.Response:
        """A raw token-endpoint call with the app's credentials."""
        data = {"client_id": self.info["client_id"], "client_secret": self.info["client_secret"], **form}
        return self.http.post("/api/oauth2/token", data=data)

    def login(self, user: str | None = None, divisions: list[int] | None = None) -> Tokens:
        """Runs the code grant and keeps the tokens."""
        response = self.token_call(
            grant_type="authorization_code",
            code=self.code(user, divisions),
            redirect_uri=self.info["redirect_uri"],
        )
        assert response.status_code == 200, response.text
        body = response.json()
        self.tokens = Tokens(body["access_token"], body["refresh_token"], body["expires_in"])
        return self.tokens

    def refresh(self) -> httpx.Response:
        """Refreshes with the current refresh token; keeps the new pair on success."""
        assert self.tokens is not None
        response = self.token_call(grant_type="refresh_token", refresh_token=self.tokens.refresh)
        if response.status_code == 200:
            body = response.json()
            self.tokens = Tokens(body["access_token"], body["refresh_token"], body["expires_in"])
        return response

    def get(
        self, path: str, params: dict[str, str] | None = None, token: str | None = None
    ) -> httpx.Response:
        """An authorised GET of ``/api/v1/{path}``."""
        if token is None:
            if self.tokens is None:
                self.login()
            assert self.tokens is not None
            token = self.tokens.access
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        url = path if path.startswith("http") else f"/api/v1/{path.lstrip('/')}"
        return self.http.get(url, params=params, headers=headers)

    def follow(self, path: str, params: dict[str, str]) -> tuple[list[dict], list[str]]:
        """All rows of a GET, following ``__next``; returns the rows and the ``__next`` links."""
        response = self.get(path, params)
        assert response.status_code == 200, response.text
        d = response.json()["d"]
        if isinstance(d, list):  # $top within one page: a bare array, as on Exact
            return d, []
        rows, nexts = list(d["results"]), []
        while "__next" in d:
            nexts.append(d["__next"])
            response = self.get(d["__next"])
            assert response.status_code == 200, response.text
            d = response.json()["d"]
            rows.extend(d["results"])
        return rows, nexts

    def advance(self, seconds: float) -> None:
        """Moves the sandbox clock forward."""
        self.control("POST", "clock", json={"advance": seconds})

    def stats(self) -> dict:
        """The sandbox's counters."""
        return self.control("GET", "stats")

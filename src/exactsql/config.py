"""Connections and settings: a TOML file under the user's config directory (``EXACTSQL_HOME`` overrides)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import platformdirs
import tomli_w

from exactsql.errors import ConfigError

REGIONS = {
    "nl": "https://start.exactonline.nl",
    "be": "https://start.exactonline.be",
    "de": "https://start.exactonline.de",
    "fr": "https://start.exactonline.fr",
    "es": "https://start.exactonline.es",
    "uk": "https://start.exactonline.co.uk",
    "com": "https://start.exactonline.com",
}
IN_PROCESS_SANDBOX = "sandbox:"
SANDBOX_NAME = "sandbox"


@dataclass
class Connection:
    """One registered Exact Online app, as the user entered it; no secrets here.

    The limits are Exact's defaults; apps with raised limits can set theirs.
    """

    name: str
    base_url: str
    client_id: str
    redirect_uri: str
    user_id: str | None = None
    token_calls_per_day: int = 200
    minutely_limit: int = 60
    daily_limit: int = 5000
    error_limit: int = 10
    error_reserve: int = 8

    @property
    def in_process_sandbox(self) -> bool:
        """Whether this connection talks to a sandbox inside this process."""
        return self.base_url == IN_PROCESS_SANDBOX

    def as_toml(self) -> dict:
        """The connection as stored in the config file (without its name, which is the table key)."""
        data = {k: v for k, v in asdict(self).items() if k != "name" and v is not None}
        return data


def home() -> Path:
    """exactsql's directory: ``EXACTSQL_HOME``, or the user's config directory."""
    configured = os.environ.get("EXACTSQL_HOME")
    return Path(configured).expanduser() if configured else platformdirs.user_config_path("exactsql")


def builtin_sandbox() -> Connection:
    """The ``sandbox`` connection that exists out of the box: an in-process sandbox."""
    from exactsql.sandbox.core import DEFAULT_REDIRECT_URI, default_app

    app = default_app(seed=1)
    return Connection(SANDBOX_NAME, IN_PROCESS_SANDBOX, app.client_id, DEFAULT_REDIRECT_URI)


@dataclass
class Config:
    """The config file: the state store URL and the connections."""

    path: Path
    state: str | None = None
    connections: dict[str, Connection] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        """Reads the config file (an absent file is an empty config)."""
        path = path or home() / "config.toml"
        if not path.exists():
            return cls(path)
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.", "Fix the file or remove it.") from None
        known = {f.name for f in fields(Connection)}
        connections = {}
        for name, raw in (data.get("connections") or {}).items():
            unknown = set(raw) - known
            if unknown:
                raise ConfigError(
                    f"connection {name!r} in {path} has unknown settings: {', '.join(sorted(unknown))}.",
                    f"Known settings: {', '.join(sorted(known - {'name'}))}.",
                )
            connections[name] = Connection(name=name, **raw)
        return cls(path, data.get("state"), connections)

    def save(self) -> None:
        """Writes the config file, readable by its owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data: dict = {}
        if self.state:
            data["state"] = self.state
        data["connections"] = {name: c.as_toml() for name, c in sorted(self.connections.items())}
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(tomli_w.dumps(data).encode())
        os.replace(tmp, self.path)

    def connection(self, name: str) -> Connection:
        """The connection called ``name`` (``sandbox`` always exists)."""
        if name in self.connections:
            return self.connections[name]
        if name == SANDBOX_NAME:
            return builtin_sandbox()
        names = ", ".join(sorted({*self.connections, SANDBOX_NAME}))
        raise ConfigError(
            f"There is no connection called {name!r}.",
            f"Known connections: {names}. Add one with `exactsql connection add {name} --client-id … --redirect-uri …`.",
        )

    def state_url(self) -> str:
        """Where shared state lives: ``EXACTSQL_STATE``, the config's ``state``, or a SQLite file in home."""
        return os.environ.get("EXACTSQL_STATE") or self.state or f"sqlite:///{home() / 'state.db'}"


def base_url_for(region: str | None, base_url: str | None) -> str:
    """The host of a region, or an explicit base URL (e.g. an ``exactsql sandbox`` server)."""
    if base_url:
        if not base_url.startswith(("http://", "https://")) and base_url != IN_PROCESS_SANDBOX:
            raise ConfigError(
                f"--base-url {base_url!r} is not an http(s) URL.", "Use e.g. https://start.exactonline.nl."
            )
        return base_url.rstrip("/")
    region = (region or "nl").lower()
    if region not in REGIONS:
        raise ConfigError(f"Unknown region {region!r}.", f"Use one of {', '.join(REGIONS)}, or --base-url.")
    return REGIONS[region]

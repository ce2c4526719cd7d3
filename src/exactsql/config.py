"""Connections and settings: a TOML file under the user's config directory (``EXACTSQL_HOME`` overrides)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import secrets
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import platformdirs
import tomli_w

from exactsql.errors import ConfigError, FileError

if TYPE_CHECKING:
    from exactsql.secretbox import SecretBox

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
#: The most divisions one query reads at once (threads of this process, each with a call in flight).
MAX_WORKERS = 64
SANDBOX_NAME = "sandbox"
#: The limits of a connection: positive whole numbers (error_reserve also below error_limit).
LIMITS = ("token_calls_per_day", "minutely_limit", "daily_limit", "error_limit", "error_reserve")


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
    divisions_max_age: int = 3600  # seconds the division list and current/Me are kept (0: ask each time)
    workers: int = 8  # divisions read at once by a query over several

    @property
    def in_process_sandbox(self) -> bool:
        """Whether this connection talks to a sandbox inside this process."""
        return self.base_url == IN_PROCESS_SANDBOX

    def as_toml(self) -> dict:
        """The connection as stored in the config file (without its name, which is the table key)."""
        data = {k: v for k, v in asdict(self).items() if k != "name" and v is not None}
        return data


def write_private(path: Path, data: bytes, exclusive: bool = False) -> None:
    """Writes ``data`` to ``path``: owner-only (0600) from creation, never through a symbolic link.

    ``exclusive``: the file must not exist yet (a fresh temporary name).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def home() -> Path:
    """exactsql's directory: ``EXACTSQL_HOME``, or the user's config directory."""
    configured = os.environ.get("EXACTSQL_HOME")
    return Path(configured).expanduser() if configured else platformdirs.user_config_path("exactsql")


def secret_box(directory: Path | None = None) -> SecretBox:
    """This machine's key for secrets at rest (``EXACTSQL_SECRET_KEY``, the keyring or ``secret.key`` in
    ``directory``, by default exactsql's home); ConfigError when it cannot be used."""
    from exactsql.secretbox import KEY_ENV, load_secret_box

    directory = directory or home()
    source = KEY_ENV if os.environ.get(KEY_ENV) else f"the key file {directory / 'secret.key'}"
    fix = (
        f"Restore the key file from a backup, or set {KEY_ENV} to the key every machine of the state store "
        "shares. Without the key, the stored client secrets and tokens are lost: remove the file, add the "
        "connections again and log in again."
    )
    try:
        return load_secret_box(directory)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"The key for secrets at rest ({source}) is not a valid key: {exc}", fix) from None
    except OSError as exc:
        raise ConfigError(
            f"The key for secrets at rest ({source}) cannot be read or created: {exc.strerror or exc}.", fix
        ) from None


def builtin_sandbox() -> Connection:
    """The ``sandbox`` connection that exists out of the box: an in-process sandbox."""
    from exactsql.sandbox.core import DEFAULT_REDIRECT_URI, default_app

    app = default_app(seed=1)
    return Connection(SANDBOX_NAME, IN_PROCESS_SANDBOX, app.client_id, DEFAULT_REDIRECT_URI)


@dataclass
class Config:
    """The config file: the state store URL, the connections, and the replicas scripts may keep tables in."""

    path: Path
    state: str | None = None
    connections: dict[str, Connection] = field(default_factory=dict)
    replicas: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        """Reads and checks the config file (an absent file is an empty config); ConfigError names a problem."""
        path = path or home() / "config.toml"
        if not path.exists():
            return cls(path)
        fix = f"Fix or remove {path}."
        try:
            data = tomllib.loads(path.read_bytes().decode("utf-8"))
        except OSError as exc:
            raise ConfigError(f"Cannot read the config file {path}: {exc.strerror or exc}.", fix) from None
        except UnicodeDecodeError:
            raise ConfigError(f"The config file {path} is not UTF-8 text.", fix) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"The config file {path} is not valid TOML: {exc}.", fix) from None
        unknown = set(data) - {"state", "connections", "replicas"}
        if unknown:
            raise ConfigError(
                f"The config file {path} has unknown settings: {', '.join(sorted(unknown))}.",
                "Known at the top: state, [connections.NAME] tables, and a [replicas] table.",
            )
        state = data.get("state")
        if state is not None and (not isinstance(state, str) or not state.strip()):
            raise ConfigError(
                f"`state` in {path} must be a state store URL in quotes, not {_shown(state)}.",
                'e.g. state = "postgresql://host/db", or remove the line for the default SQLite file.',
            )
        raw_connections = data.get("connections", {})
        if not isinstance(raw_connections, dict):
            raise ConfigError(
                f"`connections` in {path} must be tables [connections.NAME], not {_shown(raw_connections)}.",
                fix,
            )
        connections = {name: connection_from_toml(name, raw, path) for name, raw in raw_connections.items()}
        return cls(path, state, connections, replicas_from_toml(data.get("replicas", {}), path))

    def save(self) -> None:
        """Writes the config file atomically, owner-only from creation, never through a symbolic link."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data: dict = {}
        if self.state:
            data["state"] = self.state
        data["connections"] = {name: c.as_toml() for name, c in sorted(self.connections.items())}
        if self.replicas:
            data["replicas"] = dict(sorted(self.replicas.items()))
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            write_private(tmp, tomli_w.dumps(data).encode(), exclusive=True)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise FileError.from_os_error(exc, "write the config file", self.path) from None

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
        """Where shared state lives: ``EXACTSQL_STATE``, the config's ``state``, or a SQLite file in home.

        ConfigError for ``memory://``: the connections of this file are real ones, whose token chain must
        outlive the process and whose budgets are shared (the built-in sandbox keeps its own in memory).
        """
        url = os.environ.get("EXACTSQL_STATE") or self.state or f"sqlite:///{home() / 'state.db'}"
        if url.strip().lower().startswith("memory:"):
            where = "EXACTSQL_STATE" if os.environ.get("EXACTSQL_STATE") else f"`state` in {self.path}"
            raise ConfigError(
                f"The state store {url!r} ({where}) lives inside one process: a connection's token chain would "
                "be lost when it ends, and no budget would be shared with other processes.",
                "memory:// is only for the built-in sandbox connection. Unset it for the default SQLite file, "
                "or use postgresql://… or redis://… for several machines.",
            )
        return url


def base_url_for(region: str | None, base_url: str | None) -> str:
    """The host of a region, or an explicit base URL (e.g. an ``exactsql sandbox`` server)."""
    if base_url:
        problem = url_problem(base_url)
        if problem and base_url != IN_PROCESS_SANDBOX:
            raise ConfigError(f"--base-url {base_url!r} {problem}.", "Use e.g. https://start.exactonline.nl.")
        return base_url.rstrip("/")
    region = (region or "nl").lower()
    if region not in REGIONS:
        raise ConfigError(f"Unknown region {region!r}.", f"Use one of {', '.join(REGIONS)}, or --base-url.")
    return REGIONS[region]


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as an http(s) URL of a host, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "is not a well-formed URL"
    if parts.scheme not in ("http", "https"):
        return "is not an http(s) URL"
    if not parts.hostname or any(c.isspace() for c in url):
        return "names no valid host"
    return None


def redirect_uri_problem(uri: str) -> str | None:
    """What is wrong with ``uri`` as an OAuth redirect URI (absolute, with a host), or None."""
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc or any(c.isspace() for c in uri):
        return "is not an absolute URL such as http://127.0.0.1:8765/callback"
    return None


_EXAMPLES = {
    "base_url": "https://start.exactonline.nl",
    "client_id": "{…}",
    "redirect_uri": "http://127.0.0.1:8765/callback",
}


def _shown(value: object) -> str:
    """A TOML value in a message: its type, and the value when short."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "a table", dt.datetime: "a date and time", dt.date: "a date", dt.time: "a time"}  # fmt: skip
    kind = kinds.get(type(value), type(value).__name__)
    text = str(value) if isinstance(value, dt.date | dt.time) else repr(value)
    return f"{kind} ({text})" if len(text) <= 40 and not isinstance(value, dict) else kind


REPLICA_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REPLICA_SCHEMES = ("sqlite:", "duckdb:", "postgresql:", "postgres:")
RESERVED_ALIASES = ("inmemorystorage", "datadictionary", "eol")


def replicas_from_toml(raw: object, path: Path) -> dict[str, str]:
    """The ``[replicas]`` table (ALIAS = URL): where ``create table NAME@ALIAS`` keeps a script's tables."""
    example = 'e.g. [replicas] then warehouse = "duckdb:///home/me/books.duckdb"'
    if not isinstance(raw, dict):
        raise ConfigError(f"`replicas` in {path} must be a table [replicas], not {_shown(raw)}.", example)
    replicas = {}
    for alias, url in raw.items():
        if not REPLICA_ALIAS.match(alias) or alias.lower() in RESERVED_ALIASES:
            raise ConfigError(
                f"The replica alias {alias!r} in {path} cannot be used in SQL as NAME@{alias}.",
                f"Use letters, digits and _, not one of {', '.join(RESERVED_ALIASES)}.",
            )
        if not isinstance(url, str) or not url.lower().startswith(REPLICA_SCHEMES):
            raise ConfigError(
                f"The replica {alias} in {path} must be a replica URL in quotes, not {_shown(url)}.",
                "sqlite:///file.db, duckdb:///file.duckdb or postgresql://user@host/db",
            )
        replicas[alias.lower()] = url
    return replicas


def connection_from_toml(name: str, raw: object, path: Path) -> Connection:
    """Connection ``name`` from its config table, every setting checked; ConfigError says what to fix."""
    where = f"connection {name!r} in {path}"
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where} must be a table [connections.{name}] of settings, not {_shown(raw)}.",
            f"Fix or remove it in {path}.",
        )
    known = {f.name for f in fields(Connection)} - {"name"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(
            f"{where} has unknown settings: {', '.join(sorted(unknown))}.",
            f"Known settings: {', '.join(sorted(known))}.",
        )
    for key in ("base_url", "client_id", "redirect_uri"):
        value = raw.get(key)
        if value is None:
            raise ConfigError(
                f"{where} has no {key}.",
                f"Add it, or add the connection again with `exactsql connection add {name} …`.",
            )
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"{key} of {where} must be a non-empty string, not {_shown(value)}.",
                f'Write it in quotes, e.g. {key} = "{_EXAMPLES[key]}", or add the connection again.',
            )
    base_url = raw["base_url"]
    problem = url_problem(base_url) if base_url != IN_PROCESS_SANDBOX else None
    if problem:
        raise ConfigError(
            f"base_url {base_url!r} of {where} {problem}.", "Use e.g. https://start.exactonline.nl."
        )
    problem = redirect_uri_problem(raw["redirect_uri"])
    if problem:
        raise ConfigError(
            f"redirect_uri {raw['redirect_uri']!r} of {where} {problem}.",
            "Write it exactly as registered for the app in Exact Online's App Center.",
        )
    if raw.get("user_id") is not None and not isinstance(raw["user_id"], str):
        raise ConfigError(
            f"user_id of {where} must be a string, not {_shown(raw['user_id'])}.",
            f"Remove the line: `exactsql login {name}` fills it in.",
        )
    defaults = Connection(name, "", "", "")
    for key in LIMITS:
        value = raw.get(key, getattr(defaults, key))
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(
                f"{key} of {where} must be a positive whole number, not {_shown(value)}.",
                f"Remove it for Exact's default ({getattr(defaults, key)}), or set the raised limit of your app.",
            )
    workers = raw.get("workers", defaults.workers)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(
            f"workers of {where} must be a whole number from 1 to {MAX_WORKERS}, not {_shown(workers)}.",
            f"Remove it for the default ({defaults.workers}).",
        )
    max_age = raw.get("divisions_max_age", defaults.divisions_max_age)
    if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0:
        raise ConfigError(
            f"divisions_max_age of {where} must be a whole number of seconds (0 or more), not {_shown(max_age)}.",
            f"Remove it for the default ({defaults.divisions_max_age}), or 0 to read the division list each time.",
        )
    limit, reserve = (
        raw.get("error_limit", defaults.error_limit),
        raw.get("error_reserve", defaults.error_reserve),
    )
    if reserve >= limit:
        raise ConfigError(
            f"error_reserve {reserve} of {where} must be below error_limit {limit}: Exact blocks the app's key "
            f"at {limit} error responses an hour, and exactsql stops at the reserve to stay clear of that.",
            f"Set error_reserve to at most {limit - 1} (the default is {defaults.error_reserve}).",
        )
    return Connection(name=name, **raw)

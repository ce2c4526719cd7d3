"""The bad inputs: each must end in a clear message and a non-zero exit, never a traceback or a hang."""

from __future__ import annotations

from tests.cli.harness import DIR, PASSWORD, Case, duckdb_bytes, sqlite_bytes

GARBAGE = b"this is not a database, just some bytes\x00\xff" * 200
SQLITE_OTHER = sqlite_bytes("CREATE TABLE kv (x INTEGER)", "INSERT INTO kv VALUES (1)")
SQLITE_EMPTY = sqlite_bytes("CREATE TABLE other (x INTEGER)")
SQLITE_TRUNCATED = sqlite_bytes(
    "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    *(f"INSERT INTO kv VALUES ('k{i}', randomblob(500))" for i in range(50)),
)[:6000]
DUCKDB = duckdb_bytes()

FIELDS = {"base_url": '"{base_url}"', "client_id": '"{client_id}"', "redirect_uri": '"{redirect_uri}"'}


def eol(drop: tuple[str, ...] = (), **settings: str) -> str:
    """config.toml with connection ``eol`` to the sandbox server; ``settings`` are raw TOML values."""
    values = {**{k: v for k, v in FIELDS.items() if k not in drop}, **settings}
    return "[connections.eol]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())


def config_cases() -> list[Case]:
    """Malformed config files and wrong settings."""
    status = ("status", "eol")
    cases = [
        Case("toml-garbage", status, ("config.toml", "TOML"), config="this is = not [toml"),
        Case("toml-unclosed-table", status, ("config.toml",), config="[connections.eol\n"),
        Case("toml-invalid-utf8", status, ("config.toml",), config=b'\xff\xfe state = "x"\n'),
        Case("toml-binary", status, ("config.toml",), config=bytes(range(256))),
        Case("toml-duplicate-key", status, ("config.toml",), config='state = "a"\nstate = "b"\n'),
        Case("toml-is-directory", status, ("config.toml", "directory"), files={"{home}/config.toml": DIR}),
        Case("connections-not-a-table", status, ("connections",), config="connections = 5\n"),
        Case("connection-not-a-table", status, ("eol",), config='[connections]\neol = "x"\n'),
        Case("connection-array", status, ("eol",), config='[[connections.eol]]\nbase_url = "x"\n'),
        Case("state-int", status, ("state",), config="state = 5\n" + eol()),
        Case("state-list", status, ("state",), config='state = ["sqlite:///x.db"]\n' + eol()),
        Case("state-empty", status, ("state",), config='state = ""\n' + eol()),
        Case("state-date", status, ("state",), config="state = 1979-05-27\n" + eol()),
        Case("unknown-top-level", status, ("statee",), config='statee = "x"\n' + eol()),
        Case("unknown-setting", status, ("unknown", "minutly_limit"), config=eol(minutly_limit="60")),
        Case("name-setting", status, ("name",), config=eol(name='"other"')),
    ]
    for field in ("base_url", "client_id", "redirect_uri"):
        cases.append(Case(f"missing-{field}", status, (field, "eol"), config=eol(drop=(field,))))
        cases.append(Case(f"{field}-int", status, (field,), config=eol(**{field: "5"})))
        cases.append(Case(f"{field}-empty", status, (field,), config=eol(**{field: '""'})))
    cases += [
        Case("base_url-ftp", status, ("base_url", "http"), config=eol(base_url='"ftp://example.com"')),
        Case("base_url-no-host", status, ("base_url",), config=eol(base_url='"http://"')),
        Case("base_url-spaces", status, ("base_url",), config=eol(base_url='"http://exa mple.com"')),
        Case("redirect_uri-not-url", status, ("redirect_uri",), config=eol(redirect_uri='"not a url"')),
        Case("user_id-int", status, ("user_id",), config=eol(user_id="5")),
        Case("missing-base_url-login", ("login", "eol"), ("base_url",), config=eol(drop=("base_url",))),
        Case("missing-base_url-api", ("api", "-c", "eol", "current/Me"), ("base_url",), config=eol(drop=("base_url",))),
        Case("missing-base_url-keepalive", ("keepalive", "eol"), ("base_url",), config=eol(drop=("base_url",))),
        Case("missing-base_url-list", ("connection", "list"), ("base_url",), config=eol(drop=("base_url",))),
    ]  # fmt: skip
    limits = {
        "error_reserve": ["11", "10", "0", "-1", '"8"', "8.5", "true", "1000"],
        "error_limit": ["0", "-10", '"10"', "2", "nan"],
        "minutely_limit": ["0", "-1", '"60"', "60.0", "false", "[60]", "inf"],
        "daily_limit": ["0", "-5000", '"5000"', "inf", "nan", "{ a = 1 }"],
        "token_calls_per_day": ["0", "-1", '"200"', "1.5", "{ a = 1 }"],
    }
    for name, values in limits.items():
        for value in values:
            ident = value.strip('"{} []').replace(" ", "").replace("=", "") or "table"
            ident += "-str" if value.startswith('"') else ""
            cases.append(Case(f"{name}-{ident}", status, (name,), config=eol(**{name: value})))
    sql = ("query", "-c", "eol", "select 1")
    cases += [
        Case("reserve-on-query", sql, ("error_reserve",), config=eol(error_reserve="12")),
        Case("reserve-on-replicate", ("replicate", "--to", "sqlite:///{tmp}/r.db", "-c", "eol"), ("error_reserve",),
             config=eol(error_reserve="12")),
        Case("minutely-on-api", ("api", "-c", "eol", "current/Me"), ("minutely_limit",), config=eol(minutely_limit="0")),
        Case("daily-on-list", ("connection", "list"), ("daily_limit",), config=eol(daily_limit="0")),
        Case("garbage-on-add", ("connection", "add", "x", "--client-id", "a", "--redirect-uri", "http://localhost/cb",
                                "--client-secret-env", "HOME"), ("config.toml",), config=b"[[[ garbage"),
        Case("garbage-on-query-sandbox", ("query", "-c", "sandbox", "select 1"), ("config.toml",), config=b"= ="),
    ]  # fmt: skip
    return cases


def store_cases() -> list[Case]:
    """Unsupported, malformed, unreachable or corrupt state stores."""
    status = ("status", "eol")

    def state(url: str, *expect: str, args: tuple[str, ...] = status, **kw: object) -> Case:
        return Case(f"state {url}" + (f" ({args[0]})" if args != status else ""), args, expect,
                    env={"EXACTSQL_STATE": url}, **kw)  # type: ignore[arg-type]  # fmt: skip

    pg = f"postgresql://exactsql:{PASSWORD}@127.0.0.1:1/db"
    cases = [
        state("foo://x", "state store", "sqlite:///"),
        state("http://example.com/state", "state store"),
        state("   ", "state store"),
        state("sqlite://", "sqlite:///"),
        state("sqlite:///", "file"),
        state("sqlite:///{tmp}/dir/", "file"),
        state("sqlite:///:memory:", "file"),
        state("sqlite:///file:x.db?mode=memory", "file"),
        state("sqlite:///{tmp}", "directory"),
        state("sqlite:///{tmp}/afile/state.db", "afile", files={"{tmp}/afile": b"x"}),
        state("sqlite:////proc/1/nope/state.db", "/proc/1/nope"),
        state("sqlite:///{tmp}/garbage.db", "garbage.db", "not", files={"{tmp}/garbage.db": GARBAGE}),
        state("sqlite:///{tmp}/other.db", "other.db", files={"{tmp}/other.db": SQLITE_OTHER}),
        state("sqlite:///{tmp}/truncated.db", "truncated.db", files={"{tmp}/truncated.db": SQLITE_TRUNCATED}),
        state("sqlite:///{tmp}/locks.db", "locks", args=("keepalive", "eol"),
              files={"{tmp}/locks.db.locks": b"a file, not a directory"}),
        state("postgresql://127.0.0.1:1/db", "127.0.0.1"),
        state(pg, "127.0.0.1", "***"),
        state("postgres://127.0.0.1:1/db", "127.0.0.1"),
        state("postgresql://[::1", "state store"),
        state("postgresql://127.0.0.1:notaport/db", "state store"),
        state("postgresql://127.0.0.1:1/db?sslmode=bogus", "state store"),
        state(f"postgresql://127.0.0.1:1/db?password={PASSWORD}", "state store", "***"),
        state("postgresql://127.0.0.1:1/db?connect_timeout=abc", "state store"),
        state("redis://127.0.0.1:1/0", "127.0.0.1"),
        state(f"redis://:{PASSWORD}@127.0.0.1:1/0", "127.0.0.1", "***"),
        state(f"redis://user:{PASSWORD}@127.0.0.1:1/0?lock_lease=abc", "lock_lease", "***"),
        state("redis://127.0.0.1:1/0?lock_lease=-1", "lock_lease"),
        state("redis://127.0.0.1:notaport/0", "state store"),
        state("rediss://127.0.0.1:1/0", "127.0.0.1"),
        state("redis://127.0.0.1:1/notadb", "state store"),
        state("memory://", "memory://", "sandbox"),
        state("memory://elsewhere", "memory://"),
        state(f"host=127.0.0.1 port=1 user=x password={PASSWORD}", "state store", "***"),
        state(f"postgresql://u:{PASSWORD}@127.0.0.1:1/db", "***", args=("api", "-c", "eol", "current/Me")),
        state(f"redis://:{PASSWORD}@127.0.0.1:1/0", "***", args=("query", "-c", "eol", "select 1")),
        state("foo://x", "state store", args=("connection", "remove", "eol")),
        state("foo://x", "state store", args=("login", "eol")),
        state("foo://x", "state store", args=("keepalive", "eol")),
        state("memory://", "memory://", args=("replicate", "--to", "sqlite:///{tmp}/r.db", "-c", "eol")),
        state("sqlite:///{tmp}/garbage.db", "garbage.db", args=("connection", "add", "y", "--client-id", "a",
              "--redirect-uri", "http://localhost/cb", "--client-secret-env", "HOME"),
              files={"{tmp}/garbage.db": GARBAGE}),
    ]  # fmt: skip
    default = {"EXACTSQL_STATE": None}
    cases += [
        Case("default-store-garbage", status, ("state.db",), env=default, files={"{home}/state.db": GARBAGE}),
        Case("default-store-directory", status, ("state.db",), env=default, files={"{home}/state.db": DIR}),
        Case("default-store-other-db", status, ("state.db",), env=default, files={"{home}/state.db": SQLITE_OTHER}),
        Case("config-state-foo", status, ("state store",), env=default, config='state = "foo://x"\n' + eol()),
        Case("config-state-memory", status, ("memory://",), env=default, config='state = "memory://"\n' + eol()),
        Case("config-state-password", status, ("***",), env=default,
             config=f'state = "postgresql://u:{PASSWORD}@127.0.0.1:1/db"\n' + eol()),
    ]  # fmt: skip
    return cases


def key_cases() -> list[Case]:
    """Broken key files (the key that encrypts secrets at rest)."""
    status = ("status", "eol")
    return [
        Case("key-empty", status, ("secret.key",), files={"{home}/secret.key": b""}),
        Case("key-blank", status, ("secret.key",), files={"{home}/secret.key": b"\n\n  \n"}),
        Case("key-garbage", status, ("secret.key",), files={"{home}/secret.key": b"not a fernet key"}),
        Case("key-directory", status, ("secret.key",), files={"{home}/secret.key": DIR}),
        Case("key-other", status, ("key",), files={"{home}/secret.key": b"tA7iW2u9uQ2l2v6kz9m2b1cO1WnE6bq0nD6J7Xv5xQE="}),
        Case("key-empty-api", ("api", "-c", "eol", "current/Me"), ("secret.key",), files={"{home}/secret.key": b""}),
    ]  # fmt: skip


def replica_cases() -> list[Case]:
    """Bad ``replicate --to`` and ``query --replica`` URLs and files."""
    pg = f"postgresql://u:{PASSWORD}@127.0.0.1:1/db"

    def to(url: str, *expect: str, **kw: object) -> Case:
        return Case(f"to {url}", ("replicate", "-q", "-c", "eol", "--to", url), expect, **kw)  # type: ignore[arg-type]

    def replica(url: str, *expect: str, **kw: object) -> Case:
        return Case(
            f"replica {url}", ("query", "--replica", url, "select count(*) from accounts"), expect, **kw
        )  # type: ignore[arg-type]

    return [
        to("foo://x", "replica"),
        to("", "replica"),
        to("sqlite://", "replica"),
        to("sqlite:///", "file"),
        to("duckdb:///", "file"),
        to("sqlite:///:memory:", "file"),
        to("memory://", "replica"),
        to("redis://127.0.0.1:1/0", "replica"),
        to("sqlite:///{tmp}", "directory"),
        to("duckdb:///{tmp}", "directory"),
        to("sqlite:///{tmp}/afile/r.db", "afile", files={"{tmp}/afile": b"x"}),
        to("duckdb:///{tmp}/afile/r.duckdb", "afile", files={"{tmp}/afile": b"x"}),
        to("sqlite:////proc/1/nope/r.db", "/proc/1/nope"),
        to("sqlite:///{tmp}/garbage.db", "garbage.db", files={"{tmp}/garbage.db": GARBAGE}),
        to("duckdb:///{tmp}/garbage.duckdb", "garbage.duckdb", files={"{tmp}/garbage.duckdb": GARBAGE}),
        to("duckdb:///{tmp}/sqlite.duckdb", "sqlite.duckdb", files={"{tmp}/sqlite.duckdb": SQLITE_EMPTY}),
        to("sqlite:///{tmp}/duck.db", "duck.db", files={"{tmp}/duck.db": DUCKDB}),
        to("duckdb:///{tmp}/locked.duckdb", "locked.duckdb", "another", hold_duckdb="{tmp}/locked.duckdb"),
        to("postgresql://127.0.0.1:1/db", "127.0.0.1"),
        to(pg, "127.0.0.1", "***"),
        to(f"postgresql://127.0.0.1:1/db?password={PASSWORD}", "***"),
        to("postgresql://[::1", "replica"),
        to("sqlite:///{store}", "state store"),
        to("duckdb:///{store}", "state store"),
        to("sqlite:///{store}?mode=rw", "state store"),
        to("sqlite:///{tmp}/./sub/../s.db", "state store", env={"EXACTSQL_STATE": "sqlite:///{tmp}/s.db"},
           files={"{tmp}/sub": DIR}),
        to("sqlite:///{home}/state.db", "state store", env={"EXACTSQL_STATE": None}),
        to("sqlite:///{home}/secret.key", "secret.key"),
        to("sqlite:///{home}/config.toml", "config.toml"),
        replica("foo://x", "replica"),
        replica("", "replica"),
        replica("sqlite:///", "file"),
        replica("duckdb:///", "file"),
        replica("memory://", "replica"),
        replica("sqlite:///{tmp}/missing.db", "missing.db", "replicate"),
        replica("duckdb:///{tmp}/missing.duckdb", "missing.duckdb", "replicate"),
        replica("sqlite:///{tmp}", "directory"),
        replica("duckdb:///{tmp}", "directory"),
        replica("sqlite:///{tmp}/garbage.db", "garbage.db", files={"{tmp}/garbage.db": GARBAGE}),
        replica("duckdb:///{tmp}/garbage.duckdb", "garbage.duckdb", files={"{tmp}/garbage.duckdb": GARBAGE}),
        replica("sqlite:///{tmp}/empty.db", "replicate", files={"{tmp}/empty.db": SQLITE_EMPTY}),
        replica("duckdb:///{tmp}/empty.duckdb", "replicate", files={"{tmp}/empty.duckdb": DUCKDB}),
        replica("duckdb:///{tmp}/locked.duckdb", "locked.duckdb", "another", hold_duckdb="{tmp}/locked.duckdb"),
        replica("postgresql://127.0.0.1:1/db", "127.0.0.1"),
        replica(pg, "127.0.0.1", "***"),
        replica("sqlite:///{tmp}/afile/r.db", "afile", files={"{tmp}/afile": b"x"}),
    ]  # fmt: skip


def output_cases() -> list[Case]:
    """Results that cannot be written: a directory, a missing directory, a full disk, a size limit."""
    many = "select code, description from glaccounts"
    cases = []
    for fmt in ("csv", "json", "parquet", "xlsx"):
        q = ("query", "-c", "sandbox", "-f", fmt, many)
        cases += [
            Case(f"{fmt}-to-directory", (*q, "-o", "{tmp}"), ("directory",)),
            Case(f"{fmt}-to-missing-directory", (*q, "-o", "{tmp}/no/such/out"), ("no/such",)),
            Case(
                f"{fmt}-under-a-file", (*q, "-o", "{tmp}/afile/out"), ("afile",), files={"{tmp}/afile": b"x"}
            ),
            Case(
                f"{fmt}-to-dev-full",
                (*q, "-o", "/dev/full"),
                ("space" if fmt in ("csv", "json") else "regular file",),
            ),
            Case(f"{fmt}-file-size-limit", (*q, "-o", "{tmp}/out"), ("size",), fsize=2000),
        ]
    for fmt in ("csv", "json", "table"):
        cases.append(
            Case(
                f"{fmt}-stdout-full",
                ("query", "-c", "sandbox", "-f", fmt, many),
                ("space",),
                stdout_to="/dev/full",
            )
        )
    cases += [
        Case("api-stdout-full", ("api", "current/Me"), ("space",), stdout_to="/dev/full"),
        Case("status-json-stdout-full", ("status", "--json"), ("space",), stdout_to="/dev/full"),
        Case("replicate-store-size-limit", ("replicate", "-q", "-c", "eol", "--to", "sqlite:///{tmp}/r.db"),
             ("size",), fsize=30_000),
        Case("replicate-sqlite-disk-full", ("replicate", "-q", "-c", "eol", "--to", "sqlite:///{tmp}/full/r.db"),
             ("full",), tmpfs=64 * 1024),
        Case("replicate-duckdb-disk-full", ("replicate", "-q", "-c", "eol", "--to", "duckdb:///{tmp}/full/r.duckdb"),
             ("space",), tmpfs=64 * 1024),
        Case("csv-disk-full", ("query", "-c", "sandbox", "-f", "csv", "-o", "{tmp}/full/out.csv", "select * from glaccounts"), ("space",),
             tmpfs=4096),
        Case("xlsx-disk-full", ("query", "-c", "sandbox", "-f", "xlsx", "-o", "{tmp}/full/out.xlsx", many), ("space",),
             tmpfs=4096),
        Case("state-disk-full", ("login", "eol"), ("full",), env={"EXACTSQL_STATE": "sqlite:///{tmp}/full/s.db"},
             tmpfs=16 * 1024),
        Case("state-size-limit", ("login", "eol"), ("size",), env={"EXACTSQL_STATE": "sqlite:///{tmp}/s.db"},
             fsize=0),
        Case("config-size-limit", ("connection", "add", "z", "--client-id", "a", "--redirect-uri",
                                   "http://localhost/cb", "--client-secret-env", "HOME"), ("size",),
             env={"EXACTSQL_STATE": "sqlite:///{tmp}/s.db"}, fsize=0),
    ]  # fmt: skip
    return cases


def option_cases() -> list[Case]:
    """Wrong options and arguments of every command."""
    rep = ("replicate", "-q", "-c", "eol", "--to", "sqlite:///{tmp}/r.db")
    api = ("api", "-c", "eol")
    add = ("connection", "add", "x", "--client-secret-env", "HOME")
    ok_add = (*add, "--client-id", "a", "--redirect-uri", "http://localhost/cb")
    sb = ("query", "-c", "sandbox")
    two = "".join(
        f'[connections.{n}]\nbase_url = "{{base_url}}"\nclient_id = "x"\nredirect_uri = "http://localhost/cb"\n'
        for n in ("one", "two")
    )
    down = ("connection", "add", "down", "--client-id", "x", "--redirect-uri", "http://127.0.0.1:8765/callback",
            "--base-url", "http://127.0.0.1:1", "--client-secret-env", "HOME")  # fmt: skip
    return [
        Case("api-division-huge", (*api, "-d", "99999999999999999999", "crm/Accounts"), ("division",)),
        Case("api-division-int64", (*api, "-d", "9223372036854775808", "crm/Accounts"), ("division",)),
        Case("api-division-above-int32", (*api, "-d", "2147483648", "crm/Accounts"), ("division",)),
        Case("api-division-negative", (*api, "-d", "-1", "crm/Accounts"), ("division",)),
        Case("api-division-zero", (*api, "-d", "0", "crm/Accounts"), ("division",)),
        Case("api-division-text", (*api, "-d", "abc", "crm/Accounts"), ("division",)),
        Case("api-query-no-equals", (*api, "crm/Accounts", "-q", "novalue"), ("key=value",)),
        Case("api-bad-top", (*api, "-d", "{division}", "crm/Accounts", "-q", "$top=abc", "-q", "$select=Code"),
             ("$top",)),
        Case("api-unknown-entity", (*api, "-d", "{division}", "crm/NoSuchThing"), ("nosuchthing",)),
        Case("api-division-no-access", (*api, "-d", "424242", "crm/Accounts"), ("division",)),
        Case("api-empty-path", (*api, ""), ("path",)),
        Case("api-other-host", (*api, "https://example.com/api/v1/current/Me"), ("example.com",)),
        Case("watch-zero", (*rep, "--watch", "0"), ("--watch",)),
        Case("watch-zero-s", (*rep, "--watch", "0s"), ("--watch",)),
        Case("watch-negative", (*rep, "--watch", "-5"), ("--watch",)),
        Case("watch-text", (*rep, "--watch", "abc"), ("--watch",)),
        Case("watch-exp", (*rep, "--watch", "1e999"), ("--watch",)),
        Case("watch-huge", (*rep, "--watch", "99999999999999999999d"), ("--watch",)),
        Case("watch-tiny", (*rep, "--watch", "0.0001"), ("--watch",)),
        Case("divisions-text", (*rep, "--divisions", "abc"), ("--divisions",)),
        Case("divisions-all-and-code", (*rep, "--divisions", "all,5"), ("--divisions",)),
        Case("divisions-huge", (*rep, "--divisions", "99999999999999999999"), ("--divisions",)),
        Case("divisions-negative", (*rep, "--divisions", "-1"), ("--divisions",)),
        Case("divisions-zero", (*rep, "--divisions", "0"), ("--divisions",)),
        Case("divisions-commas", (*rep, "--divisions", ",,"), ("--divisions",)),
        Case("divisions-no-access", (*rep, "--divisions", "424242"), ("424242",)),
        Case("parallel-zero", (*rep, "--parallel", "0"), ("--parallel",)),
        Case("parallel-huge", (*rep, "--parallel", "100000"), ("--parallel",)),
        Case("tables-unknown", (*rep, "--tables", "crm/NoSuchTable"), ("NoSuchTable",)),
        Case("modified-unknown", (*rep, "--modified", "NoSuchTable"), ("NoSuchTable",)),
        Case("worker-sqlite", (*rep, "--worker"), ("postgresql",)),
        Case("replicate-no-to", ("replicate", "-c", "eol"), ("--to",)),
        Case("replicate-unknown-connection", ("replicate", "-c", "nope", "--to", "sqlite:///{tmp}/r.db"), ("nope",)),
        Case("sql-file-missing", (*sb, "@{tmp}/missing.sql"), ("missing.sql",)),
        Case("sql-file-directory", (*sb, "@{tmp}"), ("directory",)),
        Case("sql-file-binary", (*sb, "@{tmp}/bin.sql"), ("bin.sql",), files={"{tmp}/bin.sql": b"\xff\xfe\x00\x81"}),
        Case("sql-empty", (*sb, ""), ("sql",)),
        Case("sql-only-separators", (*sb, " ;  ; "), ("sql",)),
        Case("sql-stdin-empty", (*sb, "-"), ("sql",)),
        Case("sql-syntax", (*sb, "selec code from glaccounts"), ("syntax",)),
        Case("sql-unknown-table", (*sb, "select * from nosuchtable"), ("nosuchtable",)),
        Case("max-calls-negative", (*sb, "--max-calls", "-1", "select code from glaccounts"), ("--max-calls",)),
        Case("max-calls-zero", (*sb, "--max-calls", "0", "select code from glaccounts"), ("calls",)),
        Case("cache-age-negative", (*sb, "--cache-max-age", "-1", "select 1"), ("--cache-max-age",)),
        Case("cache-age-nan", (*sb, "--cache-max-age", "nan", "select 1"), ("--cache-max-age",)),
        Case("format-unknown", (*sb, "-f", "yaml", "select 1"), ("yaml",)),
        Case("parquet-without-o", (*sb, "-f", "parquet", "select 1"), ("-o",)),
        Case("alias-no-equals", (*sb, "--alias", "x", "select 1"), ("--alias",)),
        Case("alias-unknown-connection", (*sb, "--alias", "a=nope", "select 1"), ("nope",)),
        Case("query-unknown-connection", ("query", "-c", "nope", "select 1"), ("nope",)),
        Case("query-several-connections", ("query", "select 1"), ("-c",), config=two),
        Case("explain-empty", ("explain", "-c", "sandbox", ""), ("sql",)),
        Case("explain-unknown-table", ("explain", "-c", "sandbox", "select * from nosuch"), ("nosuch",)),
        Case("explain-file-missing", ("explain", "-c", "sandbox", "@{tmp}/x.sql"), ("x.sql",)),
        Case("add-ftp", (*ok_add, "--base-url", "ftp://x"), ("--base-url",)),
        Case("add-no-host", (*ok_add, "--base-url", "http://"), ("--base-url",)),
        Case("add-space-host", (*ok_add, "--base-url", "http://a b"), ("--base-url",)),
        Case("add-region", (*ok_add, "--region", "xx"), ("region",)),
        Case("add-region-and-url", (*ok_add, "--region", "nl", "--base-url", "http://x"), ("not both",)),
        Case("add-sandbox-name", ("connection", "add", "sandbox", "--client-id", "a", "--redirect-uri",
                                  "http://localhost/cb", "--client-secret-env", "HOME"), ("sandbox",)),
        Case("add-empty-name", ("connection", "add", "", "--client-id", "a", "--redirect-uri",
                                "http://localhost/cb", "--client-secret-env", "HOME"), ("name",)),
        Case("add-unset-secret-env", ("connection", "add", "x", "--client-id", "a", "--redirect-uri",
                                      "http://localhost/cb", "--client-secret-env", "EXACTSQL_NO_SUCH"), ("EXACTSQL_NO_SUCH",)),
        Case("add-empty-stdin-secret", ("connection", "add", "x", "--client-id", "a", "--redirect-uri",
                                        "http://localhost/cb"), ("secret",)),
        Case("add-empty-client-id", (*add, "--client-id", " ", "--redirect-uri", "http://localhost/cb"), ("client",)),
        Case("add-empty-redirect", (*add, "--client-id", "a", "--redirect-uri", ""), ("redirect",)),
        Case("add-redirect-not-url", (*add, "--client-id", "a", "--redirect-uri", "not a url"), ("redirect",)),
        Case("remove-unknown", ("connection", "remove", "nope"), ("nope",)),
        Case("remove-sandbox", ("connection", "remove", "sandbox"), ("sandbox",)),
        Case("status-unknown", ("status", "nope"), ("nope",)),
        Case("keepalive-unknown", ("keepalive", "nope"), ("nope",)),
        Case("keepalive-not-logged-in", ("keepalive", "eol"), ("login",), env={"EXACTSQL_STATE": "sqlite:///{tmp}/s.db"}),
        Case("login-unknown", ("login", "nope"), ("nope",)),
        Case("login-garbage-redirect", ("login", "eol", "--redirected-url", "garbage"), ("login",)),
        Case("login-unknown-user", ("login", "eol", "--user", "nobody"), ("nobody",)),
        Case("login-unreachable", ("login", "down"), ("127.0.0.1:1",), before=(down,)),
        Case("api-unreachable", ("api", "-c", "down", "current/Me"), ("login",), before=(down,)),
        Case("sandbox-port-huge", ("sandbox", "--port", "99999"), ("--port",)),
        Case("sandbox-port-negative", ("sandbox", "--port", "-1"), ("--port",)),
        Case("sandbox-host-unknown", ("sandbox", "--port", "0", "--host", "no such host!"), ("no such host!",)),
        Case("sandbox-host-foreign", ("sandbox", "--port", "0", "--host", "203.0.113.1"), ("203.0.113.1",)),
        Case("sandbox-info-directory", ("sandbox", "--port", "0", "--info-file", "{tmp}"), ("--info-file",)),
        Case("sandbox-info-under-file", ("sandbox", "--port", "0", "--info-file", "{tmp}/afile/i.json"),
             ("--info-file",), files={"{tmp}/afile": b"x"}),
        Case("sandbox-divisions-zero", ("sandbox", "--divisions", "0"), ("--divisions",)),
        Case("sandbox-time-scale-zero", ("sandbox", "--time-scale", "0"), ("--time-scale",)),
        Case("sandbox-size", ("sandbox", "--size", "huge"), ("--size",)),
        Case("sandbox-redirect-not-url", ("sandbox", "--port", "0", "--redirect-uri", "not a url"), ("--redirect-uri",)),
        Case("demo-divisions-zero", ("demo", "--divisions", "0"), ("--divisions",)),
        Case("unknown-command", ("frobnicate",), ("frobnicate",)),
    ]  # fmt: skip


CASES = config_cases() + store_cases() + key_cases() + replica_cases() + output_cases() + option_cases()

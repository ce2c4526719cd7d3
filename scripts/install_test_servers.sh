#!/usr/bin/env bash
# Installs the PostgreSQL and Redis server binaries the tests start their own throw-away instances of,
# and Debian's Chromium (/usr/bin/chromium), which the login tests drive headless through Playwright
# (never `playwright install`: the tests use this system browser); and the PostgreSQL clients the
# `exactsql serve` tests connect with: psql, psqlODBC with unixODBC, pgjdbc with a headless JRE, Node.js
# with node-postgres (npm `pg`, installed into $EXACTSQL_TEST_CLIENTS/node, by default
# ~/.cache/exactsql-test-clients/node).
# Idempotent: does nothing when they are present. Never starts or enables the system services.
set -euo pipefail

have_postgres() {
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
    done
    return 1
}

have_redis() {
    command -v redis-server >/dev/null 2>&1
}

have_chromium() {
    [ -x /usr/bin/chromium ]
}

have_psql() { command -v psql >/dev/null 2>&1; }
have_odbc() { [ -e /usr/include/sql.h ] && odbcinst -q -d -n "PostgreSQL Unicode" >/dev/null 2>&1; }
have_jdbc() { [ -e /usr/share/java/postgresql.jar ]; }
have_java() { command -v java >/dev/null 2>&1; }
have_node() { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }

clients_dir="${EXACTSQL_TEST_CLIENTS:-$HOME/.cache/exactsql-test-clients}"
install_node_pg() {
    # node-postgres for the serve tests, in a directory of its own (no global install).
    [ -e "$clients_dir/node/node_modules/pg/package.json" ] && return 0
    mkdir -p "$clients_dir/node"
    echo "install_test_servers: npm install pg into $clients_dir/node"
    npm install --silent --no-audit --no-fund --no-update-notifier --prefix "$clients_dir/node" pg@8 >/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)
have_chromium || missing+=(chromium)
have_psql || missing+=(postgresql-client)
have_odbc || missing+=(odbc-postgresql unixodbc unixodbc-dev)
have_jdbc || missing+=(libpostgresql-jdbc-java)
have_java || missing+=(default-jre-headless)
have_node || missing+=(nodejs npm)

if [ ${#missing[@]} -eq 0 ]; then
    install_node_pg
    echo "install_test_servers: the test servers and clients are present"
    exit 0
fi

echo "install_test_servers: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "install_test_servers: not root; install them first, e.g. sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_test_servers: no apt-get here; install ${missing[*]} with this system's package manager" >&2
    exit 1
fi

# Keep the packages' maintainer scripts from starting system services: the tests start their own instances.
# policy-rc.d exit status 101 = "action forbidden" (see /usr/share/doc/init-system-helpers/README.policy-rc.d).
policy=/usr/sbin/policy-rc.d
saved_policy=""
if [ -e "$policy" ]; then
    saved_policy="$(mktemp)"
    cp -p "$policy" "$saved_policy"
fi
restore_policy() {
    if [ -n "$saved_policy" ]; then
        cp -p "$saved_policy" "$policy"
        rm -f "$saved_policy"
    else
        rm -f "$policy"
    fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 0755 "$policy"
echo "install_test_servers: $policy set to 'exit 101' during the install so no service is started (restored afterwards)"

export DEBIAN_FRONTEND=noninteractive
apt_log="$(mktemp)"
echo "install_test_servers: apt-get install ${missing[*]} (log: $apt_log)"
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    exit 1
fi

have_postgres || { echo "install_test_servers: PostgreSQL still missing after install" >&2; exit 1; }
have_redis || { echo "install_test_servers: redis-server still missing after install" >&2; exit 1; }
have_chromium || { echo "install_test_servers: /usr/bin/chromium still missing after install" >&2; exit 1; }
have_psql && have_odbc && have_jdbc && have_java && have_node || {
    echo "install_test_servers: a PostgreSQL test client is still missing after install" >&2
    exit 1
}
install_node_pg
echo "install_test_servers: done"

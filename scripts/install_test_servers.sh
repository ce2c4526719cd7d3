#!/usr/bin/env bash
# Installs the PostgreSQL and Redis server binaries the tests start their own throw-away instances of,
# and Debian's Chromium (/usr/bin/chromium), which the login tests drive headless through Playwright
# (never `playwright install`: the tests use this system browser).
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

missing=()
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)
have_chromium || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install_test_servers: postgresql, redis-server and chromium are present"
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
echo "install_test_servers: apt-get update"
apt-get update
echo "install_test_servers: apt-get install -y --no-install-recommends ${missing[*]}"
apt-get install -y --no-install-recommends "${missing[@]}"

have_postgres || { echo "install_test_servers: PostgreSQL still missing after install" >&2; exit 1; }
have_redis || { echo "install_test_servers: redis-server still missing after install" >&2; exit 1; }
have_chromium || { echo "install_test_servers: /usr/bin/chromium still missing after install" >&2; exit 1; }
echo "install_test_servers: done"

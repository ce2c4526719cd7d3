#!/usr/bin/env bash
# Installs exactsql with its test tools into .venv and runs the checks and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_test_servers.sh  # PostgreSQL and Redis binaries for the state store tests (no services)
python3 -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
pip install --quiet -e '.[dev]'
ruff check src tests benchmarks scripts
ruff format --check src tests benchmarks scripts
mypy
pytest -q "$@"

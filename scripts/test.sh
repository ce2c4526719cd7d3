#!/usr/bin/env bash
# Installs exactsql with its test tools into .venv and runs the checks and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
pip install --quiet -e '.[dev]'
ruff check src tests benchmarks scripts
mypy
pytest -q "$@"

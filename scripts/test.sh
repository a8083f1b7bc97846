#!/usr/bin/env bash
# Lint and the whole test suite (time-skipping and dev servers come from PyPI packages).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/pytest "$@"

#!/usr/bin/env bash
# The whole service on this machine: Temporal dev server (SQLite file in ./data), worker and API.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python embedded.py

#!/usr/bin/env bash
# Creates .venv and installs the project with its test tools; reinstalls only when pyproject changes
# (and axe-core in tests/a11y only when its lock file changes).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=$(command -v python3.11 || command -v python3)
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
# axe-core for the accessibility test (tests/a11y, from npm; the browser is Debian's Chromium):
# `npm ci` again only when its lock file changes; without npm that test skips.
lock=tests/a11y/package-lock.json
if command -v npm >/dev/null; then
    npm_stamp="tests/a11y/node_modules/.installed-$(sha256sum "$lock" | cut -c1-16)"
    if [ ! -f "$npm_stamp" ]; then
        if (cd tests/a11y && npm ci --silent --no-audit --no-fund --ignore-scripts); then
            touch "$npm_stamp"
        else
            echo "setup: npm ci failed in tests/a11y; the accessibility test will skip." >&2
        fi
    fi
else
    echo "setup: npm not found; the accessibility test (axe-core from npm) will skip." >&2
fi

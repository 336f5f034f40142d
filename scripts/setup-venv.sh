#!/usr/bin/env bash
# Create (or reuse) ./.venv and install ratwatch into it NON-editably, so a
# file missing from the package data fails here exactly as it would for a user.
# Usage: scripts/setup-venv.sh [EXTRAS]   e.g. scripts/setup-venv.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check "$spec"
# Always reinstall the project itself from the current sources (not the cached wheel).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall .

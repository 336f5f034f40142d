#!/usr/bin/env bash
# One command for a newcomer: install ratwatch into ./.venv and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec .venv/bin/ratwatch-collector serve "$@"

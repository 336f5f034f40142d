#!/usr/bin/env bash
# One command for a newcomer: install ratwatch into ./.venv and run the demo
# (a scripted scam through a real agent and a real collector, < 1 minute;
# everything it writes goes to one temporary directory it removes at the end).
# Extra arguments go to `ratwatch-agent demo` (e.g. --dialog console, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec .venv/bin/ratwatch-agent demo "$@"

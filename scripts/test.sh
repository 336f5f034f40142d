#!/usr/bin/env bash
# Set up everything the tests need from the project's own files, then run
# the linters and the test suite. This is the README's test command and
# what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools for the real-window tests (Tk on a virtual display).
if ! command -v Xvfb >/dev/null 2>&1 || ! command -v xdotool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xdotool x11-utils >/dev/null
  else
    echo "note: Xvfb/xdotool missing and not root: the Tk tests will be skipped" >&2
  fi
fi

# A real PostgreSQL for the collector's PostgreSQL store tests (the suite
# starts its own throwaway cluster as an unprivileged user).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "note: PostgreSQL missing and not root: its tests will be skipped" >&2
  fi
fi
if [ -n "${CI:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "error: CI needs PostgreSQL for the collector store tests, and it could not be installed" >&2
  exit 1
fi

if [ -n "${CI:-}" ] && ! command -v Xvfb >/dev/null 2>&1; then
  echo "error: CI needs Xvfb for the real-window tests, and it could not be installed" >&2
  exit 1
fi

bash scripts/setup-venv.sh dev
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check agent collector tests bench proto ratwatch_config
echo "== mypy (strict)"
mypy
echo "== pytest"
pytest -q

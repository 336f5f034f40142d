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

# Real browsers, from Debian's packages: chromium for the dashboard tests, driven
# by Playwright (which launches /usr/bin/chromium and never downloads a browser of
# its own) and chromedriver; chromium and firefox-esr for the browser-sensor tests
# (tests/end_to_end/test_real_browsers.py: headless, fresh profiles).
missing_browsers() {
  [ ! -x /usr/bin/chromium ] && return 0
  for t in chromium chromedriver firefox-esr; do command -v "$t" >/dev/null 2>&1 || return 0; done
  return 1
}
if missing_browsers; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver firefox-esr >/dev/null
  else
    echo "note: chromium/chromium-driver/firefox-esr missing and not root: the dashboard and real-browser tests will be skipped" >&2
  fi
fi
if [ -n "${CI:-}" ] && missing_browsers; then
  echo "error: CI needs chromium, chromium-driver and firefox-esr for the dashboard and real-browser tests, and they could not be installed" >&2
  exit 1
fi

# Pango for WeasyPrint (the report's PDF).
if ! ldconfig -p | grep -q libpangoft2-1.0; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null
  elif [ -n "${CI:-}" ]; then
    echo "error: CI needs Pango (libpangoft2-1.0) for the report's PDF test" >&2
    exit 1
  fi
fi

# Real remote-desktop servers and a real VNC viewer for the remote-tool journeys
# (tests/end_to_end/test_remote_tools.py): TigerVNC (Xtigervnc, x0vncserver,
# vncviewer) and x11vnc, from Debian's packages.
REMOTE_TOOLS="Xtigervnc x0vncserver X0tigervnc xtigervncviewer x11vnc"
missing_remote() {
  for t in $REMOTE_TOOLS; do command -v "$t" >/dev/null 2>&1 || return 0; done
  return 1
}
if missing_remote; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tigervnc-standalone-server \
      tigervnc-scraping-server tigervnc-viewer x11vnc >/dev/null
  else
    echo "note: TigerVNC/x11vnc missing and not root: the remote-tool tests will be skipped" >&2
  fi
fi
if [ -n "${CI:-}" ] && missing_remote; then
  echo "error: CI needs $REMOTE_TOOLS for the remote-tool tests, and they could not be installed" >&2
  exit 1
fi

# A real session bus for the phone sensor's tests (dbus-daemon, Debian package dbus).
if ! command -v dbus-daemon >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dbus >/dev/null
  else
    echo "note: dbus-daemon missing and not root: the phone tests will be skipped" >&2
  fi
fi

if [ -n "${CI:-}" ] && ! command -v dbus-daemon >/dev/null 2>&1; then
  echo "error: CI needs dbus-daemon for the phone tests, and it could not be installed" >&2
  exit 1
fi

bash scripts/setup-venv.sh dev
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check agent collector tests bench proto ratwatch_config
echo "== import-linter (layers)"
lint-imports --no-cache
echo "== mypy (strict)"
mypy
echo "== pytest"
pytest -q

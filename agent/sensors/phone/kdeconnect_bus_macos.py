"""KDE Connect's private bus on macOS, found as its own ``core/dbushelper.cpp`` publishes it.

The macOS build starts ``dbus-daemon --print-address --nofork --address
unix:tmpdir=/tmp`` with its output in ``/tmp/private_dbus_address`` and sets
``DBUS_LAUNCHD_SESSION_BUS_SOCKET`` in launchd to the socket path it parsed
from that address (``/tmp/dbus-XXXX``). We ask launchd first (what KDE
Connect's own tools use), then read the file's first non-empty line.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ADDRESS_FILE = Path("/tmp/private_dbus_address")  # noqa: S108 - KDE Connect's fixed location
LAUNCHD_KEY = "DBUS_LAUNCHD_SESSION_BUS_SOCKET"
_SOCKET = re.compile(r"^/tmp/dbus-[A-Za-z0-9]+$")


def from_address_file(text: str) -> str | None:
    """The address in the file's first non-empty line, if it is a unix socket address."""
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            return line if line.startswith("unix:") else None
    return None


def from_launchd(value: str) -> str | None:
    """``launchctl getenv`` gives a socket path; as an address."""
    path = value.strip()
    return f"unix:path={path}" if _SOCKET.match(path) else None


def private_bus_address() -> str | None:
    """KDE Connect's bus address on this Mac, or None when it is not running."""
    try:
        out = subprocess.run(
            ["launchctl", "getenv", LAUNCHD_KEY],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    found = from_launchd(out)
    if found is not None:
        return found
    try:
        return from_address_file(ADDRESS_FILE.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None

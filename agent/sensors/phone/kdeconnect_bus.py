"""Where KDE Connect's D-Bus is: the session bus on Linux, its private bus elsewhere.

On Linux and the BSDs KDE Connect uses the desktop session bus
(``DBUS_SESSION_BUS_ADDRESS``, else systemd's ``$XDG_RUNTIME_DIR/bus``). On
macOS it starts a private ``dbus-daemon`` and publishes the address the way
``core/dbushelper.cpp`` does (``kdeconnect_bus_macos``); on Windows its
``dbus-daemon.exe`` publishes it in named shared memory, as libdbus'
autolaunch does (``kdeconnect_bus_windows``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dbus_fast.auth import UID_NOT_SPECIFIED, AuthExternal


def address() -> str | None:
    """The bus address to try now, or None when there is none."""
    env = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "").strip()
    if env:
        return env
    if sys.platform == "darwin":
        from agent.sensors.phone.kdeconnect_bus_macos import private_bus_address

        return private_bus_address()
    if sys.platform == "win32":
        from agent.sensors.phone.kdeconnect_bus_windows import private_bus_address

        return private_bus_address()
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    socket = Path(runtime) / "bus"
    return f"unix:path={socket}" if socket.exists() else None


def auth() -> AuthExternal:
    """EXTERNAL authentication; on Windows the bus asks the OS who we are (no uid there)."""
    if sys.platform == "win32":
        return AuthExternal(UID_NOT_SPECIFIED)
    return AuthExternal()

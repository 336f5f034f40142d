"""Where a downloaded file came from, as the OS recorded it, behind one interface.

Browsers tag downloads with their source, each OS its own way:
- Windows: the ``Zone.Identifier`` alternate data stream (an INI text with
  ``[ZoneTransfer]`` ``HostUrl=``), see ``agent.sensors.downloads.origin_windows``;
- macOS: the ``com.apple.metadata:kMDItemWhereFroms`` attribute, or the
  ``com.apple.quarantine`` attribute's event id looked up in the
  LaunchServices quarantine database, see ``agent.sensors.downloads.origin_macos``;
- Linux: the ``user.xdg.origin.url`` extended attribute (freedesktop.org's
  convention, written by Chromium and others), see ``agent.sensors.downloads.origin_linux``.

The per-OS readers are picked from ``ORIGIN_READERS`` and imported only on
their OS. The URL (and its host) stays on the PC: it goes into the local
event only, never into a log line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from agent.catalogue.model import Tool
from agent.identify.hosts import host_matches

OriginReader = Callable[[Path], "str | None"]

def _windows() -> OriginReader:
    from agent.sensors.downloads.origin_windows import read_origin

    return read_origin


def _macos() -> OriginReader:
    from agent.sensors.downloads.origin_macos import read_origin

    return read_origin


def _linux() -> OriginReader:
    from agent.sensors.downloads.origin_linux import read_origin

    return read_origin


# OS name (as agent.platform.current_os names it) -> lazy factory of its reader.
ORIGIN_READERS: dict[str, Callable[[], OriginReader]] = {
    "windows": _windows,
    "macos": _macos,
    "linux": _linux,
}


def reader_for(os_name: str) -> OriginReader:
    """The origin reader of ``os_name``; one that knows nothing for an unknown OS."""
    factory = ORIGIN_READERS.get(os_name)
    return (lambda _path: None) if factory is None else factory()


def origin_host(url: str | None) -> str | None:
    """The lower-case host of a recorded origin URL (None for none, or "about:internet")."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def from_vendor(host: str | None, tool: Tool) -> bool | None:
    """Whether ``host`` is one of the tool's own download hosts (None = cannot tell)."""
    if host is None or not tool.vendor_hosts:
        return None
    return host_matches(host, tool.vendor_hosts)

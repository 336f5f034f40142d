"""Which OS this is, and the person's own folders, as every layer of the agent names them.

One place for the OS family ("windows", "macos", "linux": the names the
catalogue and the per-OS module registries use; other POSIX desktops count as
linux) and for the Downloads and Desktop folders the OS reports (possibly
localised or redirected, which is why platformdirs asks the OS).
"""

from __future__ import annotations

import sys

import platformdirs

from agent.events import PathClass


def current_os() -> str:
    """The running OS as the catalogue names it: "windows", "macos" or "linux"."""
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def user_dirs() -> dict[PathClass, list[str]]:
    """The OS's own (possibly localised or redirected) Downloads and Desktop folders."""
    return {
        PathClass.DOWNLOADS: [platformdirs.user_downloads_dir()],
        PathClass.DESKTOP: [platformdirs.user_desktop_dir()],
    }

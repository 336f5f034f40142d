"""Where browsers keep their history databases, per OS, as a table of data.

Each row names a browser, an OS, a base folder (the home directory, or on
Windows %LOCALAPPDATA% / %APPDATA%) and a glob below it. Chromium-based
browsers keep one ``History`` file per profile folder (``Default``,
``Profile 1``, ...); Firefox one ``places.sqlite`` per profile. Snap and
Flatpak installs on Linux keep theirs under their own sandbox folders.
Adding a browser is a new row here, nothing else.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProfileLocation:
    """One place a browser keeps history databases."""

    browser: str  # "chrome", "edge", "brave", "chromium", "firefox"
    os_name: str  # "windows", "macos", "linux"
    base: str  # "home", "localappdata" or "appdata"
    pattern: str  # glob below the base, "/"-separated


_MAC = "Library/Application Support"

PROFILE_LOCATIONS: tuple[ProfileLocation, ...] = (
    # Windows
    ProfileLocation("chrome", "windows", "localappdata", "Google/Chrome/User Data/*/History"),
    ProfileLocation("edge", "windows", "localappdata", "Microsoft/Edge/User Data/*/History"),
    ProfileLocation(
        "brave", "windows", "localappdata", "BraveSoftware/Brave-Browser/User Data/*/History"
    ),
    ProfileLocation("chromium", "windows", "localappdata", "Chromium/User Data/*/History"),
    ProfileLocation("firefox", "windows", "appdata", "Mozilla/Firefox/Profiles/*/places.sqlite"),
    # macOS
    ProfileLocation("chrome", "macos", "home", f"{_MAC}/Google/Chrome/*/History"),
    ProfileLocation("edge", "macos", "home", f"{_MAC}/Microsoft Edge/*/History"),
    ProfileLocation("brave", "macos", "home", f"{_MAC}/BraveSoftware/Brave-Browser/*/History"),
    ProfileLocation("chromium", "macos", "home", f"{_MAC}/Chromium/*/History"),
    ProfileLocation("firefox", "macos", "home", f"{_MAC}/Firefox/Profiles/*/places.sqlite"),
    # Linux (native packages, then Snap and Flatpak sandboxes)
    ProfileLocation("chrome", "linux", "home", ".config/google-chrome/*/History"),
    ProfileLocation("edge", "linux", "home", ".config/microsoft-edge/*/History"),
    ProfileLocation("brave", "linux", "home", ".config/BraveSoftware/Brave-Browser/*/History"),
    ProfileLocation("chromium", "linux", "home", ".config/chromium/*/History"),
    ProfileLocation("firefox", "linux", "home", ".mozilla/firefox/*/places.sqlite"),
    ProfileLocation("chromium", "linux", "home", "snap/chromium/common/chromium/*/History"),
    ProfileLocation(
        "firefox", "linux", "home", "snap/firefox/common/.mozilla/firefox/*/places.sqlite"
    ),
    ProfileLocation(
        "chrome", "linux", "home", ".var/app/com.google.Chrome/config/google-chrome/*/History"
    ),
    ProfileLocation(
        "brave",
        "linux",
        "home",
        ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser/*/History",
    ),
    ProfileLocation(
        "firefox", "linux", "home", ".var/app/org.mozilla.firefox/.mozilla/firefox/*/places.sqlite"
    ),
)


@dataclass(frozen=True)
class HistoryFile:
    """A history database found on this PC, and which browser it belongs to."""

    browser: str
    path: Path


def _base_dir(base: str, *, home: Path, env: Mapping[str, str]) -> Path | None:
    if base == "home":
        return home
    var = {"localappdata": "LOCALAPPDATA", "appdata": "APPDATA"}[base]
    value = env.get(var, "")
    return Path(value) if value else None


def default_history_files(os_name: str, *, home: Path, env: Mapping[str, str]) -> list[HistoryFile]:
    """The history databases of the default browser profiles that exist right now."""
    found: list[HistoryFile] = []
    for loc in PROFILE_LOCATIONS:
        if loc.os_name != os_name:
            continue
        base = _base_dir(loc.base, home=home, env=env)
        if base is None:
            continue
        pattern = str(base / Path(*loc.pattern.split("/")))
        for match in sorted(glob.glob(glob.escape(str(base)) + pattern[len(str(base)) :])):
            path = Path(match)
            if path.is_file():
                found.append(HistoryFile(loc.browser, path))
    return found

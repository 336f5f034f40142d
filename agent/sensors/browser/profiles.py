"""Where browsers keep their history databases, per OS, as a table of data.

Each row names a browser, an OS, a base folder (the home directory, or on
Windows %LOCALAPPDATA% / %APPDATA%) and a glob below it. Chromium-based
browsers keep one ``History`` file per profile folder (``Default``,
``Profile 1``, ...); Firefox one ``places.sqlite`` per profile, in the
folders its ``profiles.ini`` names (a profile can live anywhere) and the
usual ones beside it. Snap and Flatpak installs on Linux keep theirs under
their own sandbox folders. Adding a browser is a new row here, nothing else.
"""

from __future__ import annotations

import configparser
import glob
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProfileLocation:
    """One place a browser keeps history databases."""

    browser: str  # "chrome", "edge", "brave", "chromium", "firefox"
    os_name: str  # "windows", "macos", "linux"
    base: str  # "home", "xdgconfig" (Linux), "localappdata" or "appdata" (Windows)
    pattern: str  # glob below the base, "/"-separated


_MAC = "Library/Application Support"

# Chromium-based browsers on Linux keep their profiles below $XDG_CONFIG_HOME
# ("xdgconfig", ~/.config when unset); a Snap's home is ~/snap/<name>/current
# (its $SNAP_USER_DATA) or, for data kept across revisions, ~/snap/<name>/common;
# a Flatpak's config folder is ~/.var/app/<app id>/config.
_LINUX_CHROMIUM: tuple[tuple[str, str], ...] = (
    ("chrome", "google-chrome"),
    ("chrome", "google-chrome-beta"),
    ("chrome", "google-chrome-unstable"),
    ("chromium", "chromium"),
    ("edge", "microsoft-edge"),
    ("edge", "microsoft-edge-beta"),
    ("edge", "microsoft-edge-dev"),
    ("brave", "BraveSoftware/Brave-Browser"),
)
_FLATPAK_CHROMIUM: tuple[tuple[str, str, str], ...] = (
    ("chrome", "com.google.Chrome", "google-chrome"),
    ("chromium", "org.chromium.Chromium", "chromium"),
    ("edge", "com.microsoft.Edge", "microsoft-edge"),
    ("brave", "com.brave.Browser", "BraveSoftware/Brave-Browser"),
)

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
    # Linux: native packages, then Snap and Flatpak sandboxes.
    *(ProfileLocation(b, "linux", "xdgconfig", f"{d}/*/History") for b, d in _LINUX_CHROMIUM),
    ProfileLocation("chromium", "linux", "home", "snap/chromium/common/chromium/*/History"),
    ProfileLocation(
        "chromium", "linux", "home", "snap/chromium/current/.config/chromium/*/History"
    ),
    ProfileLocation(
        "brave", "linux", "home", "snap/brave/current/.config/BraveSoftware/Brave-Browser/*/History"
    ),
    *(
        ProfileLocation(b, "linux", "home", f".var/app/{app}/config/{d}/*/History")
        for b, app, d in _FLATPAK_CHROMIUM
    ),
    # Firefox: its profile folders below each root in FIREFOX_ROOTS (globbed
    # here, and wherever that root's profiles.ini points).
)


@dataclass(frozen=True)
class FirefoxRoot:
    """A folder holding Firefox's profiles.ini and (usually) its profile folders."""

    os_name: str
    base: str  # as ProfileLocation.base
    folder: str  # below the base, "/"-separated
    profiles_glob: str  # the profile folders below the root, "/"-separated


FIREFOX_ROOTS: tuple[FirefoxRoot, ...] = (
    FirefoxRoot("windows", "appdata", "Mozilla/Firefox", "Profiles/*"),
    FirefoxRoot("macos", "home", f"{_MAC}/Firefox", "Profiles/*"),
    # Firefox's XDG location (new profiles from Firefox 147 on, honouring
    # $XDG_CONFIG_HOME), then the legacy ~/.mozilla/firefox.
    FirefoxRoot("linux", "xdgconfig", "mozilla/firefox", "*"),
    FirefoxRoot("linux", "home", ".mozilla/firefox", "*"),
    FirefoxRoot("linux", "home", "snap/firefox/common/.mozilla/firefox", "*"),
    FirefoxRoot("linux", "home", "snap/firefox/current/.config/mozilla/firefox", "*"),
    FirefoxRoot("linux", "home", ".var/app/org.mozilla.firefox/.mozilla/firefox", "*"),
    FirefoxRoot("linux", "home", ".var/app/org.mozilla.firefox/config/mozilla/firefox", "*"),
)


@dataclass(frozen=True)
class HistoryFile:
    """A history database found on this PC, and which browser it belongs to."""

    browser: str
    path: Path


def _base_dir(base: str, *, home: Path, env: Mapping[str, str]) -> Path | None:
    if base == "home":
        return home
    if base == "xdgconfig":
        # The XDG spec: an unset, empty or relative $XDG_CONFIG_HOME means ~/.config.
        value = env.get("XDG_CONFIG_HOME", "")
        return Path(value) if value and Path(value).is_absolute() else home / ".config"
    var = {"localappdata": "LOCALAPPDATA", "appdata": "APPDATA"}[base]
    value = env.get(var, "")
    return Path(value) if value else None


def _glob(base: Path, pattern: str) -> list[Path]:
    """``pattern`` ("/"-separated) below ``base``, whose own name is taken literally."""
    return [Path(m) for m in sorted(glob.glob(glob.escape(str(base)) + "/" + pattern))]


def firefox_profiles_ini(root: Path) -> list[Path]:
    """The profile folders a Firefox profiles.ini names (relative to ``root`` or absolute).

    The file is the browser's, so it is read as hostile input: an unreadable
    or malformed file names no profiles (the glob still finds the usual ones).
    """
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        with (root / "profiles.ini").open(encoding="utf-8", errors="replace") as fh:
            parser.read_file(fh)
    except (OSError, configparser.Error):
        return []
    found = []
    for name in parser.sections():
        if not name.startswith("Profile"):
            continue
        raw = parser.get(name, "Path", fallback="").strip()
        if not raw:
            continue
        relative = parser.get(name, "IsRelative", fallback="1").strip() != "0"
        found.append(root / Path(*raw.split("/")) if relative else Path(raw))
    return found


def default_history_files(os_name: str, *, home: Path, env: Mapping[str, str]) -> list[HistoryFile]:
    """The history databases of the default browser profiles that exist right now."""
    candidates: list[HistoryFile] = []
    for loc in PROFILE_LOCATIONS:
        base = _base_dir(loc.base, home=home, env=env) if loc.os_name == os_name else None
        if base is not None:
            candidates.extend(HistoryFile(loc.browser, p) for p in _glob(base, loc.pattern))
    for ff in FIREFOX_ROOTS:
        base = _base_dir(ff.base, home=home, env=env) if ff.os_name == os_name else None
        if base is None:
            continue
        root = base / Path(*ff.folder.split("/"))
        folders = [*_glob(root, ff.profiles_glob), *firefox_profiles_ini(root)]
        candidates.extend(HistoryFile("firefox", f / "places.sqlite") for f in folders)
    found: list[HistoryFile] = []
    seen: set[Path] = set()
    for hf in candidates:
        try:
            if not hf.path.is_file():
                continue
            real = hf.path.resolve()
        except OSError:
            continue
        if real not in seen:  # a profile listed in profiles.ini and globbed, or a symlink
            seen.add(real)
            found.append(hf)
    return found

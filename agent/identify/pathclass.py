"""Where an executable lives, coarsely: downloads, temp, desktop, program files, system.

Scam tools are typically portable executables started straight from Downloads
(or from a temp folder, when opened inside a zip), while a long-installed tool
runs from Program Files. The correlator only needs this coarse class.

Rules are per OS and work on path *strings* only (no file system access), so
Windows and macOS rules are tested on Linux. Each rule is a sequence of folder
patterns (``*`` within one component) matched against the start of the
executable's folder; the first class with a matching rule wins, in the order
downloads, desktop, temp, program files, system. Windows and macOS compare
case-insensitively (their default file systems do), Linux case-sensitively.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

from agent.events import PathClass

Rule = tuple[str, ...]

# Folders under a user's profile, relative to it. Localised names are those a
# file manager really creates on disk (Linux XDG dirs, OneDrive known folders);
# Windows' own Downloads/Desktop keep their English names on disk.
_USER_DIRS: dict[PathClass, tuple[Rule, ...]] = {
    PathClass.DOWNLOADS: (("Downloads",),),
    PathClass.DESKTOP: (
        ("Desktop",),
        ("Bureaublad",),  # Dutch XDG / OneDrive desktop
        ("OneDrive*", "Desktop"),
        ("OneDrive*", "Bureaublad"),
    ),
}

_WINDOWS_USER: dict[PathClass, tuple[Rule, ...]] = {
    **_USER_DIRS,
    PathClass.TEMP: (
        ("AppData", "Local", "Temp"),
        # Outlook attachments and legacy IE downloads open from here.
        ("AppData", "Local", "Microsoft", "Windows", "INetCache"),
    ),
    # Per-user installs (e.g. VS Code, Zoom) go here instead of Program Files.
    PathClass.PROGRAM_FILES: (("AppData", "Local", "Programs"),),
}
_WINDOWS_ABSOLUTE: dict[PathClass, tuple[Rule, ...]] = {
    PathClass.TEMP: (("Windows", "Temp"),),
    PathClass.PROGRAM_FILES: (("Program Files",), ("Program Files (x86)",)),
    PathClass.SYSTEM: (("Windows",),),
}

_MACOS_USER: dict[PathClass, tuple[Rule, ...]] = {
    **_USER_DIRS,
    PathClass.PROGRAM_FILES: (("Applications",),),
}
_MACOS_ABSOLUTE: dict[PathClass, tuple[Rule, ...]] = {
    # Gatekeeper "translocates" a quarantined app started where it was
    # downloaded to a random read-only path; it is a download by definition.
    PathClass.DOWNLOADS: (("private", "var", "folders", "*", "*", "*", "AppTranslocation"),),
    PathClass.TEMP: (
        ("private", "var", "folders"),
        ("var", "folders"),
        ("private", "tmp"),
        ("tmp",),
        ("private", "var", "tmp"),
        ("var", "tmp"),
    ),
    PathClass.PROGRAM_FILES: (("Applications",), ("opt", "homebrew"), ("usr", "local")),
    PathClass.SYSTEM: (
        ("System",),
        ("usr",),
        ("bin",),
        ("sbin",),
        ("Library", "Apple"),
    ),
}

_LINUX_USER: dict[PathClass, tuple[Rule, ...]] = {
    **_USER_DIRS,
    PathClass.PROGRAM_FILES: (
        (".local", "share", "flatpak"),
        (".local", "bin"),
    ),
}
_LINUX_ABSOLUTE: dict[PathClass, tuple[Rule, ...]] = {
    PathClass.TEMP: (("tmp",), ("var", "tmp"), ("dev", "shm"), ("run", "user")),
    PathClass.PROGRAM_FILES: (
        ("opt",),
        ("usr", "local"),
        ("snap",),
        ("var", "lib", "flatpak"),
        ("app",),  # inside a Flatpak sandbox
    ),
    PathClass.SYSTEM: (("usr",), ("bin",), ("sbin",), ("lib",), ("lib64",)),
}

# Where user profiles live, besides ``home`` itself.
_PROFILE_ROOTS: dict[str, tuple[Rule, ...]] = {
    "windows": (("Users", "*"),),
    "macos": (("Users", "*"),),
    "linux": (("home", "*"), ("var", "home", "*"), ("root",)),
}
_RULES: dict[str, tuple[dict[PathClass, tuple[Rule, ...]], dict[PathClass, tuple[Rule, ...]]]] = {
    "windows": (_WINDOWS_USER, _WINDOWS_ABSOLUTE),
    "macos": (_MACOS_USER, _MACOS_ABSOLUTE),
    "linux": (_LINUX_USER, _LINUX_ABSOLUTE),
}
_ORDER = (
    PathClass.DOWNLOADS,
    PathClass.DESKTOP,
    PathClass.TEMP,
    PathClass.PROGRAM_FILES,
    PathClass.SYSTEM,
)

# A Windows path's root: "C:\", "\\?\C:\" (long-path form) or the NT device
# form "\Device\HarddiskVolume3\" that some process APIs return.
_WINDOWS_ROOT = re.compile(r"^(?:\\\\\?\\)?(?:[a-z]:|\\device\\harddiskvolume\d+)\\", re.I)


def split_path(path: str, *, os_name: str) -> tuple[str, ...] | None:
    """Split an absolute path into its components (case-folded where the OS ignores case).

    None for a relative, UNC or otherwise unrooted path, which no rule can place.
    """
    if os_name == "windows":
        text = path.replace("/", "\\")
        root = _WINDOWS_ROOT.match(text)
        if root is None:
            return None
        parts = text[root.end() :].split("\\")
    else:
        if not path.startswith("/"):
            return None
        parts = path.split("/")
    folded = tuple(p for p in parts if p not in ("", "."))
    return tuple(p.casefold() for p in folded) if os_name in ("windows", "macos") else folded


def _component(pattern: str, *, fold: bool, literal: bool = False) -> str:
    """One path component as a regex: ``*`` and ``?`` stay inside the component."""
    text = pattern.casefold() if fold else pattern
    if literal:
        return re.escape(text)
    return "".join("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in text)


def _prefix(parts: Sequence[str], *, fold: bool, literal: bool = False) -> str:
    return "".join(_component(p, fold=fold, literal=literal) + "/" for p in parts)


@functools.lru_cache(maxsize=32)
def _matcher(
    os_name: str, home: str, user_dirs: tuple[tuple[PathClass, tuple[str, ...]], ...]
) -> re.Pattern[str]:
    """All rules of one OS (with this home and these folders) as one anchored regex.

    One named group per class, in priority order: at the start of the string the
    regex engine takes the first alternative that matches, so the order of
    ``_ORDER`` decides between overlapping rules (Downloads inside a profile
    before the profile's temp folder, temp before system).
    """
    user_rules, absolute_rules = _RULES[os_name]
    fold = os_name != "linux"
    profiles = [_prefix(r, fold=fold) for r in _PROFILE_ROOTS[os_name]]
    home_parts = split_path(home, os_name=os_name) if home else None
    if home_parts:
        profiles.append(_prefix(home_parts, fold=False, literal=True))  # already folded
    extra = dict(user_dirs)
    groups = []
    for path_class in _ORDER:
        alternatives = []
        for folder in extra.get(path_class, ()):
            folder_parts = split_path(folder, os_name=os_name)
            if folder_parts:
                alternatives.append(_prefix(folder_parts, fold=False, literal=True))
        for profile in profiles:
            for rule in user_rules.get(path_class, ()):
                alternatives.append(profile + _prefix(rule, fold=fold))
        for rule in absolute_rules.get(path_class, ()):
            alternatives.append(_prefix(rule, fold=fold))
        if alternatives:
            groups.append(f"(?P<{path_class.value}>{'|'.join(alternatives)})")
    return re.compile("|".join(groups))


def classify_path(
    exe: str,
    *,
    os_name: str,
    home: str,
    user_dirs: Mapping[PathClass, Sequence[str]] | None = None,
) -> PathClass:
    """The coarse class of the folder ``exe`` lives in, by ``os_name``'s conventions.

    ``home`` is the current user's profile folder (profiles in the usual place,
    e.g. ``C:\\Users\\*``, are recognised without it). ``user_dirs`` adds
    absolute folders for a class, e.g. the localised XDG Downloads and Desktop
    folders on Linux. Called for every new process, so the rules are compiled
    once per (OS, home, folders) into a single regex.
    """
    if os_name not in _RULES:
        raise ValueError(f"unknown OS {os_name!r}; expected windows, macos or linux")
    parts = split_path(exe, os_name=os_name)
    if not parts:
        return PathClass.OTHER
    key = tuple(sorted((c, tuple(v)) for c, v in (user_dirs or {}).items()))
    # The folders as "a/b/c/" ("/" cannot occur inside a component).
    found = _matcher(os_name, home, key).match("".join(p + "/" for p in parts[:-1]))
    return PathClass(found.lastgroup) if found and found.lastgroup else PathClass.OTHER

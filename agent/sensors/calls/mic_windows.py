"""Microphone use on Windows from the CapabilityAccessManager consent store.

Windows records, per app, when it last started and stopped using the
microphone (the data behind the microphone icon in the taskbar)::

    HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\CapabilityAccessManager\\
        ConsentStore\\microphone\\<package family name>        (Store apps)
        ConsentStore\\microphone\\NonPackaged\\C:#Program Files#Zoom#bin#Zoom.exe

each with QWORD values ``LastUsedTimeStart`` and ``LastUsedTimeStop`` (FILETIME).
An app is using the microphone right now when Start is set and Stop is 0.

The registry is reached through ``RegistryReader``, a two-method seam:
``WinregReader`` is the real one (winreg exists only on Windows); tests use
a reader over a ``.reg`` export fixture.
"""

from __future__ import annotations

import sys
from typing import Protocol

from agent.sensors.calls.mic import MicState

CONSENT_STORE = (
    r"Software\Microsoft\Windows\CurrentVersion\CapabilityAccessManager\ConsentStore\microphone"
)


class RegistryReader(Protocol):
    """Read-only access to HKEY_CURRENT_USER."""

    def subkeys(self, path: str) -> list[str]:
        """Names of the subkeys of ``path`` ([] when the key does not exist)."""

    def value(self, path: str, name: str) -> object:
        """The named value of ``path`` (None when the key or value does not exist)."""


class WinregReader:
    """The real registry, through the standard library's winreg (Windows only)."""

    def subkeys(self, path: str) -> list[str]:
        """Names of the subkeys of ``path``."""
        if sys.platform != "win32":
            return []
        import winreg

        names: list[str] = []
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, path) as key:
                i = 0
                while True:
                    try:
                        names.append(winreg.EnumKey(key, i))
                    except OSError:
                        return names  # no more subkeys
                    i += 1
        except OSError:
            return names

    def value(self, path: str, name: str) -> object:
        """The named value of ``path``."""
        if sys.platform != "win32":
            return None
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, path) as key:
                data, _kind = winreg.QueryValueEx(key, name)
                return data
        except OSError:
            return None


def _in_use(reader: RegistryReader, path: str) -> bool:
    start = reader.value(path, "LastUsedTimeStart")
    stop = reader.value(path, "LastUsedTimeStop")
    return isinstance(start, int) and start > 0 and stop == 0


def app_name(subkey: str) -> str:
    """A consent-store subkey as an app name: the exe file name, or the package name."""
    # Non-packaged apps are keyed by their full path with "\" written as "#".
    return subkey.replace("#", "\\").rsplit("\\", 1)[-1].lower()


class ConsentStoreProbe:
    """Reads which apps Windows marks as using the microphone now."""

    def __init__(self, reader: RegistryReader | None = None) -> None:
        self._reader = reader or WinregReader()

    def state(self) -> MicState:
        """Capturing when any app's entry has a start time and no stop time."""
        apps: list[str] = []
        for sub in self._reader.subkeys(CONSENT_STORE):
            if sub.lower() == "nonpackaged":  # registry names are case-insensitive
                base = f"{CONSENT_STORE}\\NonPackaged"
                apps.extend(
                    app_name(exe)
                    for exe in self._reader.subkeys(base)
                    if _in_use(self._reader, f"{base}\\{exe}")
                )
            elif _in_use(self._reader, f"{CONSENT_STORE}\\{sub}"):
                apps.append(app_name(sub))
        return MicState(capturing=bool(apps), apps=tuple(sorted(apps)))

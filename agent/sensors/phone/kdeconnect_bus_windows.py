"""KDE Connect's private bus on Windows, found the way libdbus' autolaunch finds it.

KDE Connect for Windows ships its own ``dbus-daemon.exe`` (started by the
indicator, ``indicator/indicatorhelper_win.cpp``) whose session config
listens on ``autolaunch:scope=*install-path``: the daemon writes its
``tcp:`` address into a named shared-memory section
``Local\\DBusDaemonAddressInfo-<sha1 of its install root>``, where the
install root is the folder of ``dbus-daemon.exe`` without a trailing
``bin\\``, lower-cased, ending in a backslash. An unscoped section
``DBusDaemonAddressInfo`` (older builds) is tried last.

Only ``read_section`` touches a Windows API; it cannot run here, so the
tests cover the naming and the parsing and say so.
"""

from __future__ import annotations

import hashlib
import sys

import psutil

DAEMON_EXE = "dbus-daemon.exe"
SECTION = "DBusDaemonAddressInfo"
MAX_SECTION_BYTES = 4096


def install_root_hash(daemon_exe: str) -> str:
    """The scope hash libdbus derives from ``C:\\...\\KDE Connect\\bin\\dbus-daemon.exe``."""
    folder = daemon_exe.replace("/", "\\").rsplit("\\", 1)[0] + "\\"
    if folder.lower().endswith("\\bin\\"):
        folder = folder[: -len("bin\\")]
    return hashlib.sha1(folder.lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def section_names(daemon_exes: list[str]) -> list[str]:
    """Shared-memory names to try, scoped ones first."""
    names = [f"Local\\{SECTION}-{install_root_hash(exe)}" for exe in daemon_exes]
    return [*dict.fromkeys(names), SECTION]


def parse_section(data: bytes) -> str | None:
    """The address up to the first NUL, if it is a tcp/nonce-tcp address."""
    text = data.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()
    return text if text.startswith(("tcp:", "nonce-tcp:")) else None


def _daemon_exes() -> list[str]:
    exes: list[str] = []
    for proc in psutil.process_iter(["name", "exe"]):
        if (proc.info.get("name") or "").lower() == DAEMON_EXE and proc.info.get("exe"):
            exes.append(str(proc.info["exe"]))
    return exes


def read_section(name: str) -> bytes | None:  # pragma: no cover - Windows only
    """The bytes of an existing named section (never creates one)."""
    if sys.platform != "win32":
        return None
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenFileMappingW.restype = wintypes.HANDLE
    kernel32.OpenFileMappingW.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.LPCWSTR]
    kernel32.MapViewOfFile.restype = ctypes.c_void_p
    kernel32.MapViewOfFile.argtypes = [
        wintypes.HANDLE,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.DWORD,
        ctypes.c_size_t,
    ]
    file_map_read = 0x0004
    handle = kernel32.OpenFileMappingW(file_map_read, False, name)
    if not handle:
        return None
    try:
        view = kernel32.MapViewOfFile(handle, file_map_read, 0, 0, 0)
        if not view:
            return None
        try:
            return ctypes.string_at(view, MAX_SECTION_BYTES)
        finally:
            kernel32.UnmapViewOfFile(ctypes.c_void_p(view))
    finally:
        kernel32.CloseHandle(handle)


def private_bus_address() -> str | None:
    """KDE Connect's bus address on this PC, or None when it is not running."""
    for name in section_names(_daemon_exes()):
        data = read_section(name)
        if data:
            found = parse_section(data)
            if found is not None:
                return found
    return None

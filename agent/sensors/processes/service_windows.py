"""Windows: was a process started by the Service Control Manager?

Every service is a child of ``services.exe``, and services (with whatever
they start themselves) run in session 0, where no person is logged in since
Windows Vista; a person's programs run in their own session (1 and up),
whoever their parent is. So: the parent is services.exe, or the process is in
session 0. ``ProcessIdToSessionId`` (kernel32) reads the session; it is
passed in as ``session_id`` so the rule is tested on every OS.
"""

from __future__ import annotations

from collections.abc import Callable

SessionId = Callable[[int], "int | None"]


def session_id(pid: int) -> int | None:  # pragma: no cover - Windows only
    """The Terminal Services session of ``pid`` (0 = services), None when unreadable."""
    import ctypes
    from ctypes import wintypes

    out = wintypes.DWORD()
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    if not kernel32.ProcessIdToSessionId(wintypes.DWORD(pid), ctypes.byref(out)):
        return None  # access denied (a protected process) or gone
    return int(out.value)


def started_by_service(*, pid: int, parent_name: str, session: SessionId) -> bool:
    """Whether the Service Control Manager started it (directly, or a service did)."""
    if parent_name.lower() == "services.exe":
        return True
    return session(pid) == 0

"""macOS: was a process started by launchd as a system daemon, not as a person's agent?

launchd (pid 1) is the parent of *every* app, including those a person opens
in Finder, so the parent says nothing. What it started a job for does:
a LaunchDaemon runs in the ``system`` domain; a LaunchAgent, a login item
or an app runs in the person's ``gui/UID`` (or ``user/UID``) domain. launchd
tells us through ``launchctl procinfo PID`` (a line ``domain = ...``; it
needs root, which a deployed agent's LaunchDaemon has). When it cannot be
read, a process of root whose parent is launchd counts (daemons run as root;
a person's apps do not). ``procinfo`` is passed in so the rule is tested on
every OS with the text launchctl prints; this machine has no launchd.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

ProcInfo = Callable[[int], "str | None"]

_DOMAIN = re.compile(r"^\s*domain\s*=\s*(\S+)", re.MULTILINE)


def procinfo(pid: int) -> str | None:  # pragma: no cover - macOS only
    """``launchctl procinfo PID`` output, or None (not root, not a launchd job, timeout)."""
    try:
        done = subprocess.run(
            ["/bin/launchctl", "procinfo", str(pid)],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def launch_domain(text: str | None) -> str | None:
    """The launchd domain named in procinfo output ("system", "gui/501", ...)."""
    if not text:
        return None
    m = _DOMAIN.search(text)
    return m.group(1) if m else None


def started_by_service(*, pid: int, ppid: int, uid: int | None, info: ProcInfo) -> bool:
    """Whether launchd started it as a LaunchDaemon (the system domain)."""
    if ppid != 1:
        return False
    domain = launch_domain(info(pid))
    if domain is not None:
        return domain == "system" or domain.startswith("system/")
    return uid == 0

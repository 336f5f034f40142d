"""Linux: was a process started by the system's service manager? Its cgroup says so.

systemd puts every process it starts into the cgroup of its unit, and a
process keeps its cgroup across fork, ``setsid``, double forks and the death
of its parent. So ``/proc/PID/cgroup`` tells a service (``/system.slice/
NAME.service``) from anything started in a person's login
(``/user.slice/user-1000.slice/session-2.scope``, or the user manager's
``user@1000.service/app.slice/...``), however it was detached: a tool started
with ``setsid`` from a shell that then exits has parent pid 1, yet is still in
the session's scope. The parent pid says nothing, so it is not used.

Lines: ``0::/path`` (cgroup v2, unified) or ``N:name=systemd:/path`` (v1, the
systemd hierarchy). Without a systemd path (another init system, or a
container whose cgroups show ``/``) nothing can be read from it; then only a
process whose parent is init and that started within ``BOOT_WINDOW_SECONDS``
of boot counts (init scripts start services at boot; a detached start later
does not). The user's own systemd manager (``systemctl --user``) is not the
*system's* service manager: what runs under it was set up by the person, or
by whoever got them to type a command.
"""

from __future__ import annotations

from pathlib import Path

BOOT_WINDOW_SECONDS = 300.0


def read_cgroup(pid: int) -> str | None:
    """The text of /proc/PID/cgroup, or None when it cannot be read."""
    try:
        return Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def systemd_path(text: str) -> str | None:
    """The systemd cgroup path in a /proc/PID/cgroup text ("0::/..." or "name=systemd")."""
    unified = None
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if controllers == "name=systemd":
            return path.strip()
        if hierarchy == "0" and controllers == "":
            unified = path.strip()
    return unified


def system_service(path: str | None) -> bool | None:
    """True for the system manager's units, False for a login's, None when unknown."""
    if not path or path == "/":
        return None
    top = path.strip("/").split("/", 1)[0]
    if top in ("system.slice", "init.scope"):
        return True
    if top == "user.slice":
        return False
    return None  # a container's or virtual machine's own tree (docker, lxc, machine.slice)


def started_by_service(
    *, pid: int, ppid: int, create_time: float, boot_time: float, cgroup: str | None
) -> bool:
    """Whether systemd's system instance (or, without systemd, init at boot) started it."""
    verdict = system_service(systemd_path(cgroup) if cgroup is not None else None)
    if verdict is not None:
        return verdict
    return ppid == 1 and 0 <= create_time - boot_time <= BOOT_WINDOW_SECONDS

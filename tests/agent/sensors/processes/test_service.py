"""Started by the OS service manager, or by anything else (a detached start is not a service).

Linux runs for real here (this process's own cgroup file; the detached start
of a real x11vnc is in tests/end_to_end/test_remote_tools.py). Windows'
session id and macOS's ``launchctl procinfo`` cannot exist on this machine:
they are seams, fed the values those APIs return (session numbers; the
``domain = ...`` line launchctl prints).
"""

from __future__ import annotations

import os

import pytest

from agent.sensors.processes import service_linux, service_macos
from agent.sensors.processes.facts import ServiceProbes, started_by_service

BOOT = 1_000_000.0
LATE = BOOT + 3600.0  # an hour after boot
EARLY = BOOT + 30.0

SYSTEM_V2 = "0::/system.slice/x11vnc.service\n"
SESSION_V2 = "0::/user.slice/user-1000.slice/session-3.scope\n"
USER_MANAGER_V2 = (
    "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-x11vnc-1234.scope\n"
)
HYBRID_V1 = (
    "12:pids:/system.slice/xrdp.service\n"
    "1:name=systemd:/system.slice/xrdp.service\n"
    "0::/system.slice/xrdp.service\n"
)
NO_SYSTEMD = "9:name=systemd:/\n8:pids:/\n0::/\n"  # a container (this machine)
DOCKER = "0::/docker/4f1c0ffee\n"


def linux(cgroup: str | None, *, ppid: int = 1, at: float = LATE) -> bool:
    probes = ServiceProbes(cgroup=lambda _pid: cgroup)
    return started_by_service(
        os_name="linux",
        pid=4242,
        ppid=ppid,
        parent_name="systemd",
        create_time=at,
        boot_time=BOOT,
        probes=probes,
    )


@pytest.mark.parametrize(
    ("cgroup", "ppid", "at", "expected"),
    [
        (SYSTEM_V2, 1, LATE, True),  # a system unit, whenever it started
        (SYSTEM_V2, 800, LATE, True),  # ... also forked by the service itself
        (HYBRID_V1, 1, LATE, True),
        (SESSION_V2, 1, LATE, False),  # setsid from a login shell that exited
        (SESSION_V2, 1, EARLY, False),
        (USER_MANAGER_V2, 1, EARLY, False),  # the person's own systemd --user
        (NO_SYSTEMD, 1, LATE, False),  # no cgroup facts: a detached start later on
        (NO_SYSTEMD, 1, EARLY, True),  # ... init's children right after boot
        (NO_SYSTEMD, 700, EARLY, False),
        (DOCKER, 1, LATE, False),
        (None, 1, EARLY, True),  # unreadable: the same boot-time rule
        (None, 1, LATE, False),
    ],
)
def test_linux_uses_the_cgroup_not_the_parent(
    cgroup: str | None, ppid: int, at: float, expected: bool
) -> None:
    assert linux(cgroup, ppid=ppid, at=at) is expected


def test_linux_reads_the_real_cgroup_file() -> None:
    text = service_linux.read_cgroup(os.getpid())
    assert text is not None
    assert service_linux.systemd_path(text) is not None  # v2 "0::" or v1 "name=systemd"
    assert service_linux.read_cgroup(2**22 + 12345) is None  # no such process


def windows(parent: str, session: int | None) -> bool:
    return started_by_service(
        os_name="windows",
        pid=4242,
        ppid=700,
        parent_name=parent,
        create_time=LATE,
        boot_time=BOOT,
        probes=ServiceProbes(session_id=lambda _pid: session),
    )


@pytest.mark.parametrize(
    ("parent", "session", "expected"),
    [
        ("services.exe", 0, True),
        ("SERVICES.EXE", None, True),
        ("TeamViewer_Service.exe", 0, True),  # a service's own child, still in session 0
        ("explorer.exe", 1, False),
        ("cmd.exe", 2, False),  # detached from a console in a person's session
        ("explorer.exe", None, False),  # unreadable session: not a service
    ],
)
def test_windows_uses_the_parent_or_session_0(
    parent: str, session: int | None, expected: bool
) -> None:
    assert windows(parent, session) is expected


DAEMON_INFO = "program path = /Library/PrivilegedHelperTools/tool\n\tdomain = system\n"
AGENT_INFO = (
    "program path = /Applications/Tool.app/Contents/MacOS/tool\n\tdomain = gui/501 [100006]\n"
)


def macos(ppid: int, uid: int | None, info: str | None) -> bool:
    return started_by_service(
        os_name="macos",
        pid=4242,
        ppid=ppid,
        parent_name="launchd",
        create_time=EARLY,
        boot_time=BOOT,
        uid=uid,
        probes=ServiceProbes(procinfo=lambda _pid: info),
    )


@pytest.mark.parametrize(
    ("ppid", "uid", "info", "expected"),
    [
        (1, 0, DAEMON_INFO, True),  # a LaunchDaemon
        (1, 501, AGENT_INFO, False),  # a LaunchAgent or an app, even right after boot
        (1, 0, AGENT_INFO, False),  # the domain decides, not the uid
        (1, 0, None, True),  # procinfo unreadable: root under launchd is a daemon
        (1, 501, None, False),  # an app opened in Finder
        (300, 0, DAEMON_INFO, False),  # not launchd's child (Terminal, sudo)
    ],
)
def test_macos_uses_the_launchd_domain(
    ppid: int, uid: int | None, info: str | None, expected: bool
) -> None:
    assert macos(ppid, uid, info) is expected


def test_macos_domain_parsing() -> None:
    assert service_macos.launch_domain(DAEMON_INFO) == "system"
    assert service_macos.launch_domain(AGENT_INFO) == "gui/501"
    assert service_macos.launch_domain("no domain here") is None

"""What we know about one new process: read it once, then identify it against the catalogue.

Shared by the process sensor (which reports every new process) and the
session sensor (which only needs to know which running processes are remote
tools). Reading a process that vanished or belongs to another user is
normal flow: psutil's NoSuchProcess / ZombieProcess mean "gone, skip it",
AccessDenied means "report what could be read" (typically the name without
the executable path when the agent is not elevated).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import psutil

from agent.catalogue.model import Catalogue
from agent.events import PathClass, PeInfo, ProcessStarted, ToolMatch
from agent.identify.pathclass import classify_path
from agent.identify.pe import PeCache
from agent.identify.tools import identify_process, needs_pe, scare_tactic
from agent.sensors.processes import service_linux, service_macos, service_windows
from agent.sensors.processes.first_seen import FirstSeen

log = logging.getLogger(__name__)
_T = TypeVar("_T")

@dataclass(frozen=True)
class Snapshot:
    """The raw facts of one process, as far as they could be read."""

    pid: int
    ppid: int
    name: str
    exe: str
    cmdline: tuple[str, ...]
    create_time: float
    uid: int | None = None  # read only where the service rule needs it (macOS)


def read_snapshot(pid: int) -> Snapshot | None:
    """Read one process; None when it is already gone (or a zombie)."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            name = proc.name()
            ppid = proc.ppid()
            create_time = proc.create_time()
            exe = _or_default(proc.exe, "")
            cmdline = tuple(_or_default(proc.cmdline, list[str]()))
            uid = None
            if sys.platform == "darwin" and ppid == 1:
                uid = _or_default(lambda: proc.uids().real, None)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        # Gone between listing and reading (ZombieProcess is a NoSuchProcess),
        # or so protected that not even the name is readable: nothing to report.
        return None
    return Snapshot(pid, ppid, name, exe, cmdline, create_time, uid)


def _or_default(read: Callable[[], _T], default: _T) -> _T:
    try:
        return read()
    except psutil.AccessDenied:
        return default


def process_name(pid: int) -> str:
    """The name of ``pid``, or "" when it is gone or unreadable."""
    try:
        return psutil.Process(pid).name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""


@dataclass(frozen=True)
class ServiceProbes:
    """How each OS tells a service start from a person's: the real readers, or test seams."""

    cgroup: Callable[[int], str | None] = service_linux.read_cgroup
    session_id: Callable[[int], int | None] = service_windows.session_id
    procinfo: Callable[[int], str | None] = service_macos.procinfo


def started_by_service(
    *,
    os_name: str,
    pid: int,
    ppid: int,
    parent_name: str,
    create_time: float,
    boot_time: float,
    uid: int | None = None,
    probes: ServiceProbes | None = None,
) -> bool:
    """Whether the OS service manager started this process (a long-installed tool).

    Not "its parent is pid 1 now": a tool started with ``setsid`` from a
    shell that exits has parent pid 1 too, and that is a person's (or a
    scammer's) start. Per OS (each rule and its reasons in its module):

    - Linux: the process's cgroup is a unit of systemd's system instance
      (``/system.slice/...``), not a login's (``/user.slice/...``);
      without systemd, init as the parent within minutes of boot
      (``service_linux``);
    - Windows: the parent is services.exe, or the process runs in session 0
      (``service_windows``);
    - macOS: launchd started it in the system domain (a LaunchDaemon), not a
      person's gui/user domain (``service_macos``).
    """
    p = probes or ServiceProbes()
    if os_name == "windows":
        return service_windows.started_by_service(
            pid=pid, parent_name=parent_name, session=p.session_id
        )
    if os_name == "macos":
        return service_macos.started_by_service(pid=pid, ppid=ppid, uid=uid, info=p.procinfo)
    return service_linux.started_by_service(
        pid=pid,
        ppid=ppid,
        create_time=create_time,
        boot_time=boot_time,
        cgroup=p.cgroup(pid),
    )


@dataclass(frozen=True)
class Identity:
    """A process's place and catalogue identity."""

    path_class: PathClass
    pe: PeInfo | None
    tool: ToolMatch | None


class Describer:
    """Turns a ``Snapshot`` into a ``ProcessStarted`` (path class, PE info, tool, tactic)."""

    def __init__(
        self,
        catalogue: Callable[[], Catalogue],
        *,
        os_name: str,
        host_os: str,
        home: str,
        user_dirs: Mapping[PathClass, Sequence[str]],
        pe_cache: PeCache,
        boot_time: float,
        first_seen: FirstSeen | None = None,
        probes: ServiceProbes | None = None,
    ) -> None:
        # os_name picks the catalogue's process names (tests apply Windows names
        # to real Linux processes); host_os is where the paths and parents are real.
        self._catalogue = catalogue
        self._os_name = os_name
        self._host_os = host_os
        self._home = home
        self._user_dirs = user_dirs
        self._pe_cache = pe_cache
        self._boot_time = boot_time
        self._first_seen = first_seen
        self._probes = probes

    def identify(self, snap: Snapshot) -> Identity:
        """Path class, PE metadata (only for candidates) and the matching tool."""
        catalogue = self._catalogue()
        path_class = (
            classify_path(
                snap.exe, os_name=self._host_os, home=self._home, user_dirs=self._user_dirs
            )
            if snap.exe
            else PathClass.OTHER
        )
        pe = None
        if snap.exe and needs_pe(catalogue, name=snap.name, exe=snap.exe, path_class=path_class):
            pe = self._pe_cache.get(snap.exe)
        tool = identify_process(
            catalogue,
            os_name=self._os_name,
            name=snap.name,
            exe=snap.exe,
            cmdline=snap.cmdline,
            pe=pe,
        )
        return Identity(path_class, pe, tool)

    def describe(self, snap: Snapshot, *, parent_name: str, at: float) -> ProcessStarted:
        """The full ``ProcessStarted`` for a new process seen at ``at``."""
        ident = self.identify(snap)
        tactic = scare_tactic(
            self._catalogue(), name=snap.name, cmdline=snap.cmdline, parent_name=parent_name
        )
        days: float | None = None
        if ident.tool is not None and self._first_seen is not None:
            days = self._first_seen.days_ago(ident.tool.tool_id, snap.exe or snap.name, now=at)
        return ProcessStarted(
            at=at,
            pid=snap.pid,
            ppid=snap.ppid,
            name=snap.name,
            exe=snap.exe,
            cmdline=snap.cmdline,
            create_time=snap.create_time,
            path_class=ident.path_class,
            parent_name=parent_name,
            pe=ident.pe,
            tool=ident.tool,
            scare_tactic=tactic,
            # Asked only of remote tools (the only use; it may cost a file read or,
            # on macOS, a launchctl run).
            started_by_service=ident.tool is not None
            and started_by_service(
                os_name=self._host_os,
                pid=snap.pid,
                ppid=snap.ppid,
                parent_name=parent_name,
                create_time=snap.create_time,
                boot_time=self._boot_time,
                uid=snap.uid,
                probes=self._probes,
            ),
            first_seen_days_ago=days,
        )

"""The session sensor: notices when someone is connected through a running remote tool.

Every ``[sensors].session_poll_seconds`` it looks at the running remote-tool
processes (found by its own incremental scan: its first scan inspects every
process, so a tool started before the agent is found too; see
``agent.sensors.processes.sensor`` for why the process sensor reports no baseline).

Evidence of a session, per tool process:

``process_pattern``
    The command line has the tool's incoming-session shape from the catalogue
    (``TeamViewer_Desktop.exe --IPCport 5939 --Module 1``): active for as long
    as that process runs. Exact where the catalogue has such a pattern.
``process_running``
    The tool is one that runs only for a session (catalogue
    ``session_while_running``: Quick Assist, ``msra.exe``): its process running
    is the session. Such tools use only port 443, so there is no better signal.
``connection``
    An established TCP connection whose remote port is one of the tool's
    catalogue ports (the tool dialled its relay or a peer) or whose local port
    is (someone dialled into the tool's listener, e.g. a VNC server on 5900).

Decisions:

- Ports, not domains. Matching the catalogue's domains would need DNS:
  reverse lookups tell the resolver which tools run here (privacy) and relay
  addresses rarely reverse-map to the vendor's domain anyway; watching the
  tool's own lookups would need a packet-level hook. So no DNS at all.
- Loopback counts, unless the other end is the same tool (its processes
  talking to each other, like TeamViewer's IPC on 5939): a session tunnelled
  to localhost (VNC over SSH) is a real session.
- Limitation: some tools hold a standby connection to their rendezvous
  service on a catalogue port while idle (TeamViewer 5938, AnyDesk 6568);
  for them "connection" means "online and reachable" rather than "someone is
  watching". The catalogue's incoming-session patterns are the exact signal.
  The correlator therefore does not take a "connection" session of a
  long-installed tool, without scam context, as reason for an alert.
- One session per tool: ``SessionStarted`` names the process that showed the
  evidence; ``SessionEnded`` (same pid) follows when no process of the tool
  shows evidence for ``grace`` consecutive scans (a relay reconnect is not an
  end), or at once when that process exited. If another process of the tool
  takes over, the session moves to it (ended for the old pid, started for the new).
- A process whose connections cannot be read (another user's, agent not
  elevated) shows only its process patterns; logged once.
- Followed to its children: a tool's session is often held by a process the
  catalogue does not name, started by one it does (a wrapper script, a
  launcher, a service forking a per-connection process: Debian's Xspice runs
  Xorg). A new process whose parent is a tool process, or whose grandparent
  is, is a *helper* of that tool: its connections are the tool's evidence, and
  ``SessionStarted`` names the helper, so a verdict's pids (and Stop) reach
  the process that holds the session. Only the parent at the moment the
  helper is first seen counts (a helper whose launcher already exited is
  reparented and cannot be told apart from any other process), which is why
  the catalogue also names the real servers (X0tigervnc beside x0vncserver).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from agent.catalogue.model import Catalogue
from agent.events import Event, SessionEnded, SessionStarted
from agent.identify.pe import PeCache
from agent.platform import current_os, user_dirs
from agent.sensors.base import Emit, SensorContext, SensorThread
from agent.sensors.processes.facts import Describer, read_snapshot
from agent.sensors.processes.tracker import PidWatch

log = logging.getLogger(__name__)

VIA_CONNECTION = "connection"
VIA_PROCESS_PATTERN = "process_pattern"
VIA_PROCESS_RUNNING = "process_running"
# When several processes of a tool show a session, the most exact one names it.
_VIA_RANK = {VIA_PROCESS_PATTERN: 0, VIA_PROCESS_RUNNING: 1, VIA_CONNECTION: 2}
DEFAULT_GRACE_SCANS = 2
# A helper is a child (1) or grandchild (2) of a tool process.
HELPER_DEPTH = 2


@dataclass(frozen=True)
class Connection:
    """One TCP connection of a process (addresses as text, port 0 = none)."""

    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    status: str


def process_connections(pid: int) -> list[Connection]:
    """The TCP connections of ``pid``; raises psutil.NoSuchProcess / AccessDenied."""
    out = []
    for c in psutil.Process(pid).net_connections(kind="tcp"):
        remote = c.raddr if c.raddr else None
        out.append(
            Connection(
                local_ip=c.laddr.ip if c.laddr else "",
                local_port=c.laddr.port if c.laddr else 0,
                remote_ip=remote.ip if remote else "",
                remote_port=remote.port if remote else 0,
                status=c.status,
            )
        )
    return out


def _is_loopback(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return bool(addr.is_loopback or (mapped is not None and mapped.is_loopback))


@dataclass
class _ToolProcess:
    tool_id: str
    display_name: str
    incoming: bool
    while_running: bool = False


@dataclass
class _Session:
    pid: int
    via: str
    misses: int = 0


class SessionTracker:
    """Finds remote-tool processes and turns their evidence into session start / end events.

    No thread of its own: ``scan`` is called by the sensor (or a test) and uses
    the injected clock for event times.
    """

    def __init__(
        self,
        describer: Describer,
        catalogue: Callable[[], Catalogue],
        clock: Callable[[], float],
        *,
        connections: Callable[[int], Sequence[Connection]] = process_connections,
        pids: Callable[[], list[int]] | None = None,
        grace: int = DEFAULT_GRACE_SCANS,
    ) -> None:
        self._describer = describer
        self._catalogue = catalogue
        self._clock = clock
        self._connections = connections
        # No baseline: the first scan sees every running process as new.
        self._watch = PidWatch(pids=pids)
        self._grace = max(1, grace)
        self._tools: dict[int, _ToolProcess] = {}
        # Children and grandchildren of tool processes: pid -> (tool id, depth). A helper
        # stays the tool's when the process that started it exits (a wrapper).
        self._helpers: dict[int, tuple[str, int]] = {}
        self._sessions: dict[str, _Session] = {}
        self._denied_logged = False

    @property
    def tool_pids(self) -> dict[int, str]:
        """Running remote-tool processes: pid -> tool id."""
        return {pid: t.tool_id for pid, t in self._tools.items()}

    def scan(self) -> list[Event]:
        """Update the tool processes, gather evidence, and report session changes."""
        new, gone = self._watch.changes()
        for pid in gone:
            self._tools.pop(pid, None)
            self._helpers.pop(pid, None)
        for pid in sorted(new):
            self._inspect(pid)
        evidence = self._evidence()
        return self._update(evidence)

    def _inspect(self, pid: int) -> None:
        snap = read_snapshot(pid)
        if snap is None:
            return
        tool = self._describer.identify(snap).tool
        if tool is not None:
            entry = self._catalogue().tool(tool.tool_id)
            while_running = entry is not None and entry.session_while_running
            self._tools[pid] = _ToolProcess(
                tool.tool_id, tool.display_name, tool.incoming_session, while_running
            )
            return
        parent = self._tools.get(snap.ppid)
        if parent is not None:
            self._helpers[pid] = (parent.tool_id, 1)
        elif snap.ppid in self._helpers:
            tool_id, depth = self._helpers[snap.ppid]
            if depth < HELPER_DEPTH:
                self._helpers[pid] = (tool_id, depth + 1)

    def _evidence(self) -> dict[str, dict[int, str]]:
        """tool id -> {pid: via} for every tool process showing a session right now."""
        found: dict[str, dict[int, str]] = {}
        conns: dict[int, Sequence[Connection]] = {}
        for pid, proc in self._tools.items():
            if proc.incoming:
                found.setdefault(proc.tool_id, {})[pid] = VIA_PROCESS_PATTERN
                continue
            if proc.while_running:
                found.setdefault(proc.tool_id, {})[pid] = VIA_PROCESS_RUNNING
                continue
            read = self._read_connections(pid)
            if read is not None:
                conns[pid] = read
        for pid in self._helpers:
            read = self._read_connections(pid)
            if read is not None:
                conns[pid] = read
        if conns:
            self._connection_evidence(conns, found)
        return found

    def _tool_id(self, pid: int) -> str:
        """The tool of a tool process or helper (one of the two holds it)."""
        proc = self._tools.get(pid)
        return proc.tool_id if proc is not None else self._helpers[pid][0]

    def _read_connections(self, pid: int) -> Sequence[Connection] | None:
        try:
            return self._connections(pid)
        except psutil.NoSuchProcess:
            return None  # exited since the listing; the next scan drops it
        except psutil.AccessDenied:
            if not self._denied_logged:
                self._denied_logged = True
                log.info(
                    "cannot read the connections of a remote tool running as another "
                    "user; its sessions are seen only through its process patterns"
                )
            return None

    def _connection_evidence(
        self, conns: dict[int, Sequence[Connection]], found: dict[str, dict[int, str]]
    ) -> None:
        """Add "connection" evidence for tool processes connected on a catalogue port."""
        catalogue = self._catalogue()
        own: dict[str, set[tuple[str, int]]] = {}
        for pid, cs in conns.items():
            endpoints = own.setdefault(self._tool_id(pid), set())
            endpoints.update((c.local_ip, c.local_port) for c in cs)
        for pid, cs in conns.items():
            tool_id = self._tool_id(pid)
            tool = catalogue.tool(tool_id)
            if tool is None or not tool.ports:
                continue
            for c in cs:
                if c.status != psutil.CONN_ESTABLISHED or not c.remote_port:
                    continue
                if not (tool.has_port(c.remote_port) or tool.has_port(c.local_port)):
                    continue
                if _is_loopback(c.remote_ip) and (c.remote_ip, c.remote_port) in own[tool_id]:
                    continue  # the tool talking to itself
                found.setdefault(tool_id, {}).setdefault(pid, VIA_CONNECTION)
                break

    def _update(self, evidence: dict[str, dict[int, str]]) -> list[Event]:
        events: list[Event] = []
        now = self._clock()
        for tool_id in sorted(set(self._sessions) | set(evidence)):
            session = self._sessions.get(tool_id)
            shown = evidence.get(tool_id, {})
            if session is not None and session.pid in shown:
                session.misses = 0
                continue
            if session is not None:
                session.misses += 1
                alive = session.pid in self._tools or session.pid in self._helpers
                if not shown and alive and session.misses < self._grace:
                    continue  # maybe a reconnect: wait a scan before calling it over
                events.append(SessionEnded(at=now, tool_id=tool_id, pid=session.pid))
                del self._sessions[tool_id]
            if shown:
                pid = min(shown, key=lambda p: (_VIA_RANK[shown[p]], p))
                self._sessions[tool_id] = _Session(pid, shown[pid])
                events.append(SessionStarted(at=now, tool_id=tool_id, pid=pid, via=shown[pid]))
        return events


class SessionSensor:
    """Runs ``SessionTracker.scan`` every ``session_poll_seconds`` in its own thread."""

    name = "sessions"

    def __init__(
        self,
        ctx: SensorContext,
        *,
        os_name: str | None = None,
        connections: Callable[[int], Sequence[Connection]] = process_connections,
        pe_cache: PeCache | None = None,
    ) -> None:
        host = current_os()
        describer = Describer(
            ctx.catalogue,
            os_name=os_name or host,
            host_os=host,
            home=str(Path.home()),
            user_dirs=user_dirs(),
            pe_cache=pe_cache if pe_cache is not None else PeCache(max_entries=128),
            boot_time=psutil.boot_time(),
        )
        self.tracker = SessionTracker(describer, ctx.catalogue, ctx.clock, connections=connections)
        self._period = ctx.config.sensors.session_poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit: Emit | None = None
        self._failed = ctx.failed

    def start(self, emit: Emit) -> None:
        """Start scanning (the first scan runs at once)."""
        self._stop.clear()
        self._emit = emit
        self._thread = SensorThread(
            self.name,
            "session scan",
            self._scan,
            stopped=self._stop.is_set,
            wait=self._stop.wait,
            period=self._period,
            failed=self._failed,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop scanning and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _scan(self) -> None:
        assert self._emit is not None
        for event in self.tracker.scan():
            self._emit(event)
        self._stop.wait(self._period)


def create(ctx: SensorContext) -> SessionSensor:
    """Registry factory for "sessions"."""
    return SessionSensor(ctx)

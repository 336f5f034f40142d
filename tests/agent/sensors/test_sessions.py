"""The session sensor against real processes and real loopback TCP connections.

Tool processes are copies of bash (which can dial out through /dev/tcp and wait
in its ``read`` builtin) or of this Python interpreter (to listen), named like
the tools; listeners bind to 127.0.0.1 on free ports that the test puts into
its catalogue. ``os_name="windows"`` is the only seam: it applies the
catalogue's Windows process names to these real Linux processes.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from agent.catalogue.model import Catalogue, IncomingSession, PeMatch, PortRange, Rules, Tool
from agent.config import AgentConfig, SensorsSection
from agent.events import Event, SessionEnded, SessionStarted
from agent.sensors import create as create_sensor
from agent.sensors.base import SensorContext
from agent.sensors.sessions import (
    VIA_CONNECTION,
    VIA_PROCESS_PATTERN,
    VIA_PROCESS_RUNNING,
    Connection,
    SessionSensor,
    process_connections,
)

BASH = shutil.which("bash") or "/bin/bash"
WAIT = 10.0

LISTENER = """
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
conns = []
while True:  # keep every connection open; the test kills this process
    conns.append(s.accept()[0])
"""


def tool(tool_id: str, names: tuple[str, ...], ports: tuple[int, ...], **kw: object) -> Tool:
    return Tool(
        tool_id=tool_id,
        display_name=tool_id.title(),
        process_names=(("windows", names),),
        file_patterns=(),
        pe=PeMatch(),
        signers=(),
        domains=(),
        ports=tuple(PortRange.single(p) for p in ports),
        **kw,  # type: ignore[arg-type]
    )


def _libpython_dir() -> str | None:
    """Where this interpreter's shared libpython was loaded from (None: linked in statically)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        libdir = sysconfig.get_config_var("LIBDIR")
        return libdir if isinstance(libdir, str) else None
    for line in maps.splitlines():
        path = line.split()[-1]
        if "/libpython" in path and ".so" in path:
            return os.path.dirname(path)
    return None


class Procs:
    """Starts tool copies; kills and reaps them all at teardown."""

    def __init__(self, base: Path) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []

    def _copy(self, source: str, name: str) -> Path:
        target = self.base / name
        if not target.exists():
            shutil.copy2(source, target)
        return target

    def _run(self, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, **kw)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc  # type: ignore[no-any-return]

    def dial(self, name: str, port: int, *, then_wait: bool = False) -> subprocess.Popen[bytes]:
        """A bash copy named ``name`` that connects to 127.0.0.1:port and holds it open."""
        after = "; exec 3<&-; read -t 60" if then_wait else ""
        script = f"exec 3<>/dev/tcp/127.0.0.1/{port} || exit 9; read -t 60 <&3{after}"
        return self._run([str(self._copy(BASH, name)), "-c", script])

    def run_as(self, name: str, script: str) -> subprocess.Popen[bytes]:
        """A bash copy named ``name`` running ``script``."""
        return self._run([str(self._copy(BASH, name)), "-c", script])

    def idle(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """A bash copy that waits on stdin, with extra command-line arguments."""
        return self._run([str(self._copy(BASH, name)), "-c", "read -t 60", *args])

    def listen(self, name: str) -> tuple[subprocess.Popen[bytes], int]:
        """A Python copy named ``name`` listening on a free loopback port; returns the port."""
        exe = self._copy(os.path.realpath(sys.executable), name)
        env = dict(os.environ, PYTHONHOME=sys.base_prefix)
        libdir = _libpython_dir()
        if libdir:  # a copied interpreter must still find its shared libpython
            env["LD_LIBRARY_PATH"] = libdir
        proc = self._run([str(exe), "-c", LISTENER], stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        return proc, port

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdin, p.stdout):
                if f is not None:
                    f.close()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path / "bin")
    yield p
    p.close()


@pytest.fixture
def server() -> Iterator[Callable[[], tuple[int, Callable[[], socket.socket]]]]:
    """Loopback listeners owned by the test (not a tool)."""
    socks: list[socket.socket] = []

    def make() -> tuple[int, Callable[[], socket.socket]]:
        s = socket.create_server(("127.0.0.1", 0))
        s.settimeout(WAIT)
        socks.append(s)

        def accept() -> socket.socket:
            conn = s.accept()[0]
            socks.append(conn)
            return conn

        return s.getsockname()[1], accept

    yield make
    for s in socks:
        s.close()


class Catalogues:
    """A catalogue the test can change after learning its free ports."""

    def __init__(self) -> None:
        self.current = Catalogue(version=1, tools=(), scare_tactics=(), pages=(), rules=Rules())

    def set(self, *tools: Tool) -> None:
        self.current = Catalogue(version=1, tools=tools, scare_tactics=(), pages=(), rules=Rules())

    def __call__(self) -> Catalogue:
        return self.current


@pytest.fixture
def catalogue() -> Catalogues:
    return Catalogues()


@pytest.fixture
def ctx(tmp_path: Path, catalogue: Catalogues) -> SensorContext:
    config = AgentConfig(sensors=SensorsSection(session_poll_seconds=0.05))
    return SensorContext(
        config=config, catalogue=catalogue, clock=lambda: 1_000.0, state_dir=tmp_path / "state"
    )


def sessions(events: list[Event], procs: Procs) -> list[tuple[str, str, int, str]]:
    """Session events about our processes (other people's tests may run tool copies too)."""
    ours = {p.pid for p in procs.procs}
    out = []
    for e in events:
        if e.pid not in ours:  # type: ignore[union-attr]
            continue
        if isinstance(e, SessionStarted):
            out.append(("started", e.tool_id, e.pid, e.via))
        elif isinstance(e, SessionEnded):
            out.append(("ended", e.tool_id, e.pid, ""))
    return out


def test_outgoing_connection_to_a_catalogue_port_is_a_session(
    ctx: SensorContext,
    catalogue: Catalogues,
    procs: Procs,
    server: Callable[..., tuple[int, Callable[[], socket.socket]]],
) -> None:
    port, accept = server()
    catalogue.set(tool("anydesk", ("AnyDesk.exe",), (port,)))
    sensor = SessionSensor(ctx, os_name="windows")
    assert sessions(sensor.tracker.scan(), procs) == []
    proc = procs.dial("AnyDesk.exe", port)
    peer = accept()
    events = sensor.tracker.scan()
    assert sessions(events, procs) == [("started", "anydesk", proc.pid, VIA_CONNECTION)]
    assert {e.at for e in events} == {1_000.0}  # the injected clock
    assert sessions(sensor.tracker.scan(), procs) == []  # still the same session
    peer.close()  # the far end hangs up; bash sees EOF and exits
    proc.wait()
    assert sessions(sensor.tracker.scan(), procs) == [("ended", "anydesk", proc.pid, "")]


def test_session_ends_after_a_grace_scan_when_the_connection_closes(
    ctx: SensorContext,
    catalogue: Catalogues,
    procs: Procs,
    server: Callable[..., tuple[int, Callable[[], socket.socket]]],
) -> None:
    port, accept = server()
    catalogue.set(tool("anydesk", ("AnyDesk.exe",), (port,)))
    sensor = SessionSensor(ctx, os_name="windows")
    proc = procs.dial("AnyDesk.exe", port, then_wait=True)  # keeps running after hang-up
    peer = accept()
    assert sessions(sensor.tracker.scan(), procs) == [
        ("started", "anydesk", proc.pid, VIA_CONNECTION)
    ]
    peer.close()
    deadline = time.monotonic() + WAIT
    while any(c.remote_port == port for c in process_connections(proc.pid)):
        assert time.monotonic() < deadline, "the tool never closed its end"
        time.sleep(0.01)
    assert proc.poll() is None
    assert (
        sessions(sensor.tracker.scan(), procs) == []
    )  # one scan without evidence: maybe a reconnect
    assert sessions(sensor.tracker.scan(), procs) == [("ended", "anydesk", proc.pid, "")]


def test_incoming_connection_to_the_tools_listening_port(
    ctx: SensorContext, catalogue: Catalogues, procs: Procs
) -> None:
    vnc, port = procs.listen("winvnc.exe")
    catalogue.set(tool("vnc", ("winvnc.exe",), (port,)))
    sensor = SessionSensor(ctx, os_name="windows")
    assert vnc.pid not in sensor.tracker.tool_pids
    assert sessions(sensor.tracker.scan(), procs) == []  # listening alone is no session
    assert sensor.tracker.tool_pids[vnc.pid] == "vnc"
    viewer = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    try:
        deadline = time.monotonic() + WAIT
        events: list[Event] = []
        while not sessions(events, procs):  # until the listener has accepted
            assert time.monotonic() < deadline
            events = sensor.tracker.scan()
        assert sessions(events, procs) == [("started", "vnc", vnc.pid, VIA_CONNECTION)]
    finally:
        viewer.close()


def test_incoming_session_process_pattern(
    ctx: SensorContext, catalogue: Catalogues, procs: Procs
) -> None:
    pattern = IncomingSession("TeamViewer_Desktop.exe", ("--IPCport", "5939", "--Module", "1"))
    catalogue.set(
        tool(
            "teamviewer",
            ("TeamViewer.exe", "TeamViewer_Desktop.exe"),
            (5938,),
            incoming_sessions=(pattern,),
        )
    )
    sensor = SessionSensor(ctx, os_name="windows")
    idle = procs.idle("TeamViewer_Desktop.exe", "--IPCport", "5939")  # not the full shape
    desktop = procs.idle("TeamViewer_Desktop.exe", "--IPCport", "5939", "--Module", "1")
    assert sessions(sensor.tracker.scan(), procs) == [
        ("started", "teamviewer", desktop.pid, VIA_PROCESS_PATTERN)
    ]
    assert idle.pid in sensor.tracker.tool_pids
    desktop.kill()
    desktop.wait()
    # The process that showed the session is gone: over at once, no grace.
    assert sessions(sensor.tracker.scan(), procs) == [("ended", "teamviewer", desktop.pid, "")]


def test_other_ports_and_other_programs_are_not_sessions(
    ctx: SensorContext,
    catalogue: Catalogues,
    procs: Procs,
    server: Callable[..., tuple[int, Callable[[], socket.socket]]],
) -> None:
    tool_port, accept_tool_port = server()
    other_port, accept_other = server()
    catalogue.set(tool("anydesk", ("AnyDesk.exe",), (tool_port,)))
    sensor = SessionSensor(ctx, os_name="windows")
    procs.dial("AnyDesk.exe", other_port)  # the tool, but not on its port
    accept_other()
    procs.dial("browser", tool_port)  # the port, but not the tool
    accept_tool_port()
    assert sessions(sensor.tracker.scan(), procs) == []


def test_a_tool_talking_to_itself_is_not_a_session(
    ctx: SensorContext, catalogue: Catalogues, procs: Procs
) -> None:
    # TeamViewer's GUI talks to its own service over loopback on a catalogue port.
    service, port = procs.listen("TeamViewer_Service.exe")
    catalogue.set(tool("teamviewer", ("TeamViewer.exe", "TeamViewer_Service.exe"), (port,)))
    sensor = SessionSensor(ctx, os_name="windows")
    gui = procs.dial("TeamViewer.exe", port)
    deadline = time.monotonic() + WAIT
    while not any(c.status == psutil.CONN_ESTABLISHED for c in process_connections(service.pid)):
        assert time.monotonic() < deadline, "the service never accepted"
        time.sleep(0.01)
    assert sessions(sensor.tracker.scan(), procs) == []
    assert set(sensor.tracker.tool_pids) >= {service.pid, gui.pid}


def test_a_tool_running_before_the_agent_is_found(
    ctx: SensorContext,
    catalogue: Catalogues,
    procs: Procs,
    server: Callable[..., tuple[int, Callable[[], socket.socket]]],
) -> None:
    port, accept = server()
    catalogue.set(tool("anydesk", ("AnyDesk.exe",), (port,)))
    proc = procs.dial("AnyDesk.exe", port)
    accept()
    sensor = SessionSensor(ctx, os_name="windows")  # the agent starts now
    assert sessions(sensor.tracker.scan(), procs) == [
        ("started", "anydesk", proc.pid, VIA_CONNECTION)
    ]


def test_the_session_moves_to_another_process_of_the_tool(
    ctx: SensorContext,
    catalogue: Catalogues,
    procs: Procs,
    server: Callable[..., tuple[int, Callable[[], socket.socket]]],
) -> None:
    port, accept = server()
    catalogue.set(tool("anydesk", ("AnyDesk.exe",), (port,)))
    sensor = SessionSensor(ctx, os_name="windows")
    first = procs.dial("AnyDesk.exe", port)
    first_peer = accept()
    assert sessions(sensor.tracker.scan(), procs) == [
        ("started", "anydesk", first.pid, VIA_CONNECTION)
    ]
    second = procs.dial("AnyDesk.exe", port)
    accept()
    assert sessions(sensor.tracker.scan(), procs) == []  # one session per tool
    first_peer.close()
    first.wait()
    assert sessions(sensor.tracker.scan(), procs) == [
        ("ended", "anydesk", first.pid, ""),
        ("started", "anydesk", second.pid, VIA_CONNECTION),
    ]


def test_unreadable_connections_are_logged_once_and_patterns_still_work(
    ctx: SensorContext, catalogue: Catalogues, procs: Procs, caplog: pytest.LogCaptureFixture
) -> None:
    def denied(pid: int) -> list[Connection]:
        # Seam: what psutil raises for another user's process when not elevated.
        raise psutil.AccessDenied(pid)

    pattern = IncomingSession("TeamViewer_Desktop.exe", ("--Module", "1"))
    catalogue.set(
        tool("anydesk", ("AnyDesk.exe",), (7070,)),
        tool("teamviewer", ("TeamViewer_Desktop.exe",), (5938,), incoming_sessions=(pattern,)),
    )
    caplog.set_level(logging.INFO, logger="agent.sensors.sessions")
    sensor = SessionSensor(ctx, os_name="windows", connections=denied)
    procs.idle("AnyDesk.exe")
    procs.idle("AnyDesk.exe")
    desktop = procs.idle("TeamViewer_Desktop.exe", "--Module", "1")
    assert sessions(sensor.tracker.scan(), procs) == [
        ("started", "teamviewer", desktop.pid, VIA_PROCESS_PATTERN)
    ]
    sensor.tracker.scan()
    assert caplog.text.count("cannot read the connections") == 1


def test_sensor_thread_emits_and_stops_cleanly(
    ctx: SensorContext,
    catalogue: Catalogues,
    procs: Procs,
    server: Callable[..., tuple[int, Callable[[], socket.socket]]],
) -> None:
    port, accept = server()
    catalogue.set(tool("anydesk", ("AnyDesk.exe",), (port,)))
    got: list[SessionStarted] = []
    cond = threading.Condition()

    def emit(event: Event) -> None:
        if isinstance(event, SessionStarted):
            with cond:
                got.append(event)
                cond.notify_all()

    sensor = create_sensor("sessions", ctx)
    assert isinstance(sensor, SessionSensor) and sensor.name == "sessions"
    sensor.start(emit)
    try:
        proc = procs.dial("AnyDesk.exe", port)
        accept()
        with cond:
            assert cond.wait_for(lambda: any(e.pid == proc.pid for e in got), timeout=WAIT)
            assert [e.tool_id for e in got if e.pid == proc.pid] == ["anydesk"]
    finally:
        sensor.stop()


def test_a_tool_that_runs_only_for_a_session_is_in_session_while_it_runs(
    tmp_path: Path, procs: Procs
) -> None:
    """Quick Assist and msra use only port 443: their running process is the session.

    The bundled catalogue (``session_while_running``), real processes: copies of
    sleep named quickassist.exe / msra.exe, and an idle AnyDesk.exe for contrast.
    """
    from agent.catalogue.loader import load_catalogue

    bundled = load_catalogue()
    config = AgentConfig(sensors=SensorsSection(session_poll_seconds=0.05))
    ctx = SensorContext(config, lambda: bundled, lambda: 1_000.0, tmp_path / "state")
    sensor = SessionSensor(ctx, os_name="windows")
    sleep = shutil.which("sleep") or "/bin/sleep"

    def run(name: str) -> subprocess.Popen[bytes]:
        return procs._run([str(procs._copy(sleep, name)), "60"])

    anydesk = run("AnyDesk.exe")  # idle, no connection: not a session
    quick = run("quickassist.exe")
    msra = run("msra.exe")
    assert sorted(sessions(sensor.tracker.scan(), procs)) == sorted(
        [
            ("started", "quick_assist", quick.pid, VIA_PROCESS_RUNNING),
            ("started", "windows_remote_assistance", msra.pid, VIA_PROCESS_RUNNING),
        ]
    )
    assert anydesk.pid in sensor.tracker.tool_pids
    assert sessions(sensor.tracker.scan(), procs) == []  # still running: still the same session
    quick.kill()
    quick.wait()
    # Closing the tool ends its session at once (no grace scan).
    assert sessions(sensor.tracker.scan(), procs) == [("ended", "quick_assist", quick.pid, "")]


def test_a_failing_scan_does_not_end_session_sensing(
    ctx: SensorContext,
    catalogue: Catalogues,
    procs: Procs,
    server: Callable[..., tuple[int, Callable[[], socket.socket]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected error in one scan (seam: the connection reader) is logged and survived."""
    port, accept = server()
    catalogue.set(tool("anydesk", ("AnyDesk.exe",), (port,)))
    secret = f"{Path.home()}/private-file"
    failed = threading.Event()

    def connections(pid: int) -> list[Connection]:
        if not failed.is_set():
            failed.set()
            raise RuntimeError(f"unexpected in {secret}")
        return process_connections(pid)

    got: list[SessionStarted] = []
    cond = threading.Condition()

    def emit(event: Event) -> None:
        if isinstance(event, SessionStarted):
            with cond:
                got.append(event)
                cond.notify_all()

    sensor = SessionSensor(ctx, os_name="windows", connections=connections)
    proc = procs.dial("AnyDesk.exe", port)
    accept()
    sensor.start(emit)
    try:
        with cond:
            assert cond.wait_for(lambda: any(e.pid == proc.pid for e in got), timeout=WAIT)
    finally:
        sensor.stop()
    assert failed.is_set()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "session scan failed (RuntimeError" in errors[0]
    assert not [m for m in errors if secret in m]


def test_a_session_held_by_a_child_of_the_tool_is_followed_to_it(
    ctx: SensorContext,
    catalogue: Catalogues,
    procs: Procs,
    server: Callable[..., tuple[int, Callable[[], socket.socket]]],
) -> None:
    """A launcher the catalogue names starts the process that holds the connection.

    Like Debian's x0vncserver (a Perl wrapper) or Xspice (which runs Xorg): the
    child is a plain ``bash`` that no catalogue names, and it is what connects.
    """
    port, accept = server()
    catalogue.set(tool("launcher_tool", ("tool-launcher",), (port,)))
    child = f"exec 3<>/dev/tcp/127.0.0.1/{port} || exit 9; read -t 60 <&3"
    # "; wait" keeps the launcher alive as the parent (bash would exec a lone command).
    launcher = procs.run_as("tool-launcher", f"{BASH} -c {shlex.quote(child)} & wait")
    sensor = SessionSensor(ctx, os_name="linux")
    peer = accept()
    deadline = time.monotonic() + WAIT
    started: list[SessionStarted] = []
    while not started:
        assert time.monotonic() < deadline, "the child's session was never seen"
        started = [
            e
            for e in sensor.tracker.scan()
            if isinstance(e, SessionStarted) and e.tool_id == "launcher_tool"
        ]
    (event,) = started
    helper = psutil.Process(event.pid)
    assert event.pid != launcher.pid and helper.ppid() == launcher.pid
    assert event.via == VIA_CONNECTION
    peer.close()

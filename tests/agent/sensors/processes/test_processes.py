"""The process sensor on real child processes: copies of harmless binaries named like real tools.

Poll mode runs everywhere; netlink (kernel process events) runs where the
kernel lets this user subscribe (root here) and is skipped with the reason
otherwise. Seams, each named where used: ``os_name="windows"`` applies the
catalogue's Windows process names to real Linux processes; ``pe_cache``
maps a process's (ELF) executable to a real PE fixture, because a PE file
cannot run on Linux; ``connector`` forces the kernel event source to refuse
or fail.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent.catalogue.model import Catalogue, PeMatch, PortRange, Rules, ScareTactic, Tool
from agent.config import AgentConfig, SensorsSection
from agent.errors import EventsLost, SensorError
from agent.events import (
    Event,
    MatchedBy,
    PathClass,
    ProcessEnded,
    ProcessStarted,
)
from agent.identify.pe import PeCache, read_pe_info
from agent.sensors import create as create_sensor
from agent.sensors.base import SensorContext
from agent.sensors.processes.connector_linux import (
    PROC_EVENT_EXEC,
    PROC_EVENT_EXIT,
    ProcConnector,
    ProcEvent,
    _decode,
)
from agent.sensors.processes.facts import read_snapshot
from agent.sensors.processes.first_seen import FILE_NAME, FirstSeen
from agent.sensors.processes.sensor import ProcessSensor
from agent.sensors.processes.tracker import FULL_LISTING_SECONDS, ProcessTracker, creation_marker

PE_DIR = Path(__file__).resolve().parents[3] / "data" / "pe"
SLEEP = shutil.which("sleep") or "/bin/sleep"
BASH = shutil.which("bash") or "/bin/bash"
WAIT = 10.0  # generous upper bound for a condition; never a timing assertion


def _netlink_available() -> str | None:
    """None when kernel process events can be subscribed here, else the reason."""
    if not sys.platform.startswith("linux"):
        return "kernel process events are Linux-only"
    try:
        ProcConnector().close()
    except SensorError as exc:
        return str(exc)
    return None


NETLINK_REASON = _netlink_available()
needs_netlink = pytest.mark.skipif(NETLINK_REASON is not None, reason=str(NETLINK_REASON))
MODES = [
    pytest.param("poll", id="poll"),
    pytest.param("netlink", id="netlink", marks=needs_netlink),
]


def make_catalogue() -> Catalogue:
    anydesk = Tool(
        tool_id="anydesk",
        display_name="AnyDesk",
        process_names=(("windows", ("AnyDesk.exe",)), ("linux", ("anydesk",))),
        file_patterns=("AnyDesk*.exe",),
        pe=PeMatch(
            original_filenames=("AnyDesk.exe",),
            product_names=("AnyDesk",),
            company_names=("AnyDesk Software GmbH",),
        ),
        signers=("AnyDesk Software GmbH",),
        domains=("*.net.anydesk.com",),
        ports=(PortRange.single(6568),),
        vendor_exclusive=True,
    )
    teamviewer = Tool(
        tool_id="teamviewer",
        display_name="TeamViewer",
        process_names=(("windows", ("TeamViewer.exe", "TeamViewer_Service.exe")),),
        file_patterns=("TeamViewer*.exe",),
        pe=PeMatch(original_filenames=("TeamViewer.exe",), product_names=("TeamViewer",)),
        signers=("TeamViewer Germany GmbH",),
        domains=("*.teamviewer.com",),
        ports=(PortRange.single(5938),),
        vendor_exclusive=True,
    )
    tactics = (
        ScareTactic("eventvwr", "Event Viewer full of errors", process_names=("eventvwr.exe",)),
        ScareTactic(
            "tree",
            "cmd running tree",
            cmdline_patterns=(r"(^|\s)tree(\s|$)",),
            hosts=("cmd.exe",),
        ),
    )
    return Catalogue(
        version=1, tools=(anydesk, teamviewer), scare_tactics=tactics, pages=(), rules=Rules()
    )


class Events:
    """A thread-safe event sink that can wait for a condition (no sleeping)."""

    def __init__(self) -> None:
        self.items: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = WAIT) -> Event:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.items:
                    if predicate(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event in {timeout}s; got {self.items!r}")
                self._cond.wait(left)

    def started(self, pid: int) -> ProcessStarted:
        e = self.wait_for(lambda e: isinstance(e, ProcessStarted) and e.pid == pid)
        assert isinstance(e, ProcessStarted)
        return e

    def ended(self, pid: int) -> ProcessEnded:
        e = self.wait_for(lambda e: isinstance(e, ProcessEnded) and e.pid == pid)
        assert isinstance(e, ProcessEnded)
        return e

    def about(self, pid: int) -> list[Event]:
        with self._cond:
            return [e for e in self.items if getattr(e, "pid", None) == pid]


class Spawner:
    """Starts copies of harmless binaries under chosen names; kills them all at teardown."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.procs: list[subprocess.Popen[bytes]] = []

    def copy(self, source: str, name: str, folder: Path | None = None) -> Path:
        target = (folder or self.base) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        return target

    def start(
        self, exe: Path, *args: str, stdin: int = subprocess.DEVNULL
    ) -> subprocess.Popen[bytes]:
        """Start ``exe``; with ``stdin=PIPE`` a bash copy can wait on ``read`` for the test."""
        proc = subprocess.Popen([str(exe), *args], stdin=stdin)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdin is not None:
                p.stdin.close()


@pytest.fixture
def spawner(tmp_path: Path) -> Iterator[Spawner]:
    s = Spawner(tmp_path / "bin")
    yield s
    s.close()


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(tmp_path: Path, clock: Clock) -> SensorContext:
    catalogue = make_catalogue()
    # 20 Hz keeps poll-mode tests quick; the default (4 Hz) is what the benchmark measures.
    config = AgentConfig(sensors=SensorsSection(poll_hz=20.0))
    return SensorContext(
        config=config, catalogue=lambda: catalogue, clock=clock, state_dir=tmp_path / "state"
    )


@pytest.fixture
def run_sensor() -> Iterator[Callable[..., tuple[ProcessSensor, Events]]]:
    started: list[ProcessSensor] = []

    def run(ctx: SensorContext, **kwargs: object) -> tuple[ProcessSensor, Events]:
        kwargs.setdefault("os_name", "windows")  # seam: Windows names on Linux processes
        sensor = ProcessSensor(ctx, **kwargs)  # type: ignore[arg-type]
        events = Events()
        sensor.start(events)
        started.append(sensor)
        return sensor, events

    yield run
    for sensor in started:
        sensor.stop()


@pytest.mark.parametrize("mode", MODES)
def test_new_tool_process_is_seen_and_identified(
    mode: str,
    ctx: SensorContext,
    spawner: Spawner,
    run_sensor: Callable[..., tuple[ProcessSensor, Events]],
) -> None:
    sensor, events = run_sensor(ctx, mode=mode)
    assert sensor.active_mode == mode
    exe = spawner.copy(SLEEP, "AnyDesk.exe")
    proc = spawner.start(exe, "30")
    ev = events.started(proc.pid)
    assert ev.name == "AnyDesk.exe"
    assert ev.exe == str(exe)
    assert ev.cmdline == (str(exe), "30")
    assert ev.ppid == os.getpid()
    assert ev.parent_name == psutil.Process().name()
    assert ev.path_class is PathClass.TEMP  # pytest's tmp_path is under /tmp
    assert ev.tool is not None
    assert (ev.tool.tool_id, ev.tool.matched_by) == ("anydesk", MatchedBy.PROCESS_NAME)
    assert ev.scare_tactic is None
    assert ev.started_by_service is False
    assert ev.first_seen_days_ago is None  # first time this executable is seen
    assert ev.create_time == pytest.approx(psutil.Process(proc.pid).create_time())
    proc.kill()
    proc.wait()
    ended = events.ended(proc.pid)
    assert ended.name == "AnyDesk.exe"


@pytest.mark.parametrize("mode", MODES)
def test_long_names_and_ordinary_processes(
    mode: str,
    ctx: SensorContext,
    spawner: Spawner,
    run_sensor: Callable[..., tuple[ProcessSensor, Events]],
) -> None:
    # Linux truncates the kernel's process name to 15 characters; the full name is kept.
    _sensor, events = run_sensor(ctx, mode=mode)
    service = spawner.start(spawner.copy(SLEEP, "TeamViewer_Service.exe"), "30")
    plain = spawner.start(spawner.copy(SLEEP, "notes.exe"), "30")
    ev = events.started(service.pid)
    assert ev.name == "TeamViewer_Service.exe"
    assert ev.tool is not None and ev.tool.tool_id == "teamviewer"
    other = events.started(plain.pid)
    assert other.name == "notes.exe" and other.tool is None


def test_path_class_downloads(
    tmp_path: Path,
    ctx: SensorContext,
    spawner: Spawner,
    run_sensor: Callable[..., tuple[ProcessSensor, Events]],
) -> None:
    home = tmp_path / "home" / "anna"
    _sensor, events = run_sensor(ctx, mode="poll", home=str(home))
    exe = spawner.copy(SLEEP, "AnyDesk.exe", folder=home / "Downloads")
    desk = spawner.copy(SLEEP, "AnyDesk.exe", folder=home / "Desktop")
    a = spawner.start(exe, "30")
    b = spawner.start(desk, "30")
    assert events.started(a.pid).path_class is PathClass.DOWNLOADS
    assert events.started(b.pid).path_class is PathClass.DESKTOP


def test_processes_running_before_start_are_baseline(
    ctx: SensorContext, spawner: Spawner, run_sensor: Callable[..., tuple[ProcessSensor, Events]]
) -> None:
    before = spawner.start(spawner.copy(SLEEP, "AnyDesk.exe"), "30")
    _sensor, events = run_sensor(ctx, mode="poll")
    after = spawner.start(spawner.copy(SLEEP, "TeamViewer.exe"), "30")
    events.started(after.pid)
    before.kill()
    before.wait()
    after.kill()
    after.wait()
    events.ended(after.pid)
    # Neither a start nor an end for the process that was already running.
    assert events.about(before.pid) == []


@pytest.mark.parametrize("mode", MODES)
def test_renamed_tool_recognised_by_pe_metadata(
    mode: str,
    ctx: SensorContext,
    spawner: Spawner,
    run_sensor: Callable[..., tuple[ProcessSensor, Events]],
) -> None:
    # Seam: a PE cannot run on Linux, so the running (ELF) copy is read as the
    # real PE fixture; parsing and identification are the real code.
    fixture = str(PE_DIR / "renamed_tool.exe")
    reads: list[str] = []

    def reader(path: str) -> object:
        reads.append(path)
        return read_pe_info(fixture)

    _sensor, events = run_sensor(ctx, mode=mode, pe_cache=PeCache(reader=reader))  # type: ignore[arg-type]
    exe = spawner.copy(SLEEP, "support_helper.exe")
    proc = spawner.start(exe, "30")
    ev = events.started(proc.pid)
    assert ev.pe is not None and ev.pe.original_filename == "AnyDesk.exe"
    assert ev.tool is not None
    assert (ev.tool.tool_id, ev.tool.matched_by) == ("anydesk", MatchedBy.PE_METADATA)
    assert reads.count(str(exe)) == 1  # other people's processes may be read too


def test_renamed_tool_recognised_by_signer(
    ctx: SensorContext, spawner: Spawner, run_sensor: Callable[..., tuple[ProcessSensor, Events]]
) -> None:
    fixture = str(PE_DIR / "signed_vendor.exe")  # seam as above
    cache = PeCache(reader=lambda _path: read_pe_info(fixture))
    _sensor, events = run_sensor(ctx, mode="poll", pe_cache=cache)
    proc = spawner.start(spawner.copy(SLEEP, "quicksupport.exe"), "30")
    ev = events.started(proc.pid)
    assert ev.pe is not None and ev.pe.signer == "TeamViewer Germany GmbH"
    assert ev.pe.signer_verified is False
    assert ev.tool is not None
    assert (ev.tool.tool_id, ev.tool.matched_by) == ("teamviewer", MatchedBy.SIGNER)


def test_known_names_and_non_exe_files_need_no_pe_read(
    ctx: SensorContext, spawner: Spawner, run_sensor: Callable[..., tuple[ProcessSensor, Events]]
) -> None:
    reads: list[str] = []
    cache = PeCache(reader=reads.append)
    _sensor, events = run_sensor(ctx, mode="poll", pe_cache=cache)
    known_exe = spawner.copy(SLEEP, "AnyDesk.exe")
    other_exe = spawner.copy(SLEEP, "helper")
    known = spawner.start(known_exe, "30")
    not_exe = spawner.start(other_exe, "30")
    events.started(known.pid)
    events.started(not_exe.pid)
    # Only ours are checked: the machine may run other people's .exe copies.
    assert str(known_exe) not in reads and str(other_exe) not in reads


@pytest.mark.parametrize("mode", MODES)
def test_scare_tactics(
    mode: str,
    ctx: SensorContext,
    spawner: Spawner,
    run_sensor: Callable[..., tuple[ProcessSensor, Events]],
) -> None:
    _sensor, events = run_sensor(ctx, mode=mode)
    viewer = spawner.start(spawner.copy(SLEEP, "eventvwr.exe"), "30")
    # "cmd.exe /c tree", played by a bash copy waiting in its `read` builtin (an
    # external `sleep` would be exec'd in its place); its command line carries "tree".
    cmd = spawner.start(
        spawner.copy(BASH, "cmd.exe"), "-c", "read -t 30", "/c", "tree", stdin=subprocess.PIPE
    )
    assert events.started(viewer.pid).scare_tactic == "eventvwr"
    ev = events.started(cmd.pid)
    assert ev.scare_tactic == "tree" and ev.tool is None


@needs_netlink
def test_exec_replaces_the_program_in_the_same_process(
    ctx: SensorContext, spawner: Spawner, run_sensor: Callable[..., tuple[ProcessSensor, Events]]
) -> None:
    # Only kernel events can see this: a shell that execs the tool keeps its pid.
    _sensor, events = run_sensor(ctx, mode="netlink")
    tool = spawner.copy(SLEEP, "AnyDesk.exe")
    launcher = spawner.copy(BASH, "launcher")
    proc = spawner.start(launcher, "-c", f"read -r go; exec {tool} 30", stdin=subprocess.PIPE)
    events.started(proc.pid)
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")  # now let it exec the tool
    proc.stdin.flush()
    events.wait_for(
        lambda e: isinstance(e, ProcessStarted) and e.pid == proc.pid and e.name == "AnyDesk.exe"
    )
    kinds = [(type(e).__name__, getattr(e, "name", None)) for e in events.about(proc.pid)]
    assert kinds == [
        ("ProcessStarted", "launcher"),
        ("ProcessEnded", "launcher"),
        ("ProcessStarted", "AnyDesk.exe"),
    ]


def test_first_seen_is_recorded_per_tool_executable(
    ctx: SensorContext,
    clock: Clock,
    spawner: Spawner,
    run_sensor: Callable[..., tuple[ProcessSensor, Events]],
) -> None:
    _sensor, events = run_sensor(ctx, mode="poll")
    exe = spawner.copy(SLEEP, "AnyDesk.exe")
    first = spawner.start(exe, "30")
    assert events.started(first.pid).first_seen_days_ago is None
    clock.offset = 10 * 86_400.0  # ten days later (injected clock)
    second = spawner.start(exe, "30")
    days = events.started(second.pid).first_seen_days_ago
    assert days == pytest.approx(10.0, abs=0.01)

    def recorded() -> list[str]:
        # Only our binaries: other people's tool copies on this machine are recorded too.
        entries = json.loads((ctx.state_dir / FILE_NAME).read_text())["entries"]
        return [
            f"{e['tool']} {e['exe']}" for e in entries if e["exe"].startswith(str(spawner.base))
        ]

    assert recorded() == [f"anydesk {exe}"]
    # Ordinary programs are not recorded.
    plain = spawner.start(spawner.copy(SLEEP, "notes.exe"), "30")
    assert events.started(plain.pid).first_seen_days_ago is None
    assert recorded() == [f"anydesk {exe}"]


def test_vanished_and_zombie_processes_are_normal_flow(
    ctx: SensorContext, spawner: Spawner
) -> None:
    # Drive the tracker with a listing that names processes which are gone
    # (reaped) or zombies by the time they are read: the listing race, reproduced.
    gone = spawner.start(spawner.copy(SLEEP, "AnyDesk.exe"), "30")
    zombie = spawner.start(spawner.copy(SLEEP, "TeamViewer.exe"), "30")
    gone.kill()
    gone.wait()
    zombie.kill()  # not reaped until spawner.close(): a zombie meanwhile
    deadline = time.monotonic() + WAIT
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert read_snapshot(gone.pid) is None
    assert read_snapshot(zombie.pid) is None
    listing = [p for p in psutil.pids() if p not in (gone.pid, zombie.pid)]
    listings = iter([listing, sorted([*listing, gone.pid, zombie.pid])])
    sensor = ProcessSensor(ctx, mode="poll", os_name="windows", pids=lambda: next(listings))
    sensor.tracker.baseline()
    events = sensor.tracker.poll()
    assert [e for e in events if getattr(e, "pid", None) in (gone.pid, zombie.pid)] == []


def test_many_short_lived_processes_do_not_stop_the_sensor(
    ctx: SensorContext, spawner: Spawner, run_sensor: Callable[..., tuple[ProcessSensor, Events]]
) -> None:
    sensor, events = run_sensor(ctx, mode="poll")
    true = shutil.which("true") or "/bin/true"
    for _ in range(40):
        subprocess.run([true], check=True)
    marker = spawner.start(spawner.copy(SLEEP, "AnyDesk.exe"), "30")
    events.started(marker.pid)  # still detecting after the churn
    assert sensor.active_mode == "poll"


def test_kernel_threads_are_skipped(ctx: SensorContext) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("kernel threads are a Linux notion")
    kthreads = [p.pid for p in psutil.process_iter(["ppid"]) if p.info["ppid"] == 2]
    if not kthreads:
        pytest.skip("no kernel threads visible (container)")
    listing = psutil.pids()
    listings = iter([[p for p in listing if p not in kthreads], listing])
    sensor = ProcessSensor(ctx, mode="poll", os_name="windows", pids=lambda: next(listings))
    sensor.tracker.baseline()
    reported = {getattr(e, "pid", None) for e in sensor.tracker.poll()}
    assert not reported & set(kthreads)


# -- falling back from kernel events to polling ------------------------------


def test_refused_kernel_events_fall_back_to_polling(
    ctx: SensorContext,
    spawner: Spawner,
    run_sensor: Callable[..., tuple[ProcessSensor, Events]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refused() -> ProcConnector:
        # Seam: what the kernel answers a user it does not let listen.
        raise SensorError("kernel refused process events: Operation not permitted")

    caplog.set_level(logging.INFO, logger="agent.sensors.processes.sensor")
    sensor, events = run_sensor(ctx, mode="auto", connector=refused)
    assert sensor.active_mode == "poll"
    assert "Operation not permitted" in caplog.text and "polling instead" in caplog.text
    proc = spawner.start(spawner.copy(SLEEP, "AnyDesk.exe"), "30")
    assert events.started(proc.pid).tool is not None


@needs_netlink
def test_failing_event_socket_falls_back_to_polling(
    ctx: SensorContext,
    spawner: Spawner,
    run_sensor: Callable[..., tuple[ProcessSensor, Events]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Breaks(ProcConnector):
        """A real subscription whose socket fails on the first read after subscribing."""

        def __init__(self) -> None:
            super().__init__()
            self.reads = 0

        def read(self) -> list[ProcEvent]:
            self.reads += 1
            if self.reads > 1:
                raise OSError(5, "Input/output error")
            return super().read()

    sensor, events = run_sensor(ctx, mode="netlink", connector=Breaks)
    proc = spawner.start(spawner.copy(SLEEP, "AnyDesk.exe"), "30")
    assert events.started(proc.pid).tool is not None
    assert sensor.active_mode == "poll"
    assert "kernel process events failed (Input/output error); polling instead" in caplog.text


@needs_netlink
def test_lost_kernel_events_are_resynchronised(
    ctx: SensorContext, spawner: Spawner, run_sensor: Callable[..., tuple[ProcessSensor, Events]]
) -> None:
    class Overflows(ProcConnector):
        """Drops the events of the first wake-up, as an overflowing buffer does."""

        def __init__(self) -> None:
            super().__init__()
            self.overflowed = False

        def read(self) -> list[ProcEvent]:
            events = super().read()
            if events and not self.overflowed:
                self.overflowed = True
                raise EventsLost(105, "kernel process events were dropped")
            return events

    sensor, events = run_sensor(ctx, mode="netlink", connector=Overflows)
    proc = spawner.start(spawner.copy(SLEEP, "AnyDesk.exe"), "30")
    assert events.started(proc.pid).tool is not None
    assert sensor.events_lost >= 1
    assert sensor.active_mode == "netlink"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the /proc marker is Linux")
def test_a_quiet_tick_does_not_list_the_processes(ctx: SensorContext) -> None:
    # Seam: the /proc marker and the monotonic clock are injected.
    marker, now = [b"300 5000"], [0.0]
    sensor = ProcessSensor(ctx, mode="poll", os_name="windows")
    tracker = ProcessTracker(
        sensor._describer, ctx.clock, marker=lambda: marker[0], monotonic=lambda: now[0]
    )
    tracker.baseline()
    assert tracker.listings == 1
    assert tracker.poll() == [] and tracker.listings == 1  # nothing created or reaped
    marker[0] = b"301 5001"  # a process was created
    tracker.poll()
    assert tracker.listings == 2
    tracker.poll()
    assert tracker.listings == 2
    now[0] = FULL_LISTING_SECONDS + 0.1  # a full listing now and then, whatever the marker
    tracker.poll()
    assert tracker.listings == 3
    tracker.poll(force=True)  # after lost kernel events
    assert tracker.listings == 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the /proc marker is Linux")
def test_creation_marker_moves_when_a_process_starts_and_when_it_is_reaped(
    spawner: Spawner,
) -> None:
    before = creation_marker()
    assert before is not None and len(before.split()) == 2
    proc = spawner.start(spawner.copy(SLEEP, "x"), "30")
    started = creation_marker()
    assert started != before  # a new last pid
    proc.kill()
    proc.wait()
    assert creation_marker() != started  # one process fewer (or yet another new pid)


def test_registry_builds_the_sensor(ctx: SensorContext) -> None:
    sensor = create_sensor("processes", ctx)
    assert isinstance(sensor, ProcessSensor) and sensor.name == "processes"


# -- pure parts -----------------------------------------------------------------


def test_decode_kernel_events() -> None:
    import struct

    assert _decode(PROC_EVENT_EXEC, struct.pack("=II", 42, 42)) == ProcEvent("exec", 42)
    assert _decode(PROC_EVENT_EXIT, struct.pack("=IIII", 42, 42, 0, 17)) == ProcEvent("exit", 42)
    # A thread's exit is not the process's.
    assert _decode(PROC_EVENT_EXIT, struct.pack("=IIII", 43, 42, 0, 17)) is None
    assert _decode(0x00000001, struct.pack("=IIII", 1, 1, 50, 50)) is None  # fork: not followed
    assert _decode(PROC_EVENT_EXEC, b"\x00") is None  # truncated


def test_first_seen_record(tmp_path: Path) -> None:
    record = FirstSeen(tmp_path, max_entries=2, fold_case=True)
    assert record.days_ago("anydesk", r"C:\Users\A\Downloads\AnyDesk.exe", now=0.0) is None
    # Windows paths compare without case.
    got = record.days_ago("anydesk", r"c:\users\a\downloads\anydesk.exe", now=86_400.0 * 3)
    assert got == pytest.approx(3.0)
    # A fresh object reads the file: the record survives a restart.
    again = FirstSeen(tmp_path, max_entries=2, fold_case=True)
    assert again.days_ago("anydesk", r"C:\Users\A\Downloads\AnyDesk.exe", now=86_400.0 * 5) == 5.0
    # Bounded: the least recently seen entry goes first.
    again.days_ago("teamviewer", "tv", now=86_400.0 * 6)
    again.days_ago("rustdesk", "rd", now=86_400.0 * 7)
    entries = json.loads((tmp_path / FILE_NAME).read_text())["entries"]
    assert sorted(e["tool"] for e in entries) == ["rustdesk", "teamviewer"]


def test_unreadable_first_seen_record_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_text("{not json")
    record = FirstSeen(tmp_path)
    assert record.days_ago("anydesk", "/x/AnyDesk.exe", now=10.0) is None
    assert (tmp_path / (FILE_NAME + ".bad")).read_text() == "{not json"
    assert json.loads((tmp_path / FILE_NAME).read_text())["entries"][0]["tool"] == "anydesk"
    assert "first-seen record unreadable" in caplog.text
    assert str(tmp_path) not in caplog.text  # no paths in log lines


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_iteration_does_not_end_detection(
    mode: str,
    ctx: SensorContext,
    spawner: Spawner,
    run_sensor: Callable[..., tuple[ProcessSensor, Events]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected error in one poll / one kernel event is logged (no path) and survived.

    Seams: the ``pids`` listing (poll mode) and the tracker's event handler
    (kernel events) raise once, with a home path in the message, as a bug would.
    """
    secret = f"{Path.home()}/private-file"
    failed = threading.Event()

    def broken_once(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: object, **kwargs: object) -> Any:
            if not failed.is_set():
                failed.set()
                raise RuntimeError(f"unexpected in {secret}")
            return real(*args, **kwargs)

        return call

    calls = itertools.count()

    def pids() -> list[int]:
        if next(calls) == 1:  # the first listing after the baseline
            listing: list[int] = broken_once(psutil.pids)()
            return listing
        return psutil.pids()

    caplog.set_level(logging.DEBUG, logger="agent.sensors.processes.sensor")
    if mode == "poll":
        sensor, events = run_sensor(ctx, mode=mode, pids=pids)
    else:
        sensor, events = run_sensor(ctx, mode=mode)
        sensor.tracker.on_event = broken_once(sensor.tracker.on_event)  # type: ignore[method-assign]
    spawner.start(spawner.copy(SLEEP, "first.exe"), "30")  # its listing / event hits the failure
    assert failed.wait(WAIT)
    proc = spawner.start(spawner.copy(SLEEP, "AnyDesk.exe"), "30")
    ev = events.started(proc.pid)
    assert ev.tool is not None and ev.tool.tool_id == "anydesk"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "RuntimeError" in errors[0].getMessage()
    assert not [r for r in errors if secret in r.getMessage()]

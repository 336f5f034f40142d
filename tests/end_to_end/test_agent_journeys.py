"""Scam journeys through the running agent, with real processes.

``ratwatch-agent run`` runs as a child process on a temp state dir with the
process, session and intake sensors (polling, for determinism; one journey in
kernel-event mode when this machine allows it). Context arrives through
``ratwatch-agent signal``; the "remote tools" are copies of harmless programs
named like the real ones (``/bin/sleep`` as ``AnyDesk.exe``, the Python
interpreter as an ``AnyDesk.exe`` that holds a loopback connection on
AnyDesk's catalogue port, ``/bin/sh`` as ``cmd.exe`` running ``netstat``).

Detection latency is checked with the agent's own timestamps (the verdict's
time minus the process's create time), so a busy test machine cannot make
the check flaky; the tests themselves wait generously.

The renamed-binary-by-PE-metadata journey cannot run a real PE on Linux: a
process's exe is always an ELF here. That test therefore runs the real
runtime and the real process sensor in-process on a real renamed child
process, and only the PE reader is a seam that returns the version resource
of the committed PE fixture (tests/data/pe/renamed_tool.exe) for that exe.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent.journal.journal import read_records
from agent.sensors.intake.documents import format_time

START_TIMEOUT = 30.0
WAIT = 10.0
SLEEP = shutil.which("sleep") or "/bin/sleep"
SH = shutil.which("sh") or "/bin/sh"


class RunningAgent:
    """``ratwatch-agent run`` in a child process, its output collected by reader threads."""

    def __init__(self, agent_cmd: list[str], config: Path, state: Path) -> None:
        self.agent_cmd = agent_cmd
        self.config = config
        self.state = state
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.proc = subprocess.Popen(
            [*agent_cmd, "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for t in self._readers:
            t.start()
        started = time.monotonic()
        while not any(line.startswith("Stop with Ctrl+C") for line in self.stdout):
            assert self.proc.poll() is None, "agent exited:\n" + "".join(self.stderr)
            assert time.monotonic() - started < START_TIMEOUT, "agent did not start"
            time.sleep(0.02)
        self.startup_seconds = time.monotonic() - started

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def signal(self, *args: str) -> None:
        subprocess.run(
            [*self.agent_cmd, "signal", *args, "--config", str(self.config)],
            check=True,
            capture_output=True,
        )

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = list(read_records(self.state / "journal.jsonl"))
        return [r for r in rows if kind is None or r["type"] == kind]

    def verdicts(self) -> list[dict[str, Any]]:
        return [r["verdict"] for r in self.records("verdict")]

    def wait_verdict(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while True:
            for v in self.verdicts():
                if pred(v):
                    return v
            assert time.monotonic() < deadline, f"no such verdict; journal: {self.verdicts()}"
            time.sleep(0.02)

    def wait_context(self, n: int) -> None:
        deadline = time.monotonic() + WAIT
        while len(self.records("context")) < n:
            assert time.monotonic() < deadline, "the agent did not take the signal"
            time.sleep(0.02)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        for t in self._readers:
            t.join(5)
        return rc


class Children:
    """Real child processes started by a test; all killed at the end."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.spawned: dict[int, float] = {}  # pid -> wall clock just before it was started

    def copy(self, source: str, name: str) -> Path:
        target = self.bindir / name
        shutil.copy2(source, target)
        target.chmod(0o755)
        return target

    def start(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        before = time.time()
        proc = subprocess.Popen(argv, **kwargs)
        self.spawned[proc.pid] = before
        self.procs.append(proc)
        return proc

    def assert_fast(self, verdict: dict[str, Any], proc: subprocess.Popen[bytes]) -> None:
        """The agent decided within 1 s of the start, by its own clock.

        Measured from just before the spawn (not psutil's create_time, which
        Linux derives from a boot time rounded to whole seconds).
        """
        latency = verdict["at"] - self.spawned[proc.pid]
        assert latency < 1.0, f"verdict {latency:.2f} s after the process was started"

    def stand_in(self, name: str, seconds: int = 60) -> subprocess.Popen[bytes]:
        """A copy of ``sleep`` named like a remote tool, running."""
        return self.start([str(self.copy(SLEEP, name)), str(seconds)])

    def kill_all(self) -> None:
        """Kill every child and its descendants (cmd.exe's netstat outlives a killed shell)."""
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                for descendant in psutil.Process(proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        descendant.kill()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()


def require_no_other(*tool_ids: str, patience: float = 20.0) -> None:
    """Skip when another process on this machine already is one of these tools.

    The agent watches the whole machine and treats every process of a tool as
    one episode, so a foreign AnyDesk (a real one, or a stand-in from another
    test suite running on a shared host) would absorb ours. CI runs alone; a
    shared developer machine may not.
    """
    from agent.catalogue.loader import load_catalogue
    from agent.identify.tools import identify_process
    from agent.platform import current_os

    catalogue = load_catalogue()
    deadline = time.monotonic() + patience
    while True:
        found = []
        for p in psutil.process_iter(["name", "exe", "cmdline", "status"]):
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            match = identify_process(
                catalogue,
                os_name=current_os(),
                name=p.info["name"] or "",
                exe=p.info["exe"] or "",
                cmdline=p.info["cmdline"] or (),
                pe=None,
            )
            if match is not None and match.tool_id in tool_ids:
                found.append(p.pid)
        if not found:
            return
        if time.monotonic() > deadline:
            pytest.skip(f"other {'/'.join(tool_ids)} processes run on this machine: {found}")
        time.sleep(0.5)


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    kids = Children(bindir)
    yield kids
    kids.kill_all()


@pytest.fixture
def start_agent(agent_cmd: list[str], tmp_path: Path) -> Iterator[Callable[..., RunningAgent]]:
    agents: list[RunningAgent] = []

    def start(*, mode: str = "poll", extra: str | None = None) -> RunningAgent:
        state = tmp_path / "state"
        lines = [
            "[agent]",
            f"state_dir = {json.dumps(str(state))}",
            "[sensors]",
            'enabled = ["processes", "sessions", "intake"]',
            "poll_hz = 10.0",
            f'process_events = "{mode}"',
            "session_poll_seconds = 0.2",
            "[dialog]",
            'backend = "log"',
            "[telemetry]",
            "enabled = false",
        ]
        if extra is not None:
            extra_file = tmp_path / "extra.yaml"
            extra_file.write_text(extra)
            lines += [
                "[signatures]",
                f"extra_catalogues = [{json.dumps(str(extra_file))}]",
                "reload_seconds = 0.2",
            ]
        config = tmp_path / "agent.toml"
        config.write_text("\n".join(lines) + "\n")
        agent = RunningAgent(agent_cmd, config, state)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        assert agent.stop() == 0, "".join(agent.stderr)


# -- start of a remote tool ---------------------------------------------------------


def test_tools_started_after_unknown_call_warn(
    start_agent: Callable[..., RunningAgent], children: Children
) -> None:
    require_no_other("anydesk", "teamviewer")
    agent = start_agent()
    assert "processes, sessions, intake" in "".join(agent.stdout)
    agent.signal("call-started", "--caller", "unknown")
    agent.wait_context(1)
    anydesk = children.stand_in("AnyDesk.exe")
    teamviewer = children.stand_in("TeamViewer_Service.exe")
    for tool_id, proc in (("anydesk", anydesk), ("teamviewer", teamviewer)):
        pid = proc.pid
        v = agent.wait_verdict(lambda v: pid in v["pids"])  # noqa: B023 - used at once
        assert v["tool_id"] == tool_id
        assert (v["level"], v["trigger"], v["stage"]) == (
            "WARN",
            "unknown_call",
            "remote_tool_started",
        )
        assert proc.pid in v["pids"]
        assert [e["code"] for e in v["evidence"]][:2] == [
            "remote_tool_started",
            "during_unknown_call",
        ]
        children.assert_fast(v, proc)
    out = "".join(agent.stdout)
    assert "WARNING: AnyDesk" in out and "WARNING: TeamViewer" in out  # on the console


def test_tool_without_context_is_a_note_only(
    start_agent: Callable[..., RunningAgent], children: Children
) -> None:
    require_no_other("anydesk")
    agent = start_agent()
    proc = children.stand_in("AnyDesk.exe")
    v = agent.wait_verdict(lambda v: proc.pid in v["pids"])
    assert (v["level"], v["trigger"]) == ("NOTE", "none")
    children.assert_fast(v, proc)
    deadline = time.monotonic() + WAIT
    while not (
        outcomes := [
            r["outcome"] for r in agent.records("outcome") if r["verdict_id"] == v["verdict_id"]
        ]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert outcomes == ["no_warning_shown"]
    assert not [w for w in agent.verdicts() if proc.pid in w["pids"] and w["level"] != "NOTE"]


def test_tool_45_minutes_after_the_call_is_no_warning(
    start_agent: Callable[..., RunningAgent], children: Children
) -> None:
    require_no_other("anydesk")
    agent = start_agent()
    now = time.time()
    agent.signal("call-started", "--caller", "unknown", "--at", format_time(now - 60 * 60))
    agent.signal("call-ended", "--at", format_time(now - 45 * 60))
    agent.wait_context(2)
    proc = children.stand_in("AnyDesk.exe")
    v = agent.wait_verdict(lambda v: proc.pid in v["pids"])
    assert (v["level"], v["trigger"]) == ("NOTE", "none")
    assert "no_context" in [e["code"] for e in v["evidence"]]


# An extra catalogue making the (default silent) known-caller rule journal a NOTE,
# so the test can see the agent took the start and decided "known caller": no WARN.
KNOWN_CALLER_NOTE = "schema: 1\nrules:\n  levels:\n    known_caller: note\n"


def test_known_caller_gives_no_warning(
    start_agent: Callable[..., RunningAgent], children: Children
) -> None:
    require_no_other("anydesk")
    agent = start_agent(extra=KNOWN_CALLER_NOTE)
    agent.signal("call-started", "--caller", "known")
    agent.wait_context(1)
    proc = children.stand_in("AnyDesk.exe")
    v = agent.wait_verdict(lambda v: proc.pid in v["pids"])
    assert (v["level"], v["trigger"]) == ("NOTE", "none")
    codes = [e["code"] for e in v["evidence"]]
    assert "known_caller" in codes and "no_context" not in codes


def test_kernel_process_events_mode(
    start_agent: Callable[..., RunningAgent], children: Children
) -> None:
    require_no_other("anydesk")
    agent = start_agent(mode="netlink")
    err = "".join(agent.stderr)
    if "kernel process events" not in err or "polling instead" in err:
        pytest.skip("the kernel's process connector is not available to this user here")
    agent.signal("call-started", "--caller", "unknown")
    agent.wait_context(1)
    proc = children.stand_in("AnyDesk.exe")
    v = agent.wait_verdict(lambda v: proc.pid in v["pids"])
    assert v["level"] == "WARN"
    children.assert_fast(v, proc)


# -- inside a session ----------------------------------------------------------------------


@pytest.fixture
def anydesk_port() -> Iterator[socket.socket]:
    """A loopback listener on one of AnyDesk's catalogue ports (the "relay")."""
    for port in (7070, 6568):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            continue
        listener.listen(4)
        yield listener
        listener.close()
        return
    pytest.skip("AnyDesk's catalogue ports 7070 and 6568 are both in use on this machine")


CONNECT = (
    "import socket, sys, time\n"
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
    "time.sleep(60)\n"
)


def test_scare_tactic_during_session_alerts(
    start_agent: Callable[..., RunningAgent],
    children: Children,
    anydesk_port: socket.socket,
) -> None:
    require_no_other("anydesk")
    agent = start_agent()
    agent.signal("call-started", "--caller", "unknown")
    agent.wait_context(1)
    # The "remote tool": a Python interpreter named AnyDesk.exe holding a
    # connection to AnyDesk's port, as the real one holds one to its relay.
    python = os.path.realpath(sys.executable)
    tool = children.start(
        [
            str(children.copy(python, "AnyDesk.exe")),
            "-c",
            CONNECT,
            str(anydesk_port.getsockname()[1]),
        ],
        env={**os.environ, "PYTHONHOME": sys.base_prefix},
    )
    conn, _ = anydesk_port.accept()
    try:
        # The process sensor and the session sensor scan independently: either
        # the start is warned about and the session escalates, or the session
        # is seen first and its warning already covers the start.
        first = agent.wait_verdict(lambda v: tool.pid in v["pids"])
        assert (first["level"], first["tool_id"]) == ("WARN", "anydesk")
        assert first["stage"] in ("remote_tool_started", "session_active")
        session = agent.wait_verdict(
            lambda v: v["stage"] == "session_active" and tool.pid in v["pids"]
        )
        assert session["level"] == "WARN" and session["trigger"] == "unknown_call"
        assert "session_active" in [e["code"] for e in session["evidence"]]
        # The scammer "proves" the infection: cmd running netstat.
        children.copy(SLEEP, "netstat")
        cmd = children.copy(SH, "cmd.exe")
        env = {**os.environ, "PATH": f"{children.bindir}{os.pathsep}{os.environ['PATH']}"}
        scare = children.start([str(cmd), "-c", "netstat 30; true"], env=env)
        alert = agent.wait_verdict(
            lambda v: v["stage"] == "scare_tactics" and tool.pid in v["pids"]
        )
        assert (alert["level"], alert["tool_id"], alert["trigger"]) == (
            "ALERT",
            "anydesk",
            "unknown_call",
        )
        assert alert["evidence"][0]["code"] == "scare_tactic"
        assert alert["evidence"][0]["params"]["tactic"] == "netstat"
        children.assert_fast(alert, scare)
        # A second demonstration in the same session is not a new alert. The
        # banking page signalled after it is the marker: the signal command takes
        # far longer than the 10 Hz process sensor needs to see the netstat, so
        # by the banking verdict a second scare-tactic verdict would be there too.
        again = children.start([str(cmd), "-c", "netstat 30; true"], env=env)
        assert again.poll() is None
        agent.signal("banking")
        banking = agent.wait_verdict(
            lambda v: v["stage"] == "banking_during_session" and tool.pid in v["pids"]
        )
        assert banking["level"] == "ALERT"
        mine = [v["stage"] for v in agent.verdicts() if tool.pid in v["pids"]]
        assert mine[-3:] == ["session_active", "scare_tactics", "banking_during_session"]
        assert mine[:-3] in ([], ["remote_tool_started"])
        assert "ALERT: AnyDesk" in "".join(agent.stdout)
    finally:
        conn.close()


# -- a broken catalogue update ---------------------------------------------------------


EXTRA_TOOL = """schema: 1
tools:
  - id: fixturedesk
    name: FixtureDesk
    processes:
      windows: [FixtureDesk.exe]
    files: ["FixtureDesk*.exe"]
    ports: [47999]
"""


def test_broken_catalogue_update_keeps_the_last_good_set(
    start_agent: Callable[..., RunningAgent], children: Children, tmp_path: Path
) -> None:
    agent = start_agent(extra=EXTRA_TOOL)
    (tmp_path / "extra.yaml").write_text(EXTRA_TOOL.replace("ports: [47999]", "ports: [seven]"))
    deadline = time.monotonic() + WAIT
    while "keeping the last good set" not in "".join(agent.stderr):
        assert time.monotonic() < deadline, "".join(agent.stderr)
        time.sleep(0.05)
    err = "".join(agent.stderr)
    assert "extra.yaml:8: tools[fixturedesk].ports" in err
    # The tool only the extra file defines is still recognised.
    agent.signal("scareware")
    agent.wait_context(1)
    children.stand_in("FixtureDesk.exe")
    v = agent.wait_verdict(lambda v: v["tool_id"] == "fixturedesk")
    assert v["level"] == "WARN"


# -- a renamed tool, recognised by its PE version resource ------------------------------


def test_renamed_tool_recognised_by_pe_metadata(
    repo: Path, tmp_path: Path, children: Children
) -> None:
    """Real runtime, real process sensor, real renamed child process; PE reader seam only.

    On Linux the child's exe is an ELF, so the sensor's PE reader is given the
    committed PE fixture (AnyDesk's version resource under another name) for
    that one path; every other path is read for real.
    """
    require_no_other("anydesk")
    from agent.catalogue.loader import CatalogueHolder
    from agent.config import from_dict
    from agent.dialog.log import LogPresenter
    from agent.identify.pe import PeCache, read_pe_info
    from agent.runtime import Runtime
    from agent.sensors.base import SensorContext
    from agent.sensors.processes.sensor import ProcessSensor

    fixture = repo / "tests" / "data" / "pe" / "renamed_tool.exe"
    renamed = children.copy(SLEEP, "invoice_2026.exe")

    def reader(path: str) -> Any:
        return read_pe_info(str(fixture) if path == str(renamed) else path)

    state = tmp_path / "state"
    config = from_dict({"agent": {"state_dir": str(state)}, "sensors": {"poll_hz": 10.0}})
    holder = CatalogueHolder()
    ctx = SensorContext(config, holder.current, time.time, state)
    sensor = ProcessSensor(ctx, mode="poll", pe_cache=PeCache(reader=reader))
    runtime = Runtime(config, presenter=LogPresenter(config), catalogue=holder, sensors=[sensor])
    thread = threading.Thread(target=runtime.run)
    thread.start()
    try:
        assert runtime.wait_ready()
        proc = children.start([str(renamed), "60"])
        deadline = time.monotonic() + WAIT
        while True:
            records = read_records(state / "journal.jsonl")
            mine = [r["verdict"] for r in records if proc.pid in r["verdict"].get("pids", [])]
            if mine:
                break
            assert time.monotonic() < deadline, "no verdict for the renamed tool"
            time.sleep(0.02)
        v = mine[0]
        assert (v["tool_id"], v["level"]) == ("anydesk", "NOTE")
        renamed_ev = next(e for e in v["evidence"] if e["code"] == "renamed_tool")
        assert renamed_ev["params"]["name"] == "invoice_2026.exe"
        assert proc.pid in v["pids"]
    finally:
        runtime.stop()
        thread.join(10)
    assert not thread.is_alive()

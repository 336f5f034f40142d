"""Real remote-desktop servers from Debian's packages, watched by a running agent.

No stand-ins: TigerVNC's ``x0vncserver`` (Debian's Perl wrapper, which forks a
monitor and the real server ``X0tigervnc`` and then exits) on a throwaway Xvfb,
``Xtigervnc`` on a non-default display (it listens on 5900 + display), and
``x11vnc`` on a throwaway Xvfb. A real VNC client (TigerVNC's viewer, itself on
an Xvfb) connects to each over loopback, which is what the session sensor must
see.

The agent runs with the console warning on a pipe, so the test can answer
"1" (Stop) like a person at a terminal. ``suspend_tool = false``: with the tool
suspended while the first warning is open, the server could not accept the
viewer, and the session stage is what these journeys are about.

Displays and ports are chosen free (lock files and a bind check); other
engineers' tests run beside these. Every process is killed by pid at the end.
Under CI a missing server or viewer fails the run (scripts/test.sh installs them).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent.journal.journal import read_records

WAIT = 15.0
START_TIMEOUT = 30.0


def require(*commands: str) -> None:
    """Skip when a command is missing; under CI, fail (scripts/test.sh installs them)."""
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    message = f"not installed: {', '.join(missing)} (Debian: tigervnc-*, x11vnc, xvfb)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _display_free(n: int) -> bool:
    return not (
        Path(f"/tmp/.X{n}-lock").exists()
        or Path(f"/tmp/.X11-unix/X{n}").exists()
        or not _port_free(6000 + n)
    )


def free_display(low: int, high: int) -> int:
    """A display number in [low, high] with no X server (and, below 100, VNC port 5900+N free)."""
    candidates = list(range(low, high + 1))
    random.shuffle(candidates)
    for n in candidates:
        if _display_free(n) and (n >= 100 or _port_free(5900 + n)):
            return n
    pytest.skip(f"no free X display in {low}..{high}")


def free_vnc_port() -> int:
    """A free port in the VNC range 5900-5999 (the catalogue's range)."""
    candidates = list(range(5900, 6000))
    random.shuffle(candidates)
    for port in candidates:
        if _port_free(port):
            return port
    pytest.skip("no free port in 5900-5999")


@dataclass
class Procs:
    """Processes a test started (and their descendants); all killed by pid at the end."""

    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra: set[int] = field(default_factory=set)

    def start(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kwargs)
        self.started.append(proc)
        return proc

    def adopt(self, pid: int) -> None:
        """A process ours started that outlives its parent (a daemonised server)."""
        self.extra.add(pid)

    def kill_all(self) -> None:
        pids = {p.pid for p in self.started} | self.extra
        for pid in list(pids):
            with contextlib.suppress(psutil.Error):
                pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.started:
            proc.wait()


@pytest.fixture
def procs() -> Iterator[Procs]:
    p = Procs()
    yield p
    p.kill_all()


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def xvfb(procs: Procs) -> int:
    """A fresh Xvfb on a free display; returns the display number."""
    for _ in range(5):
        n = free_display(200, 899)
        proc = procs.start(["Xvfb", f":{n}", "-screen", "0", "640x480x24", "-nolisten", "tcp"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                return n
            time.sleep(0.05)
        # Another suite took the display in the meantime: try another one.
    pytest.fail("Xvfb did not start")


def listening(pid_name: str, port: int) -> int | None:
    """The pid of the process named ``pid_name`` listening on 127.0.0.1:``port``."""
    for p in psutil.process_iter(["name"]):
        if p.info["name"] != pid_name:
            continue
        with contextlib.suppress(psutil.Error):
            for c in p.net_connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port:
                    return p.pid
    return None


def viewer(procs: Procs, display: int, port: int) -> subprocess.Popen[bytes]:
    """TigerVNC's real viewer on the viewer Xvfb, connected to 127.0.0.1:port."""
    return procs.start(
        ["xtigervncviewer", "-SecurityTypes", "None", f"127.0.0.1::{port}"],
        env={**os.environ, "DISPLAY": f":{display}"},
    )


def established(pid: int, port: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(
            c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
            for c in psutil.Process(pid).net_connections(kind="tcp")
        )
    return False


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Agent:
    """``ratwatch-agent run`` with the console warning on pipes (stdin: the person's answers)."""

    def __init__(self, agent_cmd: list[str], tmp: Path) -> None:
        self.agent_cmd = agent_cmd
        self.state = tmp / "state"
        self.config = tmp / "agent.toml"
        self.config.write_text(
            "\n".join(
                [
                    "[agent]",
                    f"state_dir = {json.dumps(str(self.state))}",
                    "[sensors]",
                    'enabled = ["processes", "sessions", "intake"]',
                    "poll_hz = 10.0",
                    'process_events = "poll"',
                    "session_poll_seconds = 0.2",
                    "[dialog]",
                    'backend = "console"',
                    "suspend_tool = false",
                    "[telemetry]",
                    "enabled = false",
                ]
            )
            + "\n"
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.proc = subprocess.Popen(
            [*agent_cmd, "run", "--config", str(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "LANG": "en_GB.UTF-8"},
        )
        for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, into), daemon=True).start()
        wait_for(
            "the agent to start",
            lambda: any("Stop with Ctrl+C" in x for x in self.out) or self._died(),
            START_TIMEOUT,
        )

    def _died(self) -> bool:
        assert self.proc.poll() is None, "agent exited:\n" + "".join(self.err)
        return False

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def signal(self, *args: str) -> None:
        n = len(self.records("context"))
        subprocess.run(
            [*self.agent_cmd, "signal", *args, "--config", str(self.config)],
            check=True,
            capture_output=True,
        )
        wait_for("the agent to take the signal", lambda: len(self.records("context")) > n)

    def records(self, kind: str) -> list[dict[str, Any]]:
        path = self.state / "journal.jsonl"
        if not path.exists():
            return []
        return [r for r in read_records(path) if r["type"] == kind]

    def verdicts(self, tool_id: str) -> list[dict[str, Any]]:
        return [r["verdict"] for r in self.records("verdict") if r["verdict"]["tool_id"] == tool_id]

    def wait_verdict(self, tool_id: str, stage: str) -> dict[str, Any]:
        found: dict[str, Any] = wait_for(
            f"a {stage} verdict for {tool_id}; journal: {self.verdicts(tool_id)}",
            lambda: next((v for v in self.verdicts(tool_id) if v["stage"] == stage), None),
        )
        return found

    def answer(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def menus(self) -> int:
        """How many times a warning with its three choices has been printed."""
        return sum(1 for x in self.out if x.startswith("  [3] "))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@pytest.fixture
def start_agent(agent_cmd: list[str], tmp_path: Path) -> Iterator[Callable[[], Agent]]:
    agents: list[Agent] = []

    def start() -> Agent:
        agent = Agent(agent_cmd, tmp_path)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        assert agent.stop() == 0, "".join(agent.err)


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment with a private HOME (the TigerVNC wrapper writes ~/.vnc)."""
    h = tmp_path / "home"
    h.mkdir()
    return {**os.environ, "HOME": str(h)}


def other_tool_running(*names: str) -> None:
    """Skip when someone else on this shared machine runs the same server (one episode per tool)."""
    deadline = time.monotonic() + 20
    while True:
        others = [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in names]
        if not others:
            return
        if time.monotonic() > deadline:
            pytest.skip(f"other {'/'.join(names)} processes run on this machine: {others}")
        time.sleep(0.5)


TIGER = ("x0vncserver", "X0tigervnc", "Xtigervnc", "tigervncserver", "x0tigervncserv")


def _warn_session_stop(
    agent: Agent, procs: Procs, tool_id: str, server_pid: int, port: int, view: int
) -> None:
    """The shared second half: WARN on the start, session_active on the viewer, Stop ends it."""
    first = agent.wait_verdict(tool_id, "remote_tool_started")
    assert (first["level"], first["trigger"]) == ("WARN", "unknown_call")
    wait_for("the warning on the console", lambda: agent.menus() >= 1)
    viewer(procs, view, port)
    wait_for("the viewer's connection", lambda: established(server_pid, port))
    session = agent.wait_verdict(tool_id, "session_active")
    assert session["level"] == "WARN"
    assert server_pid in session["pids"]
    # The session verdict merges into the open warning, which is printed again.
    wait_for("the merged warning", lambda: agent.menus() >= 2)
    agent.answer("1")
    wait_for(
        "the server to be stopped; the agent printed:\n"
        + "".join(agent.out[-30:] + agent.err[-10:]),
        lambda: gone(server_pid),
    )
    outcomes = wait_for(
        "the outcome",
        lambda: [
            r["outcome"] for r in agent.records("outcome") if r["verdict"]["tool_id"] == tool_id
        ],
    )
    assert set(outcomes) == {"user_stopped"}


def test_x0vncserver_after_unknown_call(
    start_agent: Callable[[], Agent], procs: Procs, home: dict[str, str]
) -> None:
    require("Xvfb", "x0vncserver", "X0tigervnc", "xtigervncviewer")
    other_tool_running(*TIGER)
    desk, view = xvfb(procs), xvfb(procs)
    agent = start_agent()
    agent.signal("call-started", "--caller", "unknown")
    port = free_vnc_port()
    argv = ["x0vncserver", "-display", f":{desk}", "-SecurityTypes", "None", "-localhost", "yes"]
    wrapper = procs.start([*argv, "-rfbport", str(port)], env=home)
    server = wait_for("X0tigervnc to listen", lambda: listening("X0tigervnc", port))
    procs.adopt(server)
    for p in psutil.Process(server).parents():
        if p.name() == "x0vncserver":
            procs.adopt(p.pid)  # the wrapper's monitor, which outlives the wrapper
    # Debian's wrapper exits once the server is up: the pid the catalogue first
    # matched is gone, and the session and Stop must follow to the real server.
    assert wrapper.wait(timeout=WAIT) == 0
    _warn_session_stop(agent, procs, "tigervnc", server, port, view)


def test_xtigervnc_on_a_non_default_display(
    start_agent: Callable[[], Agent], procs: Procs, home: dict[str, str]
) -> None:
    require("Xvfb", "Xtigervnc", "xtigervncviewer")
    other_tool_running(*TIGER)
    view = xvfb(procs)
    agent = start_agent()
    agent.signal("call-started", "--caller", "unknown")
    n = free_display(10, 99)
    port = 5900 + n  # Xtigervnc on display :N listens on 5900 + N
    server = procs.start(
        ["Xtigervnc", f":{n}", "-SecurityTypes", "None", "-localhost", "-geometry", "640x480"],
        env=home,
    )
    wait_for("Xtigervnc to listen", lambda: listening("Xtigervnc", port))
    _warn_session_stop(agent, procs, "tigervnc", server.pid, port, view)


def test_x11vnc_after_unknown_call(
    start_agent: Callable[[], Agent], procs: Procs, home: dict[str, str]
) -> None:
    require("Xvfb", "x11vnc", "xtigervncviewer")
    other_tool_running("x11vnc")
    desk, view = xvfb(procs), xvfb(procs)
    agent = start_agent()
    agent.signal("call-started", "--caller", "unknown")
    port = free_vnc_port()
    server = procs.start(x11vnc_argv(desk, port), env=home)
    wait_for("x11vnc to listen", lambda: listening("x11vnc", port))
    _warn_session_stop(agent, procs, "x11vnc", server.pid, port, view)


def x11vnc_argv(display: int, port: int) -> list[str]:
    return [
        "x11vnc", "-display", f":{display}", "-rfbport", str(port), "-localhost",
        "-nopw", "-forever", "-shared", "-quiet", "-noxdamage",
    ]  # fmt: skip


def test_x11vnc_without_a_call_is_a_note_only(
    start_agent: Callable[[], Agent], procs: Procs, home: dict[str, str]
) -> None:
    require("Xvfb", "x11vnc", "xtigervncviewer")
    other_tool_running("x11vnc")
    desk, view = xvfb(procs), xvfb(procs)
    agent = start_agent()
    port = free_vnc_port()
    server = procs.start(x11vnc_argv(desk, port), env=home)
    wait_for("x11vnc to listen", lambda: listening("x11vnc", port))
    note = agent.wait_verdict("x11vnc", "remote_tool_started")
    assert note["level"] == "NOTE"
    viewer(procs, view, port)
    wait_for("the viewer's connection", lambda: established(server.pid, port))
    time.sleep(2.0)  # ten session scans: a session on a NOTE episode without context is silent
    assert [v["level"] for v in agent.verdicts("x11vnc")] == ["NOTE"]
    assert agent.menus() == 0 and not gone(server.pid)


def test_detached_start_gets_the_normal_verdict(
    start_agent: Callable[[], Agent], procs: Procs, home: dict[str, str]
) -> None:
    """``setsid`` from a shell that exits: parent pid 1, yet no service started it."""
    require("Xvfb", "x11vnc", "setsid")
    other_tool_running("x11vnc")
    desk = xvfb(procs)
    agent = start_agent()
    port = free_vnc_port()
    argv = " ".join(x11vnc_argv(desk, port))
    shell = procs.start(["sh", "-c", f"setsid {argv} >/dev/null 2>&1 < /dev/null &"], env=home)
    assert shell.wait(timeout=WAIT) == 0
    server = wait_for("x11vnc to listen", lambda: listening("x11vnc", port))
    procs.adopt(server)
    assert psutil.Process(server).ppid() != shell.pid  # reparented (to init or a subreaper)
    note = agent.wait_verdict("x11vnc", "remote_tool_started")
    assert note["level"] == "NOTE"  # before: taken for a service started at boot, nothing


def test_unknown_call_during_an_active_session_warns(
    start_agent: Callable[[], Agent], procs: Procs, home: dict[str, str]
) -> None:
    """The "refund call" to a PC that already has the scammer's tool connected."""
    require("Xvfb", "x11vnc", "xtigervncviewer")
    other_tool_running("x11vnc")
    desk, view = xvfb(procs), xvfb(procs)
    agent = start_agent()
    port = free_vnc_port()
    server = procs.start(x11vnc_argv(desk, port), env=home)
    wait_for("x11vnc to listen", lambda: listening("x11vnc", port))
    assert agent.wait_verdict("x11vnc", "remote_tool_started")["level"] == "NOTE"
    viewer(procs, view, port)
    wait_for("the viewer's connection", lambda: established(server.pid, port))
    # Well after the start (more than the correlator's 5 s clock skew), so the
    # call cannot count as context for the start itself: only the session is live.
    time.sleep(6.0)
    agent.signal("call-started", "--caller", "unknown")
    warn = agent.wait_verdict("x11vnc", "session_active")
    assert (warn["level"], warn["trigger"]) == ("WARN", "unknown_call")
    assert "call_during_session" in [e["code"] for e in warn["evidence"]]
    wait_for("the warning on the console", lambda: agent.menus() >= 1)
    # The ALERT for a scare tactic that follows is in tests/agent/correlate (the
    # end-to-end version was flaky on the shared machine and was left out).

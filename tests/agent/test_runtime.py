"""The runtime's wiring: sensors -> correlator -> presenter / journal / sinks, and clean stops.

In-process tests run ``Runtime.run`` on a helper thread (signals are only
installed on the main thread) with the real catalogue, the real intake sensor
and a ``ManualSensor`` seam standing in for the process sensor, so a test can
say "this tool started" without racing a real process table (the end-to-end
tests do that with real processes). The presenter is a scripted stand-in for
the person's click (the real dialogs are tested in the dialog tests).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent.config import AgentConfig, from_dict
from agent.control.actions import ToolActions
from agent.dialog.base import OnOutcome
from agent.events import (
    CallerKind,
    CallStarted,
    Confidence,
    Event,
    MatchedBy,
    PathClass,
    ProcessStarted,
    SessionStarted,
    ToolMatch,
)
from agent.journal.journal import read_records
from agent.runtime import Runtime
from agent.sensors import SENSORS
from agent.sensors.base import Emit, Sensor, SensorContext, SensorThread
from agent.sensors.intake import documents as intake
from agent.sensors.intake.sensor import IntakeSensor
from agent.verdict import Level, Outcome, Resolution, Verdict


class ManualSensor:
    """Seam for the process sensor: the test emits the events a real sensor would."""

    name = "manual"

    def __init__(self) -> None:
        self.emit: Emit | None = None
        self.stopped = False

    def start(self, emit: Emit) -> None:
        self.emit = emit

    def stop(self) -> None:
        self.stopped = True


class BrokenSensor:
    name = "broken"

    def start(self, emit: Emit) -> None:
        raise OSError("no permission for the event source")

    def stop(self) -> None:  # pragma: no cover - never started
        raise AssertionError


class ScriptedPresenter:
    """Answers every WARN / ALERT with a fixed choice, as the person's click would."""

    name = "scripted"

    def __init__(self, outcome: Outcome = Outcome.IGNORED) -> None:
        self.outcome = outcome
        self.shown: list[Verdict] = []

    def serve(
        self, verdicts: queue.Queue[Verdict], on_outcome: OnOutcome, stop_event: threading.Event
    ) -> None:
        while not stop_event.is_set():
            try:
                verdict = verdicts.get(timeout=0.05)
            except queue.Empty:
                continue
            self.shown.append(verdict)
            on_outcome(verdict, self.outcome)


class RecordingService:
    def __init__(self, log: list[str], name: str, fail: bool = False) -> None:
        self.log, self.name, self.fail = log, name, fail

    def start(self) -> None:
        if self.fail:
            raise RuntimeError("cannot start")
        self.log.append(f"start {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def _config(state_dir: Path, **sections: dict[str, Any]) -> AgentConfig:
    data: dict[str, Any] = {
        "agent": {"state_dir": str(state_dir)},
        "sensors": {"enabled": ["intake"]},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return from_dict(data)


def tool_started(pid: int, tool_id: str = "anydesk", name: str = "AnyDesk.exe") -> ProcessStarted:
    now = time.time()
    return ProcessStarted(
        at=now,
        pid=pid,
        ppid=1,
        name=name,
        exe=f"/tmp/{name}",
        cmdline=(name,),
        create_time=now,
        path_class=PathClass.DOWNLOADS,
        tool=ToolMatch(tool_id, "AnyDesk", MatchedBy.PROCESS_NAME, Confidence.HIGH),
    )


def wait_for(cond: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


class Agent:
    """A Runtime running on a helper thread."""

    def __init__(self, runtime: Runtime, manual: ManualSensor) -> None:
        self.runtime = runtime
        self.manual = manual
        self.thread = threading.Thread(target=runtime.run, name="test-runtime")
        self.thread.start()
        assert runtime.wait_ready(10)

    def emit(self, event: Event) -> None:
        assert self.manual.emit is not None
        self.manual.emit(event)

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = list(read_records(self.runtime.journal.path))
        return [r for r in rows if kind is None or r["type"] == kind]

    def stop(self) -> None:
        self.runtime.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    agents: list[Agent] = []

    def start(
        *,
        presenter: Any = None,
        sinks: tuple[Callable[[Resolution], object], ...] = (),
        services: tuple[Any, ...] = (),
        extra_sensors: tuple[Any, ...] = (),
        config: AgentConfig | None = None,
        console: io.StringIO | None = None,
    ) -> Agent:
        manual = ManualSensor()
        given: tuple[Any, ...] | None = None
        if config is None:  # the manual seam plus the real intake sensor
            given = (manual, IntakeSensor(tmp_path / "state", time.time), *extra_sensors)
        runtime = Runtime(
            config or _config(tmp_path / "state"),
            presenter=presenter or ScriptedPresenter(),
            resolution_sinks=sinks,
            services=services,
            sensors=given,
            console=console,
        )
        agent = Agent(runtime, manual)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()


def test_note_is_journaled_and_resolved_at_once(start_agent: Callable[..., Agent]) -> None:
    got: list[Resolution] = []
    presenter = ScriptedPresenter()
    agent = start_agent(presenter=presenter, sinks=(got.append,))
    agent.emit(tool_started(4242))
    outcome = wait_for(lambda: agent.records("outcome"))
    assert outcome[0]["outcome"] == "no_warning_shown"
    (verdict,) = agent.records("verdict")
    assert verdict["verdict"]["level"] == "NOTE" and verdict["verdict"]["pids"] == [4242]
    assert [r.outcome for r in got] == [Outcome.NO_WARNING_SHOWN]
    assert presenter.shown == []  # a NOTE is journal only


def test_warn_goes_to_presenter_and_trust_silences_the_tool(
    start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    got: list[Resolution] = []
    presenter = ScriptedPresenter(Outcome.USER_TRUSTED)
    agent = start_agent(presenter=presenter, sinks=(got.append,))
    intake.write_inbox_file(tmp_path / "state", intake.document("call-started", caller="unknown"))
    wait_for(lambda: agent.records("context"))
    agent.emit(tool_started(1))
    wait_for(lambda: got)
    assert presenter.shown[0].level is Level.WARN
    assert got[0].outcome is Outcome.USER_TRUSTED
    assert [r["outcome"] for r in agent.records("outcome")] == ["user_trusted"]
    # Trusted: the session and a scare tactic stay quiet.
    agent.emit(SessionStarted(time.time(), "anydesk", 1, "connection"))
    tactic = dataclasses.replace(tool_started(2), tool=None, name="netstat", scare_tactic="netstat")
    agent.emit(tactic)
    marker = tool_started(3, tool_id="teamviewer", name="TeamViewer.exe")
    agent.emit(marker)  # another tool, not trusted: proves the events above were handled
    wait_for(lambda: len(agent.records("verdict")) == 2)
    assert [r["verdict"]["tool_id"] for r in agent.records("verdict")] == ["anydesk", "teamviewer"]


def test_log_presenter_prints_warn_on_the_console(
    start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    from agent.dialog.log import LogPresenter

    console = io.StringIO()
    config = _config(tmp_path / "state")
    agent = start_agent(presenter=LogPresenter(config), console=console)
    intake.write_inbox_file(tmp_path / "state", intake.document("scareware"))
    wait_for(lambda: agent.records("context"))
    agent.emit(tool_started(7))
    wait_for(lambda: "WARNING: AnyDesk" in console.getvalue())
    text = console.getvalue()
    assert "after: scareware page" in text and "- AnyDesk was started." in text


def test_failing_sink_and_service_do_not_stop_the_agent(
    start_agent: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken_sink(resolution: Resolution) -> None:
        raise RuntimeError("disk full")

    got: list[Resolution] = []
    services = (RecordingService(calls, "a"), RecordingService(calls, "b", fail=True))
    agent = start_agent(sinks=(broken_sink, got.append), services=services)
    agent.emit(tool_started(5))
    wait_for(lambda: got)
    assert agent.records("outcome")
    assert "a resolution sink failed" in caplog.text
    assert "service b failed to start" in caplog.text
    agent.stop()
    assert calls == ["start a", "stop a"]


def test_sensor_that_fails_or_is_missing_is_skipped(
    start_agent: Callable[..., Agent], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ghost(ctx: SensorContext) -> Sensor:
        import agent.sensors.ghost_does_not_exist  # type: ignore[import-not-found]  # noqa: F401

        raise AssertionError("unreachable")

    monkeypatch.setitem(SENSORS, "ghost", ghost)
    config = _config(tmp_path / "state", sensors={"enabled": ["ghost", "intake"]})
    agent = start_agent(config=config)
    status = agent.runtime.status
    assert status.sensors == ["intake"]
    assert status.skipped == {"ghost": "not available in this build"}
    # The intake sensor runs: a signal reaches the journal.
    intake.write_inbox_file(tmp_path / "state", intake.document("call-ended"))
    wait_for(lambda: agent.records("context"))


def test_sensor_that_raises_on_start_is_skipped(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent(extra_sensors=(BrokenSensor(),))
    assert agent.runtime.status.sensors == ["manual", "intake"]
    assert agent.runtime.status.skipped == {"broken": "OSError"}
    agent.emit(tool_started(9))
    wait_for(lambda: agent.records("verdict"))


class DyingSensor:
    """A sensor on the real guarded loop whose thread dies once the test says so."""

    name = "dying"

    def __init__(self) -> None:
        self.go = threading.Event()
        self.sink: Callable[[str, str], None] = lambda name, kind: None
        self.thread: SensorThread | None = None

    def _report(self, name: str, kind: str) -> None:
        self.sink(name, kind)

    def _body(self) -> None:
        self.go.wait(10)
        raise SystemExit(1)  # not an Exception: no guard can keep this loop going

    def start(self, emit: Callable[[Event], None]) -> None:
        self.thread = SensorThread(
            self.name,
            "dying step",
            self._body,
            stopped=lambda: False,
            wait=lambda s: None,
            period=1.0,
            failed=self._report,
        )
        self.thread.start()

    def stop(self) -> None:
        self.go.set()
        if self.thread is not None:
            self.thread.join()


def test_a_sensor_whose_thread_died_is_failed_not_running(
    start_agent: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    """Before the guard, a dead sensor thread stayed listed as running, silently."""
    dying = DyingSensor()
    agent = start_agent(extra_sensors=(dying,))
    assert agent.runtime.status.sensors == ["manual", "intake", "dying"]
    dying.sink = agent.runtime.sensor_failed
    dying.go.set()
    wait_for(lambda: agent.runtime.status.failed)
    assert agent.runtime.status.failed == {"dying": "SystemExit"}
    assert agent.runtime.status.sensors == ["manual", "intake"]
    assert "sensor dying failed (SystemExit); sensors still running: manual, intake" in caplog.text
    agent.emit(tool_started(9))  # the rest of the agent carries on
    wait_for(lambda: agent.records("verdict"))


class ClosingPresenter(ScriptedPresenter):
    """Like a real dialog: a warning still open when the agent stops ends as IGNORED."""

    def serve(
        self, verdicts: queue.Queue[Verdict], on_outcome: OnOutcome, stop_event: threading.Event
    ) -> None:
        while not stop_event.is_set():
            try:
                self.shown.append(verdicts.get(timeout=0.05))
            except queue.Empty:
                continue
        time.sleep(0.3)  # closing the window takes a moment
        for verdict in self.shown:
            on_outcome(verdict, Outcome.IGNORED)


def test_choices_reported_while_stopping_are_kept(
    start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    got: list[Resolution] = []
    presenter = ClosingPresenter()
    agent = start_agent(presenter=presenter, sinks=(got.append,))
    intake.write_inbox_file(tmp_path / "state", intake.document("scareware"))
    wait_for(lambda: agent.records("context"))
    agent.emit(tool_started(11))
    wait_for(lambda: presenter.shown)
    agent.stop()
    assert [r.outcome for r in got] == [Outcome.IGNORED]
    assert [r["outcome"] for r in agent.records("outcome")] == ["ignored"]


def test_stop_joins_everything_and_stops_sensors(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent()
    agent.stop()
    assert agent.manual.stopped
    assert not [t for t in threading.enumerate() if t.name.startswith("ratwatch-")]


def test_events_queued_before_stop_are_still_journaled(start_agent: Callable[..., Agent]) -> None:
    agent = start_agent()
    for pid in range(100, 150):
        agent.emit(tool_started(pid, tool_id=f"tool{pid}", name=f"t{pid}.exe"))
    agent.stop()
    assert len(agent.records("verdict")) == 50


def test_processes_left_suspended_are_resumed_at_start(
    start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    """A crash with a warning open left a tool frozen: the next start resumes it."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ToolActions(tmp_path / "state").suspend([child.pid])
        # SIGSTOP / SIGCONT take effect asynchronously: wait for the state, briefly.
        wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_STOPPED)
        start_agent()
        wait_for(lambda: psutil.Process(child.pid).status() != psutil.STATUS_STOPPED)
    finally:
        child.kill()
        child.wait()


def test_processes_suspended_while_running_are_resumed_at_stop(
    start_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    """The agent stops with a warning open (the tool suspended): nothing stays frozen."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        agent = start_agent()
        ToolActions(tmp_path / "state").suspend([child.pid])
        # SIGSTOP / SIGCONT take effect asynchronously: wait for the state, briefly.
        wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_STOPPED)
        agent.stop()
        wait_for(lambda: psutil.Process(child.pid).status() != psutil.STATUS_STOPPED)
    finally:
        child.kill()
        child.wait()


def test_failure_log_lines_carry_no_home_path(
    start_agent: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    home = str(Path.home())

    def sink(resolution: Resolution) -> None:
        raise OSError(f"cannot write {home}/secret-user-file.db")

    agent = start_agent(sinks=(sink,))
    agent.emit(tool_started(5))
    wait_for(lambda: "a resolution sink failed" in caplog.text)
    line = next(r.getMessage() for r in caplog.records if "sink failed" in r.getMessage())
    assert "~/secret-user-file.db" in line and home + "/" not in line
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)


def test_broken_catalogue_update_keeps_last_good_set(
    start_agent: Callable[..., Agent], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("schema: 1\nrules:\n  call_window_minutes: 45\n")
    config = _config(
        tmp_path / "state",
        signatures={"extra_catalogues": [str(extra)], "reload_seconds": 0.1},
    )
    caplog.set_level(logging.INFO)
    agent = start_agent(config=config)
    assert agent.runtime.catalogue().rules.call_window_minutes == 45
    extra.write_text("schema: 1\nrules:\n  call_window_minutes: [oops\n")
    wait_for(lambda: "keeping the last good set" in caplog.text)
    assert agent.runtime.catalogue().rules.call_window_minutes == 45
    extra.write_text("schema: 1\nrules:\n  call_window_minutes: 50\n")
    wait_for(lambda: agent.runtime.catalogue().rules.call_window_minutes == 50)


# -- the real command in a child process ------------------------------------------------


def _spawn(
    agent_cmd: list[str], tmp_path: Path, sensors: tuple[str, ...] = ("intake",)
) -> subprocess.Popen[str]:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\nstate_dir = "{tmp_path / "state"}"\n'
        f"[sensors]\nenabled = {json.dumps(list(sensors))}\n"
        '[dialog]\nbackend = "log"\n'
    )
    return subprocess.Popen(
        [*agent_cmd, "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_child_agent_exits_zero_quickly_on_signal(
    agent_cmd: list[str], tmp_path: Path, signum: signal.Signals
) -> None:
    proc = _spawn(agent_cmd, tmp_path)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Stop with Ctrl+C"):
                break
        out = "".join(lines)
        assert f"journal:   {tmp_path / 'state' / 'journal.jsonl'}" in out
        assert "sensors:   intake" in out
        started = time.monotonic()
        proc.send_signal(signum)
        rc = proc.wait(timeout=10)
        elapsed = time.monotonic() - started
        stderr = proc.stderr.read() if proc.stderr else ""
        assert rc == 0, stderr
        assert elapsed < 3.0, f"took {elapsed:.1f} s to stop"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unknown_sensor_name_is_a_clear_error(agent_cmd: list[str], tmp_path: Path) -> None:
    proc = _spawn(agent_cmd, tmp_path, sensors=("intake", "procesess"))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "[sensors].enabled: unknown sensor 'procesess'; valid sensors:" in err


class HandClock:
    """The runtime's injected wall clock, moved by the test (no sleeping for hours)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _run_agent(state: Path, clock: HandClock, presenter: ScriptedPresenter) -> Agent:
    manual = ManualSensor()
    runtime = Runtime(
        _config(state, dialog={"trust_hours": 8}),
        presenter=presenter,
        clock=clock,
        sensors=(manual,),
    )
    return Agent(runtime, manual)


def _call_then_tool(agent: Agent, clock: HandClock, pid: int, tool_id: str = "anydesk") -> None:
    agent.emit(CallStarted(clock(), CallerKind.UNKNOWN, "intake"))
    names = {"anydesk": "AnyDesk.exe", "teamviewer": "TeamViewer.exe"}
    agent.emit(
        dataclasses.replace(
            tool_started(pid, tool_id, names[tool_id]), at=clock(), create_time=clock()
        )
    )


def test_trust_survives_a_restart_until_it_expires(tmp_path: Path) -> None:
    """Trusted, restarted: still quiet; 9 hours later (8 h trust, injected clock): warned again."""
    state = tmp_path / "state"
    clock = HandClock()
    first = _run_agent(state, clock, ScriptedPresenter(Outcome.USER_TRUSTED))
    try:
        _call_then_tool(first, clock, 1)
        wait_for(lambda: first.records("outcome"))
    finally:
        first.stop()
    saved = json.loads((state / "trust.json").read_text())
    assert [e["tool_id"] for e in saved["trusted"]] == ["anydesk"]
    assert saved["trusted"][0]["until"] == pytest.approx(clock() + 8 * 3600)

    clock.now += 3600  # an hour later, after a restart (reboot, update)
    again = ScriptedPresenter()
    second = _run_agent(state, clock, again)
    try:
        _call_then_tool(second, clock, 2)
        _call_then_tool(second, clock, 3, "teamviewer")  # not trusted: proves the above was handled
        wait_for(lambda: len(second.records("verdict")) == 2)
    finally:
        second.stop()
    assert [r["verdict"]["tool_id"] for r in second.records("verdict")] == ["anydesk", "teamviewer"]
    assert [v.tool_id for v in again.shown] == ["teamviewer"]

    clock.now += 8 * 3600  # the eight hours the person chose are over
    third_presenter = ScriptedPresenter()
    third = _run_agent(state, clock, third_presenter)
    try:
        assert json.loads((state / "trust.json").read_text())["trusted"] == []  # expired: dropped
        _call_then_tool(third, clock, 4)
        wait_for(lambda: third_presenter.shown)
    finally:
        third.stop()
    assert [(v.tool_id, v.level) for v in third_presenter.shown] == [("anydesk", Level.WARN)]


@pytest.mark.parametrize(
    "content",
    ["{not json", '{"version": 1, "trusted": [{"tool_id": "../x", "until": 1e12}]}', "[]"],
)
def test_a_damaged_trust_record_is_logged_and_ignored(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "trust.json").write_text(content)
    clock = HandClock()
    presenter = ScriptedPresenter()
    agent = _run_agent(state, clock, presenter)
    try:
        _call_then_tool(agent, clock, 1)
        wait_for(lambda: presenter.shown)  # nothing trusted: the warning shows
    finally:
        agent.stop()
    assert "trust record is damaged" in caplog.text
    assert str(tmp_path) not in caplog.text
    assert json.loads((state / "trust.json").read_text()) == {"version": 1, "trusted": []}


def _history_writer() -> Any:
    path = Path(__file__).resolve().parents[1] / "data" / "history" / "history_writer.py"
    spec = importlib.util.spec_from_file_location("history_writer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc (Linux)")
def test_idle_agent_with_default_sensors_stays_idle_past_its_timers(
    agent_cmd: list[str], tmp_path: Path
) -> None:
    """The whole agent, default sensors and one idle browser profile, over 75 s.

    75 s is past every sensor timer (the browser rescan every 60 s once spun a
    core from then on: 15 s of CPU in this window; the process sensor's
    polling costs well under 1 s).
    """
    home = tmp_path / "home"
    profile = home / ".config" / "chromium" / "Default"
    profile.mkdir(parents=True)
    hist = _history_writer().ChromiumHistory(profile / "History")
    hist.add_visit("https://nos.nl/", "NOS", time.time() - 30)
    hist.close()
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n[dialog]\nbackend = "log"\n')
    proc = subprocess.Popen(
        [*agent_cmd, "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "HOME": str(home)},
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Stop with Ctrl+C"):
                break
        assert "browser" in "".join(lines)
        time.sleep(3.0)  # start-up work done
        before = _process_cpu_seconds(proc.pid)
        time.sleep(75.0)
        used = _process_cpu_seconds(proc.pid) - before
        assert proc.poll() is None, "".join(lines)
        assert used < 3.0, f"idle agent used {used:.2f} s of CPU in 75 s"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

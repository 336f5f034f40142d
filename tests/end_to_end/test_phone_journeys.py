"""Journeys with the person's real phone: KDE Connect on a real session bus, a real agent runtime.

Real: Debian's dbus-daemon (started here), the D-Bus protocol, the agent's
Runtime with its real ``processes`` and ``phone`` sensors, the correlator,
the journal, and a real child process named like the remote tool (a copy
of ``sleep``). Stand-in: only KDE Connect's daemon and the phone
(tests/data/phone/kdeconnect_standin.py), which emit the daemon's own
signals. "Three minutes later" without waiting three minutes: the agent's
injected clock is set back while the phone rings, so the call is dated
then; the tool's start is the kernel's real start time (now).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
import pytest

from agent.catalogue.loader import load_catalogue
from agent.config import from_dict
from agent.dialog.base import OnOutcome
from agent.journal.journal import read_records
from agent.runtime import Runtime
from agent.verdict import Level, Outcome, Trigger, Verdict

DATA = Path(__file__).resolve().parents[1] / "data" / "phone"
SLEEP = shutil.which("sleep") or "/bin/sleep"
CATALOGUE = load_catalogue()
NUMBER = "+31 6 55501234"
MIN = 60.0


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("phone_session_bus", DATA / "session_bus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SB = _load()


class ShiftedClock:
    """Wall-clock time plus an offset the test sets (the runtime's injected clock)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Recorder:
    """Answers each warning with "ignored", as if the person let it time out."""

    name = "recorder"

    def __init__(self) -> None:
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
            on_outcome(verdict, Outcome.IGNORED)


class _Listening(logging.Handler):
    def __init__(self, event: threading.Event) -> None:
        super().__init__(logging.INFO)
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if "listening on the session bus" in record.getMessage():
            self.event.set()


class Journey:
    def __init__(self, tmp_path: Path, bus: Any) -> None:
        self.tmp = tmp_path
        self.bus = bus
        self.clock = ShiftedClock()
        self.presenter = Recorder()
        self.phone = SB.StandIn(bus)
        self.children: list[subprocess.Popen[bytes]] = []
        config = from_dict({
            "agent": {"state_dir": str(tmp_path / "state")},
            "sensors": {"enabled": ["processes", "phone"]},
            "phone": {"sources": ["kdeconnect"]},
        })
        self.runtime = Runtime(config, presenter=self.presenter, clock=self.clock)
        self.thread = threading.Thread(target=self.runtime.run, name="test-runtime")
        self.listening = threading.Event()
        self._handler = _Listening(self.listening)
        self._logger = logging.getLogger("agent.sensors.phone.kdeconnect")
        self._level = self._logger.level
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(self._handler)

    def start(self) -> None:
        self.phone.start()
        self.phone.send(op="pair", id="pixel7", name="Pixel 7")
        self.thread.start()
        assert self.runtime.wait_ready(20)
        # The source says so in the agent's log once its match rules are on the bus.
        assert self.listening.wait(15), "the phone sensor never got on the bus"

    def ring(self, minutes_ago: float, *, missed: bool = False, contact: str | None = None,
             restart: bool = False) -> None:
        """The phone rings (or a missed call arrives), dated ``minutes_ago`` back."""
        if restart:  # kdeconnectd restarts: a new process and unique name
            self.phone.stop()
            self.phone = SB.StandIn(self.bus)
            self.phone.start()
            self.phone.send(op="pair", id="pixel7", name="Pixel 7")
        before = len(self.records("context"))
        self.clock.offset = -minutes_ago * MIN
        try:
            self.phone.send(op="missed" if missed else "ring", id="pixel7", number=NUMBER,
                            contact=contact)
            SB.wait_until(lambda: len(self.records("context")) > before, 15, "the call seen")
        finally:
            self.clock.offset = 0.0

    def tool(self, tool_id: str) -> None:
        tool = CATALOGUE.tool(tool_id)
        assert tool is not None
        name = tool.names_for("linux")[0]
        deadline = time.monotonic() + 60
        while any(p.info["name"] == name for p in psutil.process_iter(["name"])):
            if time.monotonic() > deadline:
                pytest.skip(f"another program named {name!r} keeps running on this machine")
            time.sleep(0.5)
        exe = self.tmp / name
        shutil.copy2(SLEEP, exe)
        self.children.append(subprocess.Popen([str(exe), "60"]))

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        path = self.runtime.journal.path
        rows = list(read_records(path)) if path.exists() else []
        return [r for r in rows if kind is None or r.get("type") == kind]

    def warned(self, tool_id: str = "anydesk") -> Verdict:
        # Only this tool's: other suites on a shared machine start real VNC servers too.
        def mine() -> Verdict | None:
            return next((v for v in self.presenter.shown if v.tool_id == tool_id), None)

        verdict: Verdict = SB.wait_until(mine, 20, "the warning")
        return verdict

    def stop(self) -> None:
        for child in self.children:
            child.kill()
            child.wait()
        self.runtime.stop()
        if self.thread.is_alive():
            self.thread.join(15)
        assert not self.thread.is_alive()
        self.phone.stop()
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._level)


@pytest.fixture
def journey(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Journey]:
    if SB.dbus_daemon() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs dbus-daemon (Debian package dbus) for the phone journeys")
        pytest.skip("dbus-daemon is not installed")
    bus = SB.SessionBus(tmp_path)
    bus.start()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
    before = set(threading.enumerate())
    j = Journey(tmp_path, bus)
    try:
        j.start()
        yield j
    finally:
        j.stop()
        bus.stop()
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads left behind: {leaked}"


def _call_evidence(verdict: Verdict) -> tuple[str, int]:
    """The call sentence's code and its minutes, whole (a loaded machine adds seconds)."""
    (ev,) = [e for e in verdict.evidence if e.code.endswith("not_in_contacts")]
    return ev.code, int(float(ev.param("minutes")))


def test_unknown_caller_rings_and_anydesk_starts_three_minutes_later(journey: Journey) -> None:
    journey.ring(minutes_ago=3)
    journey.tool("anydesk")
    verdict = journey.warned()
    assert (verdict.level, verdict.trigger, verdict.tool_id) == (
        Level.WARN, Trigger.UNKNOWN_CALL, "anydesk"
    )
    assert _call_evidence(verdict) == ("during_call_not_in_contacts", 3)
    (context,) = journey.records("context")
    assert "55501234" not in str(context)  # not even the PC's own journal has the number


def test_a_known_contact_rings_and_the_tool_stays_quiet(journey: Journey) -> None:
    journey.ring(minutes_ago=3, contact="Dochter Anna")
    journey.tool("anydesk")
    # The process sensor polls several times a second: give it ample time to see it.
    time.sleep(3.0)
    assert [v for v in journey.presenter.shown if v.tool_id == "anydesk"] == []
    assert not [
        r for r in journey.records("verdict")
        if r["verdict"]["tool_id"] == "anydesk" and r["verdict"]["level"] != "NOTE"
    ]


def test_a_missed_unknown_call_then_a_tool_twenty_minutes_later(journey: Journey) -> None:
    journey.ring(minutes_ago=20, missed=True)
    journey.tool("anydesk")
    verdict = journey.warned()
    assert (verdict.level, verdict.trigger) == (Level.WARN, Trigger.UNKNOWN_CALL)
    assert _call_evidence(verdict) == ("after_call_not_in_contacts", 20)


def test_the_daemon_restarts_mid_journey_and_is_still_heard(journey: Journey) -> None:
    journey.ring(minutes_ago=40, contact="Dochter Anna")
    journey.ring(minutes_ago=2, restart=True)
    journey.tool("anydesk")
    verdict = journey.warned()
    assert (verdict.level, verdict.trigger) == (Level.WARN, Trigger.UNKNOWN_CALL)


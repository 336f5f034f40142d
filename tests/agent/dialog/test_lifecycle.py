"""The rules every backend shares: suspension, countdown, escalation, one outcome per choice."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from agent.config import DialogSection
from agent.control.actions import ToolActions
from agent.demo.preview import sample_verdict
from agent.dialog.lifecycle import Desk, Phase, WarningLifecycle
from agent.verdict import Level, Outcome, Verdict


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stopped(pid: int) -> bool:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if psutil.Process(pid).status() == psutil.STATUS_STOPPED:
            return True
        time.sleep(0.02)
    return False


def _running(pid: int) -> bool:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if psutil.Process(pid).status() not in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def tool_pid() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"])
    yield proc.pid
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(proc.pid).resume()
    proc.kill()
    proc.wait()


class Harness:
    def __init__(self, state: Path, **section: object) -> None:
        self.clock = FakeClock()
        self.outcomes: list[tuple[Verdict, Outcome]] = []
        self.section = DialogSection(**section)  # type: ignore[arg-type]
        self.actions = ToolActions(state)

    def on_outcome(self, verdict: Verdict, outcome: Outcome) -> None:
        self.outcomes.append((verdict, outcome))

    def warning(self, verdict: Verdict) -> WarningLifecycle:
        return WarningLifecycle(
            verdict,
            section=self.section,
            actions=self.actions,
            clock=self.clock,
            on_outcome=self.on_outcome,
        )

    def desk(self) -> Desk:
        return Desk(self.warning, self.on_outcome)


def test_tool_is_suspended_while_shown_and_resumed_on_trust(tmp_path: Path, tool_pid: int) -> None:
    h = Harness(tmp_path)
    verdict = sample_verdict(Level.WARN, [tool_pid])
    warning = h.warning(verdict)
    assert warning.suspended and _stopped(tool_pid)

    h.clock.now += 29.9
    assert not warning.trust()  # the countdown still runs
    assert warning.seconds_until_trust() == pytest.approx(0.1)
    h.clock.now += 0.1
    assert warning.trust()

    assert _running(tool_pid)
    assert h.outcomes == [(verdict, Outcome.USER_TRUSTED)]
    assert warning.finished


def test_suspend_off_leaves_the_tool_running(tmp_path: Path, tool_pid: int) -> None:
    h = Harness(tmp_path, suspend_tool=False)
    warning = h.warning(sample_verdict(Level.WARN, [tool_pid]))
    assert not warning.suspended
    assert _running(tool_pid)
    assert warning.stop().ok  # Stop still works
    assert h.outcomes[0][1] is Outcome.USER_STOPPED


def test_pause_then_resume_is_paused_and_pause_then_stop_is_stopped(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    first = h.warning(sample_verdict(Level.WARN))
    first.pause()
    assert first.phase is Phase.PAUSED and first.outcome is None
    first.resume()
    second = h.warning(sample_verdict(Level.WARN))
    second.pause()
    second.stop()
    assert [o for _, o in h.outcomes] == [Outcome.USER_PAUSED, Outcome.USER_STOPPED]
    assert second.phase is Phase.STOPPED and not second.finished
    assert second.dismiss() and second.finished  # "Close" after the confirmation
    assert len(h.outcomes) == 2  # closing the confirmation is not a second outcome


def test_warn_times_out_as_ignored_but_an_alert_cannot_be_snoozed(
    tmp_path: Path, tool_pid: int
) -> None:
    h = Harness(tmp_path, timeout_seconds=120)
    warn = h.warning(sample_verdict(Level.WARN))
    alert = h.warning(sample_verdict(Level.ALERT, [tool_pid]))
    h.clock.now += 121
    assert warn.timed_out() and warn.dismiss()
    assert not alert.timed_out()
    assert not alert.dismiss()  # the window's close button does nothing
    assert _stopped(tool_pid)
    assert [o for _, o in h.outcomes] == [Outcome.IGNORED]


def test_alert_upgrades_the_open_warning_and_restarts_the_countdown(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    desk = h.desk()
    warn = sample_verdict(Level.WARN)
    warning = desk.offer(warn)
    assert warning is not None and warning is desk.current
    warning.pause()
    h.clock.now += 25
    alert = sample_verdict(Level.ALERT)
    assert desk.offer(alert) is warning
    assert warning.level is Level.ALERT
    assert warning.phase is Phase.WARNING  # the worse news is shown, also over the help panel
    assert warning.ordered_verdicts[0] is alert
    assert warning.seconds_until_trust() == 30
    warning.stop()
    # One choice answers both verdicts.
    assert h.outcomes == [(warn, Outcome.USER_STOPPED), (alert, Outcome.USER_STOPPED)]


def test_another_tool_waits_suspended_and_comes_next(tmp_path: Path, tool_pid: int) -> None:
    h = Harness(tmp_path)
    desk = h.desk()
    first = desk.offer(sample_verdict(Level.WARN, tool="AnyDesk"))
    other = desk.offer(sample_verdict(Level.WARN, [tool_pid], tool="TeamViewer"))
    assert first is desk.current and other is not first
    assert _stopped(tool_pid)  # held while it waits its turn
    assert first is not None and other is not None
    first.stop()
    first.dismiss()
    assert desk.advance() is other
    h.clock.now += 10
    assert other.seconds_until_trust() == 20  # countdown started when it was shown
    desk.close_all()  # the agent stops: nothing stays frozen
    assert _running(tool_pid)
    assert [o for _, o in h.outcomes] == [Outcome.USER_STOPPED, Outcome.IGNORED]


def test_agent_stop_releases_waiting_warnings_as_not_shown(tmp_path: Path, tool_pid: int) -> None:
    h = Harness(tmp_path)
    desk = h.desk()
    desk.offer(sample_verdict(Level.ALERT, tool="AnyDesk"))
    desk.offer(sample_verdict(Level.WARN, [tool_pid], tool="TeamViewer"))
    assert _stopped(tool_pid)
    desk.close_all()
    assert _running(tool_pid)
    assert [o for _, o in h.outcomes] == [Outcome.IGNORED, Outcome.NO_WARNING_SHOWN]
    assert not (tmp_path / "suspended.json").exists()


def test_a_note_is_never_shown(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    note = sample_verdict(Level.NOTE)
    assert h.desk().offer(note) is None
    assert h.outcomes == [(note, Outcome.NO_WARNING_SHOWN)]

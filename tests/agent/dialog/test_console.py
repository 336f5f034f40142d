"""The console warning in a real pseudo-terminal (pexpect): type the choice, check the outcome.

The child is ``python -m agent.demo.preview --backend console`` acting on a
real stand-in tool process, so Stop really ends it and Pause really holds it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pexpect = pytest.importorskip("pexpect")


@pytest.fixture
def tool_pid() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"])
    yield proc.pid
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(proc.pid).resume()
    proc.kill()
    proc.wait()


def _status(pid: int) -> str:
    try:
        return psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return "gone"


def _eventually(pid: int, wanted: set[str]) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _status(pid) in wanted:
            return True
        time.sleep(0.02)
    return False


def spawn(tmp_path: Path, tool_pid: int, *args: str) -> pexpect.spawn:  # type: ignore[name-defined]
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "agent.demo.preview",
            "--backend",
            "console",
            "--state-dir",
            str(tmp_path),
            "--tool-pid",
            str(tool_pid),
            *args,
        ],
        encoding="utf-8",
        timeout=10,
        dimensions=(40, 120),
    )
    return child


def finish(child: pexpect.spawn) -> str:  # type: ignore[name-defined]
    child.expect(r"outcome: (\w+)")
    outcome = str(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    return outcome


def test_typing_1_stops_the_tool(tmp_path: Path, tool_pid: int) -> None:
    child = spawn(tmp_path, tool_pid, "--language", "en")
    child.expect("STOP — SOMEONE MAY BE TAKING OVER YOUR COMPUTER")
    child.expect(r"\[3\] I know this person \(wait 30 s\)")
    child.expect("press Enter")
    assert _eventually(tool_pid, {psutil.STATUS_STOPPED})  # paused while the warning is up
    child.sendline("1")
    child.expect("The session is stopped")
    assert finish(child) == "user_stopped"
    assert _eventually(tool_pid, {"gone", psutil.STATUS_ZOMBIE})


def test_pause_shows_help_then_continue_resumes(tmp_path: Path, tool_pid: int) -> None:
    child = spawn(tmp_path, tool_pid, "--language", "nl")
    child.expect("STOP — IEMAND NEEMT MISSCHIEN UW COMPUTER OVER")
    child.expect("alleen Enter = 1")
    child.sendline("2")
    child.expect("Fraudehulplijn: Fraudehelpdesk, 088-786 73 72")
    child.expect("druk op Enter")
    assert _eventually(tool_pid, {psutil.STATUS_STOPPED})
    child.sendline("2")
    child.expect("AnyDesk gaat verder")
    assert finish(child) == "user_paused"
    assert _eventually(tool_pid, {psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING})
    assert not (tmp_path / "suspended.json").exists()


def test_trust_waits_for_the_countdown(tmp_path: Path, tool_pid: int) -> None:
    # A real 2-second countdown here: the injected-clock version is in test_tk.py.
    child = spawn(tmp_path, tool_pid, "--language", "en", "--countdown", "2")
    child.expect("press Enter")
    child.sendline("3")
    child.expect(r"Option 3 can be chosen in \d s")
    child.expect("Option 3 can be chosen now")
    child.sendline("3")
    child.expect("will not be paused again for 8 hours")
    assert finish(child) == "user_trusted"
    assert _eventually(tool_pid, {psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING})


def test_alert_in_the_terminal_and_a_wrong_key(tmp_path: Path, tool_pid: int) -> None:
    child = spawn(tmp_path, tool_pid, "--language", "en", "--level", "alert")
    child.expect("HANG UP NOW — THIS LOOKS LIKE A SCAM")
    child.expect("press Enter")
    child.sendline("x")
    child.expect("Please type one of the numbers shown")
    child.sendline("")  # Enter alone = Stop, the default
    assert finish(child) == "user_stopped"
    assert _eventually(tool_pid, {"gone", psutil.STATUS_ZOMBIE})


def test_closing_the_terminal_releases_the_tool(tmp_path: Path, tool_pid: int) -> None:
    child = spawn(tmp_path, tool_pid, "--language", "en")
    child.expect("press Enter")
    assert _eventually(tool_pid, {psutil.STATUS_STOPPED})
    child.sendeof()
    assert finish(child) == "ignored"
    assert _eventually(tool_pid, {psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING})


def test_an_enter_typed_before_the_warning_does_not_stop_the_tool(
    tmp_path: Path, tool_pid: int
) -> None:
    """Keys already waiting in the terminal were not typed at the warning (Enter alone = Stop).

    In-process on a real pseudo-terminal, so the Enter is in the terminal's
    input queue for certain before the warning is printed.
    """
    import os
    import queue
    import threading

    from agent.config import AgentConfig, AgentSection, DialogSection
    from agent.control.actions import ToolActions
    from agent.demo.preview import sample_verdict
    from agent.dialog.console import ConsolePresenter
    from agent.verdict import Level, Outcome, Verdict

    master, slave = os.openpty()
    with (
        open(slave, encoding="utf-8", closefd=True) as term_in,
        open(tmp_path / "screen.txt", "w+", encoding="utf-8") as screen,
    ):
        os.write(master, b"\r\n")  # pressed while nothing was asked
        config = AgentConfig(
            agent=AgentSection(state_dir=str(tmp_path), language="en"),
            dialog=DialogSection(backend="console"),
        )
        presenter = ConsolePresenter(
            config, actions=ToolActions(tmp_path), stdin=term_in, stdout=screen
        )
        inbox: queue.Queue[Verdict] = queue.Queue()
        verdict = sample_verdict(Level.WARN, [tool_pid])
        inbox.put(verdict)
        outcomes: list[Outcome] = []
        stop = threading.Event()
        thread = threading.Thread(
            target=presenter.serve, args=(inbox, lambda _v, o: outcomes.append(o), stop)
        )
        thread.start()
        try:
            deadline = time.monotonic() + 5
            while "press Enter" not in (tmp_path / "screen.txt").read_text(encoding="utf-8"):
                assert time.monotonic() < deadline, "the warning was never printed"
                time.sleep(0.02)
            # Several input polls pass; the early Enter must not have answered.
            time.sleep(0.5)
            assert outcomes == []
            assert _status(tool_pid) == psutil.STATUS_STOPPED  # held, not ended
            os.write(master, b"1\n")  # now the person answers
            deadline = time.monotonic() + 5
            while not outcomes and time.monotonic() < deadline:
                time.sleep(0.02)
            assert outcomes == [Outcome.USER_STOPPED]
        finally:
            stop.set()
            thread.join(timeout=10)
            os.close(master)

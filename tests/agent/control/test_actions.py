"""Suspend, resume and stop real process trees; nothing stays frozen after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from agent.control.actions import ToolActions, process_tree
from agent.control.suspended import ProcessRef, SuspendRecord, recover_suspended
from agent.errors import ActionError

# A stand-in "remote tool": a parent that starts two children and then waits.
# With IGNORE_TERM set every process ignores SIGTERM, so only a kill ends it.
TOOL = r"""
import os, signal, subprocess, sys, time
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = (
    "import os, signal, time\n"
    "if os.environ.get('IGNORE_TERM'): signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "while True: time.sleep(0.05)"
)
kids = [subprocess.Popen([sys.executable, "-c", child]) for _ in range(2)]
print(" ".join(str(k.pid) for k in kids), flush=True)
while True:
    time.sleep(0.05)
"""


def _wait_for(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _status(pid: int) -> str:
    try:
        return psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return "gone"


def _gone(pid: int) -> bool:
    return _status(pid) in ("gone", psutil.STATUS_ZOMBIE)


class Tool:
    """A running stand-in tool: ``pids`` is the parent followed by its children."""

    def __init__(self, popen: subprocess.Popen[str], children: list[int]) -> None:
        self.popen = popen
        self.pids = [popen.pid, *children]

    def statuses(self) -> list[str]:
        return [_status(p) for p in self.pids]

    def all_stopped(self) -> bool:
        """Every process shows state T (SIGSTOP is delivered asynchronously: poll briefly)."""
        return _wait_for(lambda: self.statuses() == [psutil.STATUS_STOPPED] * len(self.pids))

    def none_stopped(self) -> bool:
        """No process is stopped and none has died."""
        return _wait_for(
            lambda: not {psutil.STATUS_STOPPED, "gone", psutil.STATUS_ZOMBIE} & set(self.statuses())
        )


@pytest.fixture
def start_tool() -> Iterator[object]:
    started: list[Tool] = []

    def start(ignore_term: bool = False) -> Tool:
        env = dict(os.environ)
        if ignore_term:
            env["IGNORE_TERM"] = "1"
        popen = subprocess.Popen(
            [sys.executable, "-c", TOOL], stdout=subprocess.PIPE, text=True, env=env
        )
        assert popen.stdout is not None
        children = [int(p) for p in popen.stdout.readline().split()]
        tool = Tool(popen, children)
        started.append(tool)
        return tool

    yield start
    for tool in started:
        for pid in reversed(tool.pids):
            try:
                proc = psutil.Process(pid)
                proc.resume()
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        tool.popen.wait(timeout=5)
        if tool.popen.stdout:
            tool.popen.stdout.close()


def test_suspend_and_resume_a_whole_tree(tmp_path: Path, start_tool: object) -> None:
    tool: Tool = start_tool()  # type: ignore[operator]
    actions = ToolActions(tmp_path)

    suspension = actions.suspend([tool.popen.pid])  # only the root is named
    assert tool.all_stopped()
    recorded = json.loads((tmp_path / "suspended.json").read_text())
    assert sorted(e["pid"] for e in recorded["processes"]) == sorted(tool.pids)

    assert suspension.resume() == 3
    assert tool.none_stopped()
    assert not (tmp_path / "suspended.json").exists()


def test_stop_ends_a_suspended_tree_and_checks_it_is_gone(
    tmp_path: Path, start_tool: object
) -> None:
    tool: Tool = start_tool()  # type: ignore[operator]
    suspension = ToolActions(tmp_path).suspend([tool.popen.pid])
    assert tool.all_stopped()

    result = suspension.stop(timeout=3)

    assert result.ok
    assert sorted(result.stopped) == sorted(tool.pids)
    tool.popen.wait(timeout=5)
    assert _wait_for(lambda: all(_gone(p) for p in tool.pids))
    assert not (tmp_path / "suspended.json").exists()


def test_stop_kills_a_tool_that_ignores_terminate(tmp_path: Path, start_tool: object) -> None:
    tool: Tool = start_tool(ignore_term=True)  # type: ignore[operator]
    suspension = ToolActions(tmp_path).hold([tool.popen.pid])  # not suspended

    result = suspension.stop(timeout=0.5)

    assert result.ok, result
    # Every process ignores SIGTERM, so being gone proves the kill step ran.
    assert _wait_for(lambda: all(_gone(p) for p in tool.pids))


def test_children_started_after_the_verdict_are_suspended_too(
    tmp_path: Path, start_tool: object
) -> None:
    tool: Tool = start_tool()  # type: ignore[operator]
    # The verdict named the parent only; the tree is computed at suspend time.
    assert {p.pid for p in process_tree([tool.popen.pid])} == set(tool.pids)
    suspension = ToolActions(tmp_path).suspend([tool.pids[1], tool.popen.pid])
    assert len(suspension.refs) == 3  # no duplicates
    suspension.resume()


def test_the_agent_never_suspends_itself(tmp_path: Path) -> None:
    suspension = ToolActions(tmp_path).suspend([os.getpid(), os.getppid()])
    assert suspension.refs == []
    assert psutil.Process().status() != psutil.STATUS_STOPPED


def test_a_crash_while_suspended_is_undone_on_the_next_start(
    tmp_path: Path, start_tool: object, agent_cmd: list[str]
) -> None:
    """A real agent-side process suspends the tool, is killed with SIGKILL, and recovery resumes."""
    tool: Tool = start_tool()  # type: ignore[operator]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from agent.control.actions import ToolActions\n"
            "ToolActions(Path(sys.argv[1])).suspend([int(sys.argv[2])])\n"
            "print('suspended', flush=True)\n"
            "time.sleep(60)\n",
            str(tmp_path),
            str(tool.popen.pid),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "suspended"
    assert tool.all_stopped()

    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=5)
    holder.stdout.close()
    time.sleep(0.2)
    assert tool.all_stopped()  # still frozen: the crash

    assert recover_suspended(tmp_path) == 3

    assert tool.none_stopped()
    assert not (tmp_path / "suspended.json").exists()
    assert recover_suspended(tmp_path) == 0  # idempotent


def test_a_reused_pid_is_never_touched(tmp_path: Path, start_tool: object) -> None:
    tool: Tool = start_tool()  # type: ignore[operator]
    proc = psutil.Process(tool.popen.pid)
    proc.suspend()
    try:
        # The record names this PID but with another process's create time.
        SuspendRecord(tmp_path).add([ProcessRef(proc.pid, proc.create_time() - 1000)])
        assert recover_suspended(tmp_path) == 0
        assert _wait_for(lambda: proc.status() == psutil.STATUS_STOPPED)
        assert not (tmp_path / "suspended.json").exists()
    finally:
        proc.resume()


def test_stop_never_touches_a_pid_that_now_belongs_to_another_process(
    tmp_path: Path, start_tool: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warning may stay open for minutes; by the click the tool's PID may be reused.

    A real PID reuse cannot be arranged here, so the process under the PID is
    made to report another start time, which is what a reused PID looks like.
    """
    tool: Tool = start_tool()  # type: ignore[operator]
    held = ToolActions(tmp_path).hold([tool.popen.pid])  # suspend_tool = false
    real = psutil.Process.create_time
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: real(self) + 1000)
    result = held.stop(timeout=1.0)
    monkeypatch.undo()
    assert result.stopped == ()
    assert tool.none_stopped()  # none of the (now "unrelated") processes was ended


def test_a_damaged_record_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "suspended.json").write_text("{not json")
    assert recover_suspended(tmp_path) == 0
    assert (tmp_path / "suspended.json.damaged").exists()
    assert not (tmp_path / "suspended.json").exists()


def test_no_record_means_no_suspension(tmp_path: Path, start_tool: object) -> None:
    tool: Tool = start_tool()  # type: ignore[operator]
    blocked = tmp_path / "state"
    blocked.write_text("a file where the state directory should be")
    with pytest.raises(ActionError, match="not suspended"):
        ToolActions(blocked).suspend([tool.popen.pid])
    assert tool.none_stopped()

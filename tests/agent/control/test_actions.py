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


# -- the tool's tree as it is now, not the verdict's pids ------------------------------


@pytest.fixture
def wrapper(tmp_path: Path) -> Iterator[tuple[Path, list[int]]]:
    """Copies of sh named like a tool's wrapper and its server (like x0vncserver -> X0tigervnc)."""
    import shutil

    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("tool-wrapper", "tool-server"):
        shutil.copy2(shutil.which("sh") or "/bin/sh", bindir / name)
    started: list[int] = []
    yield bindir, started
    for pid in started:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _start_wrapper(bindir: Path, started: list[int]) -> tuple[subprocess.Popen[str], int]:
    """The wrapper starts the server in the background, prints its pid and waits for stdin."""
    script = f'{bindir / "tool-server"} -c "sleep 60; :" < /dev/null & echo $!; read x'
    proc = subprocess.Popen(
        [str(bindir / "tool-wrapper"), "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    server = int(proc.stdout.readline())
    started.extend([proc.pid, server])
    return proc, server


def _exit_wrapper(proc: subprocess.Popen[str], server: int) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(5)
    assert _wait_for(lambda: psutil.Process(server).ppid() != proc.pid)  # reparented
    assert not psutil.pid_exists(proc.pid)


def _finder(bindir: Path) -> object:
    from agent.catalogue.model import Catalogue, PeMatch, Rules, Tool
    from agent.control.tool_processes import ToolFinder

    tool = Tool(
        tool_id="wrapped",
        display_name="Wrapped",
        process_names=(("linux", ("tool-wrapper", "tool-server")),),
        file_patterns=(),
        pe=PeMatch(),
        signers=(),
        domains=(),
        ports=(),
    )
    catalogue = Catalogue(version=1, tools=(tool,), scare_tactics=(), pages=(), rules=Rules())
    return ToolFinder(lambda: catalogue)


def test_stop_reaches_the_server_a_wrapper_left_behind(
    tmp_path: Path, wrapper: tuple[Path, list[int]]
) -> None:
    """The warning came while the wrapper ran; by the click it has exited."""
    bindir, started = wrapper
    proc, server = _start_wrapper(bindir, started)
    held = ToolActions(tmp_path / "state").hold([proc.pid], tool_id="wrapped")
    _exit_wrapper(proc, server)
    result = held.stop(timeout=2)
    assert result.ok and server in result.stopped
    assert proc.pid not in result.stopped  # the exited pid is never acted on
    assert _gone(server)


def test_stop_when_the_matched_pid_was_gone_before_the_warning(
    tmp_path: Path, wrapper: tuple[Path, list[int]]
) -> None:
    """The verdict names only the wrapper, already gone: the tool's processes now are found."""
    bindir, started = wrapper
    proc, server = _start_wrapper(bindir, started)
    _exit_wrapper(proc, server)
    blind = ToolActions(tmp_path / "state").hold([proc.pid], tool_id="wrapped")
    assert blind.stop(timeout=2).stopped == ()  # the verdict's pids alone: nothing to stop
    assert not _gone(server)
    finder = _finder(bindir)
    actions = ToolActions(tmp_path / "state", finder=finder)  # type: ignore[arg-type]
    suspension = actions.suspend([proc.pid], tool_id="wrapped")
    assert _wait_for(lambda: _status(server) == psutil.STATUS_STOPPED)
    tree = {p.pid for p in process_tree([server])}  # the server and its sleep
    result = suspension.stop(timeout=2)
    assert result.ok and set(result.stopped) == tree
    assert _gone(server)

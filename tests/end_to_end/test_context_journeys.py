"""Whole scam journeys, and the benign days that must stay quiet, through a running agent.

Each test starts ``ratwatch-agent run`` as a child process with the real
sensors (processes, sessions, intake, browser, downloads, calls) pointed at
folders under tmp_path: a real Chromium-schema history database configured
through ``[browser].history_paths``, a real watched Downloads folder, real
child processes named like the tools (copies of harmless binaries) and a
real loopback TCP connection on one of the tool's catalogue ports. The test
only reads the journal the agent writes, as the person's helper would.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
import pytest

from agent.catalogue.loader import load_catalogue
from agent.journal.journal import read_records

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue()
SLEEP = shutil.which("sleep") or "/bin/sleep"

# The fake AnyDesk: waits for the test's go-ahead, then dials the "relay" on
# loopback, as the real one connects on its catalogue port once a session begins.
DIAL = """
import os, socket, sys, time
flag, port = sys.argv[1], int(sys.argv[2])
while not os.path.exists(flag):
    time.sleep(0.05)
conn = socket.create_connection(("127.0.0.1", port))
time.sleep(120)
"""


def _writer() -> ModuleType:
    path = REPO / "tests" / "data" / "history" / "history_writer.py"
    spec = importlib.util.spec_from_file_location("history_writer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


W = _writer()


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


class Agent:
    """A running ``ratwatch-agent run`` child and the places it watches."""

    def __init__(self, agent_cmd: list[str], root: Path) -> None:
        self.root = root
        self.state = root / "state"
        self.downloads = root / "Downloads"
        self.downloads.mkdir(parents=True)
        self.history = W.ChromiumHistory(root / "chrome" / "Default" / "History")
        self.history.add_visit("https://nos.nl/", "NOS Nieuws", time.time() - 300)
        self.children: list[subprocess.Popen[bytes]] = []
        config = root / "agent.toml"
        config.write_text(
            f"[agent]\nstate_dir = {json.dumps(str(self.state))}\n"
            "[sensors]\n"
            'enabled = ["processes", "sessions", "intake", "browser", "downloads", "calls"]\n'
            'process_events = "poll"\npoll_hz = 10.0\nsession_poll_seconds = 0.25\n'
            f"[browser]\nhistory_paths = [{json.dumps(str(self.history.path))}]\n"
            "default_profiles = false\n"
            f"[downloads]\nwatch_dirs = [{json.dumps(str(self.downloads))}]\n"
            '[dialog]\nbackend = "log"\nsuspend_tool = false\n'
            "[telemetry]\nenabled = false\n"
        )
        self.proc = subprocess.Popen(
            [*agent_cmd, "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        out = []
        for line in self.proc.stdout:
            out.append(line)
            if line.startswith("Stop with Ctrl+C"):
                break
        assert "browser" in "".join(out) and "downloads" in "".join(out), "".join(out)
        # Drain the rest so a chatty agent never blocks on a full pipe.
        self._drain = threading.Thread(target=self.proc.stdout.read, daemon=True)
        self._drain.start()

    # -- what the person does ----------------------------------------------------------
    def visit(self, url: str, title: str) -> None:
        self.history.add_visit(url, title, time.time())

    def download(self, name: str, data: bytes) -> Path:
        partial = self.downloads / f"{name}.crdownload"
        partial.write_bytes(data)
        final = self.downloads / name
        partial.rename(final)
        return final

    def start_program(self, name: str, *args: str, binary: str = SLEEP) -> subprocess.Popen[bytes]:
        """A copy of a harmless binary under the tool's process name."""
        path = self.root / "bin" / name
        path.parent.mkdir(exist_ok=True)
        shutil.copyfile(binary, path)
        path.chmod(0o755)
        child = subprocess.Popen([str(path), *args])
        self.children.append(child)
        return child

    # -- what the agent wrote --------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        return list(read_records(self.state / "journal.jsonl"))

    def contexts(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["type"] == "context" and r["event"] == event]

    def all_verdicts(self) -> list[dict[str, Any]]:
        """Verdicts about processes this test started.

        The agent rightly watches the whole PC, and on a shared development
        machine other programs named like remote tools come and go (other
        tests, the demo); verdicts about them are not this journey's.
        """
        mine = {c.pid for c in self.children}
        verdicts = [r["verdict"] for r in self.records() if r["type"] == "verdict"]
        return [v for v in verdicts if not v["pids"] or not set(v["pids"]).isdisjoint(mine)]

    def verdicts(self, tool_id: str) -> list[dict[str, Any]]:
        return [v for v in self.all_verdicts() if v["tool_id"] == tool_id]

    def stages(self, tool_id: str) -> list[tuple[str, str]]:
        return [(v["level"], v["stage"]) for v in self.verdicts(tool_id)]

    def stop(self) -> str:
        for child in self.children:
            child.kill()
            child.wait()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.history.close()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        assert self.proc.returncode == 0, err
        return err


@pytest.fixture
def agent(agent_cmd: list[str], tmp_path: Path) -> Iterator[Agent]:
    running = Agent(agent_cmd, tmp_path)
    try:
        yield running
    finally:
        err = running.stop()
        # Privacy: log lines carry pattern ids, never titles, URLs or the user's paths.
        for secret in ("Security Warning", "203.0.113", "mijn.ing.nl", "Mijn ING"):
            assert secret not in err


def _tool_port(tool_id: str) -> socket.socket:
    """Listen on loopback on one of the tool's catalogue ports (the "relay")."""
    tool = CATALOGUE.tool(tool_id)
    assert tool is not None
    for port in (p for r in tool.ports for p in range(r.low, r.high + 1)):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            continue
        listener.listen(4)
        return listener
    pytest.skip(f"every catalogue port of {tool_id} is taken on this machine")


def _linux_name(tool_id: str) -> str:
    """The tool's Linux process name; waits while another program already runs under it.

    The correlator keeps one episode per tool, so a journey must start the only
    copy of its tool. On a shared development machine another test or the demo
    may briefly run one; CI runs nothing else.
    """
    tool = CATALOGUE.tool(tool_id)
    assert tool is not None and tool.names_for("linux")
    name = tool.names_for("linux")[0]

    def others() -> list[int]:
        return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == name]

    deadline = time.monotonic() + 60
    while others():
        if time.monotonic() > deadline:
            pytest.skip(f"another program named {name!r} keeps running on this machine")
        time.sleep(0.5)
    return name


def test_popup_download_start_session_scare_tactic_bank_page(agent: Agent) -> None:
    """The whole scam: WARN when the tool starts, then ALERTs as the session goes on."""
    agent.visit("http://203.0.113.5/alert/?phone=18885550199", "Windows Defender Security Warning")
    page = wait_for(lambda: agent.contexts("ScarewarePage"), what="the scareware page")
    assert page[0]["pattern_id"] == "scareware-blocked-en"
    assert page[0]["title"] == "Windows Defender Security Warning"  # kept in the local journal

    agent.download("AnyDesk.exe", b"MZ" + os.urandom(100_000))
    download = wait_for(lambda: agent.contexts("InstallerDownloaded"), what="the download")
    assert download[0]["tool_id"] == "anydesk"
    assert agent.verdicts("anydesk") == []  # context alone is no verdict

    relay = _tool_port("anydesk")
    go = agent.root / "connect-now"
    agent.start_program(
        _linux_name("anydesk"),
        "-c",
        DIAL,
        str(go),
        str(relay.getsockname()[1]),
        binary=os.path.realpath(sys.executable),
    )
    first = wait_for(lambda: agent.verdicts("anydesk"), what="the warning")[0]
    assert (first["level"], first["stage"], first["tool_id"]) == (
        "WARN",
        "remote_tool_started",
        "anydesk",
    )
    assert first["trigger"] == "scareware_page"
    assert first["minutes_from_trigger"] is not None and first["minutes_from_trigger"] < 5
    codes = {e["code"] for e in first["evidence"]}
    assert "remote_tool_started" in codes and len(codes) >= 2

    go.touch()  # someone connects
    wait_for(lambda: len(agent.verdicts("anydesk")) >= 2, what="the session verdict")
    agent.start_program("eventvwr", "60")
    wait_for(lambda: len(agent.verdicts("anydesk")) >= 3, what="the scare-tactic alert")
    agent.visit("https://mijn.ing.nl/login/", "Inloggen Mijn ING")
    wait_for(lambda: len(agent.verdicts("anydesk")) >= 4, what="the banking alert")
    assert agent.stages("anydesk") == [
        ("WARN", "remote_tool_started"),
        ("WARN", "session_active"),
        ("ALERT", "scare_tactics"),
        ("ALERT", "banking_during_session"),
    ]
    relay.close()


def assert_note_at_most(verdicts: list[dict[str, Any]]) -> None:
    """A tool with no scam context: a journal NOTE when it starts, no warning, no trigger.

    (Inside a session, a scare tactic or a bank page is an ALERT whatever came
    before; on a shared machine another program's session can join this tool's
    episode, so those stages are left out here.)
    """
    assert verdicts and (verdicts[0]["level"], verdicts[0]["stage"]) == (
        "NOTE",
        "remote_tool_started",
    )
    assert {v["trigger"] for v in verdicts} == {"none"}
    early = [
        v["level"] for v in verdicts if v["stage"] in ("remote_tool_started", "session_active")
    ]
    assert set(early) == {"NOTE"}


def _settle_quiet(agent: Agent, seconds: float = 2.0) -> None:
    time.sleep(seconds)  # a later verdict would show up within this time


def test_it_helpers_teamviewer_with_no_call_and_no_page_is_a_note_at_most(agent: Agent) -> None:
    agent.start_program(_linux_name("teamviewer"), "60")
    wait_for(lambda: agent.verdicts("teamviewer"), what="the journal note")
    _settle_quiet(agent)
    assert_note_at_most(agent.verdicts("teamviewer"))


def test_online_banking_with_no_remote_tool_running_is_quiet(agent: Agent) -> None:
    agent.visit("https://bankieren.rabobank.nl/klanten", "Rabo Internetbankieren")
    agent.visit("https://www.paypal.com/signin", "Log in to your PayPal account")
    wait_for(lambda: len(agent.contexts("SensitivePage")) == 2, what="the two pages")
    _settle_quiet(agent)
    kinds = sorted(c["kind"] for c in agent.contexts("SensitivePage"))
    assert kinds == ["banking", "payment"]
    assert [v for v in agent.all_verdicts() if v["level"] != "NOTE"] == []


def test_news_about_tech_support_scams_is_no_scareware_page(agent: Agent) -> None:
    agent.visit(
        "https://consumer.ftc.gov/articles/how-spot-avoid-and-report-tech-support-scams",
        "How to spot a tech support scam",
    )
    agent.visit("https://www.bbc.co.uk/news/technology-49082343", "How to spot a tech support scam")
    time.sleep(1.0)  # the browser sensor has read both visits by now
    agent.start_program(_linux_name("anydesk"), "60")
    wait_for(lambda: agent.verdicts("anydesk"), what="the journal note")
    _settle_quiet(agent)
    assert agent.contexts("ScarewarePage") == []
    assert_note_at_most(agent.verdicts("anydesk"))


def _readme_client() -> Callable[..., None]:
    """The example client from the README's "Feeding context to the agent" section."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Feeding context to the agent", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    body = code.group(1).rsplit("\ntell_agent(", 1)[0]  # everything but the example call
    namespace: dict[str, Any] = {}
    exec(compile(body, "README.md", "exec"), namespace)  # our own README's code
    return namespace["tell_agent"]  # type: ignore[no-any-return]


def test_a_known_caller_then_a_remote_tool_is_quiet(agent: Agent) -> None:
    tell_agent = _readme_client()
    tell_agent(str(agent.state), "call-started", caller="known")
    call = wait_for(lambda: agent.contexts("CallStarted"), what="the intake call")
    assert call[0]["caller"] == "known" and call[0]["source"] == "phone-app"
    agent.start_program(_linux_name("teamviewer"), "60")
    _settle_quiet(agent, 3.0)
    assert agent.verdicts("teamviewer") == []  # known_caller: nothing at all


def test_the_readme_client_makes_an_unknown_call_a_warning(agent: Agent) -> None:
    """The counterpart of the known caller: the same client, caller unknown -> WARN."""
    tell_agent = _readme_client()
    tell_agent(str(agent.state), "call-started", caller="unknown")
    wait_for(lambda: agent.contexts("CallStarted"), what="the intake call")
    agent.start_program(_linux_name("teamviewer"), "60")
    verdict = wait_for(lambda: agent.verdicts("teamviewer"), what="the warning")[0]
    assert (verdict["level"], verdict["trigger"]) == ("WARN", "unknown_call")

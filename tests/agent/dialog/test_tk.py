"""The real Tk warning on a private Xvfb display, driven by generated X events.

Each test runs the presenter's real loop (``serve``) in the test's main thread
and drives it from inside the Tk loop with ``event_generate`` (and once with
xdotool, a real pointer click from outside the process). The countdown reads
an injected clock; the tool is a real process tree that gets suspended,
resumed or stopped.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from agent.config import AgentConfig, AgentSection, DialogSection
from agent.control.actions import ToolActions
from agent.demo.preview import sample_verdict
from agent.demo.xvfb import VirtualDisplay
from agent.dialog import DIALOGS, create_presenter
from agent.dialog.tk import KEY_GUARD_SECONDS, TkPresenter
from agent.dialog.tk_view import ALERT_BAND, WarningView
from agent.verdict import Level, Outcome, Verdict

if TYPE_CHECKING:
    import tkinter as tk
else:
    tk = pytest.importorskip("tkinter")

Step = Callable[[TkPresenter], bool]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    if not VirtualDisplay.available():
        pytest.skip("Xvfb is not installed (scripts/test.sh installs it)")
    saved = os.environ.get("DISPLAY")
    with VirtualDisplay() as name:
        os.environ["DISPLAY"] = name
        try:
            yield name
        finally:
            if saved is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = saved


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class ToolTree:
    """A stand-in remote tool: a parent process with one child."""

    CODE = (
        "import subprocess, sys, time\n"
        "loop = 'import time\\nwhile True: time.sleep(0.05)'\n"
        "c = subprocess.Popen([sys.executable, '-c', loop])\n"
        "print(c.pid, flush=True)\n"
        "while True: time.sleep(0.05)\n"
    )

    def __init__(self) -> None:
        self.popen = subprocess.Popen([sys.executable, "-c", self.CODE], stdout=subprocess.PIPE)
        assert self.popen.stdout is not None
        self.pids = [self.popen.pid, int(self.popen.stdout.readline())]

    def statuses(self) -> set[str]:
        out: set[str] = set()
        for pid in self.pids:
            try:
                out.add(psutil.Process(pid).status())
            except psutil.NoSuchProcess:
                out.add("gone")
        return out

    def wait_for(self, wanted: set[str]) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.statuses() <= wanted:
                return True
            time.sleep(0.02)
        return False

    def cleanup(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(pid)
                proc.resume()
                proc.kill()
        with contextlib.suppress(ChildProcessError):
            self.popen.wait(timeout=5)
        if self.popen.stdout:
            self.popen.stdout.close()


@pytest.fixture
def tool() -> Iterator[ToolTree]:
    tree = ToolTree()
    yield tree
    tree.cleanup()


RUNNING = {psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING}
GONE = {"gone", psutil.STATUS_ZOMBIE}


def make_presenter(
    tmp_path: Path, lang: str = "en", clock: FakeClock | None = None, **dialog: object
) -> TkPresenter:
    config = AgentConfig(
        agent=AgentSection(state_dir=str(tmp_path), language=lang),
        dialog=DialogSection(backend="tk", **dialog),  # type: ignore[arg-type]
    )
    return TkPresenter(config, clock=clock or FakeClock(), actions=ToolActions(tmp_path))


def drive(
    presenter: TkPresenter,
    verdicts: Sequence[Verdict],
    steps: Sequence[Step],
    timeout: float = 15.0,
) -> list[tuple[Verdict, Outcome]]:
    """Run ``serve`` with ``verdicts`` queued; run each step until it returns True."""
    inbox: queue.Queue[Verdict] = queue.Queue()
    for verdict in verdicts:
        inbox.put(verdict)
    outcomes: list[tuple[Verdict, Outcome]] = []
    stop = threading.Event()
    errors: list[BaseException] = []
    pending = list(steps)
    deadline = time.monotonic() + timeout

    def tick(root: tk.Tk) -> None:
        if time.monotonic() > deadline:
            errors.append(TimeoutError(f"step {len(steps) - len(pending)} never completed"))
            stop.set()
            return
        try:
            while pending and pending[0](presenter):
                pending.pop(0)
        except BaseException as exc:  # report assertion errors from inside the Tk loop
            errors.append(exc)
            stop.set()
            return
        if not pending:
            stop.set()
            return
        root.after(20, lambda: tick(root))

    def begin(root: tk.Tk) -> None:
        root.after(20, lambda: tick(root))

    presenter.on_start = begin
    presenter.serve(inbox, lambda v, o: outcomes.append((v, o)), stop)
    if errors:
        raise errors[0]
    return outcomes


def shown(presenter: TkPresenter) -> bool:
    view = presenter.view
    return view is not None and bool(view.root.winfo_viewable())


def click(view: WarningView, role: str) -> None:
    """A generated pointer click: enter, press, release (Tk invokes on release inside).

    The real pointer is warped onto the button first and pending X events are
    processed, so the server's own crossing events (sent when the window was
    drawn under the pointer) cannot arrive between our Enter and our release.
    """
    button = view.button(role)
    button.event_generate("<Motion>", warp=True, x=5, y=5)
    view.root.update()
    button.event_generate("<Enter>", x=5, y=5)
    button.event_generate("<ButtonPress-1>", x=5, y=5)
    button.event_generate("<ButtonRelease-1>", x=5, y=5)


def view_of(presenter: TkPresenter) -> WarningView:
    assert presenter.view is not None
    return presenter.view


def test_tk_is_registered_and_chosen_by_config(display: str, tmp_path: Path) -> None:
    assert "tk" in DIALOGS
    config = AgentConfig(agent=AgentSection(state_dir=str(tmp_path)))
    assert create_presenter(config, "tk").name == "tk"


@pytest.mark.parametrize(
    ("lang", "headline", "stop_label"),
    [
        ("en", "Stop — someone may be taking over your computer", "Stop the session"),
        ("nl", "Stop — iemand neemt misschien uw computer over", "Stop de verbinding"),
    ],
)
def test_appears_within_a_second_in_the_right_language(
    display: str, tmp_path: Path, tool: ToolTree, lang: str, headline: str, stop_label: str
) -> None:
    presenter = make_presenter(tmp_path, lang)
    inbox_put: dict[str, float] = {}
    seen: dict[str, object] = {}
    verdict = sample_verdict(Level.WARN, [tool.popen.pid])

    def idle_then_send(p: TkPresenter) -> bool:
        # The presenter is idle (no window) when the verdict arrives.
        assert p.view is None
        inbox_put["t"] = time.monotonic()
        p_inbox.put(verdict)
        return True

    def appeared(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        seen["latency"] = time.monotonic() - inbox_put["t"]
        view = view_of(p)
        seen["headline"] = view.text("headline")
        seen["sentence"] = view.text("sentence0")
        seen["stop"] = view.button("stop").cget("text")
        seen["title"] = view.root.title()
        # The window really is on the X server, found from outside the process.
        if shutil.which("xdotool"):
            found = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--name", "ratwatch"],
                capture_output=True,
                text=True,
                check=False,
            )
            seen["xdotool"] = found.stdout.split()
        return True

    def keyboard_on_stop(p: TkPresenter) -> bool:
        view = view_of(p)
        return view.root.focus_get() is view.button("stop")  # X input focus arrives async

    def press_escape(p: TkPresenter) -> bool:
        view_of(p).root.event_generate("<Escape>")  # a WARN may be closed unanswered
        return True

    p_inbox: queue.Queue[Verdict] = queue.Queue()
    original_serve = presenter.serve

    def serve_with(inbox: queue.Queue[Verdict], on_outcome, stop) -> None:  # type: ignore[no-untyped-def]
        nonlocal p_inbox
        p_inbox = inbox
        original_serve(inbox, on_outcome, stop)

    presenter.serve = serve_with  # type: ignore[method-assign,assignment]
    outcomes = drive(presenter, [], [idle_then_send, appeared, keyboard_on_stop, press_escape])

    assert float(seen["latency"]) < 1.0, seen["latency"]  # type: ignore[arg-type]
    assert seen["headline"] == headline
    assert seen["stop"] == stop_label
    assert "AnyDesk" in str(seen["sentence"])
    assert "ratwatch" in str(seen["title"])
    if "xdotool" in seen:
        assert seen["xdotool"], "xdotool did not find the warning window"
    assert outcomes == [(verdict, Outcome.IGNORED)]
    assert tool.wait_for(RUNNING)  # closing the warning resumed the tool


def test_stop_button_ends_the_tool_tree(display: str, tmp_path: Path, tool: ToolTree) -> None:
    presenter = make_presenter(tmp_path)
    verdict = sample_verdict(Level.WARN, [tool.popen.pid])
    seen: dict[str, object] = {}

    def suspended_then_stop(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        seen["suspended"] = tool.wait_for({psutil.STATUS_STOPPED})
        seen["paused_note"] = view_of(p).text("paused")
        click(view_of(p), "stop")
        return True

    def confirmation(p: TkPresenter) -> bool:
        view = view_of(p)
        if "close" not in view.widgets:
            return False
        seen["confirm"] = view.text("headline")
        click(view, "close")
        return True

    outcomes = drive(presenter, [verdict], [suspended_then_stop, confirmation])

    assert seen["suspended"] is True
    assert "paused" in str(seen["paused_note"])
    assert seen["confirm"] == "The session is stopped"
    assert outcomes == [(verdict, Outcome.USER_STOPPED)]
    assert tool.wait_for(GONE)
    assert not (tmp_path / "suspended.json").exists()


def test_enter_chooses_stop_the_focused_default(
    display: str, tmp_path: Path, tool: ToolTree
) -> None:
    """Enter is Stop, but not in the first second: that key was typed for another window."""
    clock = FakeClock()
    presenter = make_presenter(tmp_path, "nl", clock=clock)
    verdict = sample_verdict(Level.WARN, [tool.popen.pid])

    def enter_at_once_does_nothing(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        view = view_of(p)
        view.root.event_generate("<Return>")
        view.root.update()
        assert not view.warning.finished
        assert psutil.Process(tool.popen.pid).status() == psutil.STATUS_STOPPED  # held, alive
        return True

    def press_enter_a_second_later(p: TkPresenter) -> bool:
        clock.now += 1.0
        view_of(p).root.event_generate("<Return>")
        return True

    outcomes = drive(presenter, [verdict], [enter_at_once_does_nothing, press_enter_a_second_later])
    assert outcomes == [(verdict, Outcome.USER_STOPPED)]
    assert tool.wait_for(GONE)


def test_pause_shows_contact_and_helpline_then_resume(
    display: str, tmp_path: Path, tool: ToolTree
) -> None:
    presenter = make_presenter(
        tmp_path,
        trusted_contact_name="Anna",
        trusted_contact_phone="06-12345678",
        helpline_country="GB",
    )
    verdict = sample_verdict(Level.WARN, [tool.popen.pid])
    seen: dict[str, object] = {}

    def pause(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        click(view_of(p), "pause")
        return True

    def help_panel(p: TkPresenter) -> bool:
        view = view_of(p)
        seen["contact"] = view.text("contact")
        seen["helpline"] = view.text("helpline")
        seen["still_suspended"] = tool.wait_for({psutil.STATUS_STOPPED})
        click(view, "resume")
        return True

    outcomes = drive(presenter, [verdict], [pause, help_panel])

    assert seen["contact"] == "Someone you trust: Anna, 06-12345678"
    assert seen["helpline"] == "Fraud helpline: Action Fraud, 0300 123 2040"
    assert seen["still_suspended"] is True
    assert outcomes == [(verdict, Outcome.USER_PAUSED)]
    assert tool.wait_for(RUNNING)


def test_pause_then_stop_from_the_help_panel(display: str, tmp_path: Path, tool: ToolTree) -> None:
    presenter = make_presenter(tmp_path, "nl")
    verdict = sample_verdict(Level.WARN, [tool.popen.pid])

    def pause(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        click(view_of(p), "pause")
        return True

    def stop(p: TkPresenter) -> bool:
        view = view_of(p)
        assert view.text("helpline") == "Fraudehulplijn: Fraudehelpdesk, 088-786 73 72"
        click(view, "stop")
        return True

    outcomes = drive(presenter, [verdict], [pause, stop])
    assert outcomes == [(verdict, Outcome.USER_STOPPED)]
    assert tool.wait_for(GONE)


def test_countdown_holds_trust_disabled_for_30_seconds(
    display: str, tmp_path: Path, tool: ToolTree
) -> None:
    clock = FakeClock()
    presenter = make_presenter(tmp_path, clock=clock)
    verdict = sample_verdict(Level.WARN, [tool.popen.pid])
    seen: dict[str, object] = {}

    def early_click_does_nothing(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        view = view_of(p)
        trust = view.button("trust")
        seen["at0"] = (trust.cget("text"), str(trust.cget("state")))
        clock.now += 29.5
        p.refresh()
        seen["at29"] = (trust.cget("text"), str(trust.cget("state")))
        click(view, "trust")  # disabled: nothing happens
        seen["outcome_after_early_click"] = view.warning.outcome
        return True

    def unlocked(p: TkPresenter) -> bool:
        view = view_of(p)
        clock.now += 0.5
        p.refresh()
        trust = view.button("trust")
        seen["at30"] = (trust.cget("text"), str(trust.cget("state")))
        click(view, "trust")
        return True

    outcomes = drive(presenter, [verdict], [early_click_does_nothing, unlocked])

    assert seen["at0"] == ("I know this person (wait 30 s)", "disabled")
    assert seen["at29"] == ("I know this person (wait 1 s)", "disabled")
    assert seen["outcome_after_early_click"] is None
    assert seen["at30"] == ("I know this person", "normal")
    assert outcomes == [(verdict, Outcome.USER_TRUSTED)]
    assert tool.wait_for(RUNNING)


def test_alert_is_red_cannot_be_closed_and_upgrades_an_open_warning(
    display: str, tmp_path: Path, tool: ToolTree
) -> None:
    presenter = make_presenter(tmp_path, "nl")
    warn = sample_verdict(Level.WARN, [tool.popen.pid])
    alert = sample_verdict(Level.ALERT, [tool.popen.pid])
    seen: dict[str, object] = {}
    inbox: list[queue.Queue[Verdict]] = []

    def warn_shown_then_alert(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        seen["warn_band"] = view_of(p).widgets["brand"].cget("bg")
        inbox[0].put(alert)
        return True

    def upgraded(p: TkPresenter) -> bool:
        view = view_of(p)
        if view.warning.level is not Level.ALERT:
            return False
        seen["headline"] = view.text("headline")
        seen["advice"] = view.text("advice")
        seen["band"] = view.widgets["brand"].cget("bg")
        view.root.event_generate("<Escape>")  # refused for an ALERT
        view.root.protocol("WM_DELETE_WINDOW")  # the close handler exists...
        seen["after_escape"] = view.warning.outcome
        seen["visible"] = bool(view.root.winfo_viewable())
        click(view, "stop")
        return True

    original = presenter.serve

    def serve_with(q: queue.Queue[Verdict], on_outcome, stop) -> None:  # type: ignore[no-untyped-def]
        inbox.append(q)
        original(q, on_outcome, stop)

    presenter.serve = serve_with  # type: ignore[method-assign,assignment]
    outcomes = drive(presenter, [warn], [warn_shown_then_alert, upgraded])

    assert seen["warn_band"] != ALERT_BAND
    assert seen["band"] == ALERT_BAND
    assert seen["headline"] == "Hang nu op — dit lijkt op oplichting"
    assert str(seen["advice"]).startswith("Hang de telefoon op.")
    assert seen["after_escape"] is None and seen["visible"] is True
    assert outcomes == [(warn, Outcome.USER_STOPPED), (alert, Outcome.USER_STOPPED)]
    assert tool.wait_for(GONE)


def test_a_real_pointer_click_with_xdotool(display: str, tmp_path: Path, tool: ToolTree) -> None:
    if not shutil.which("xdotool"):
        pytest.skip("xdotool is not installed (scripts/test.sh installs it)")
    presenter = make_presenter(tmp_path)
    verdict = sample_verdict(Level.WARN, [tool.popen.pid])
    clicked: list[subprocess.Popen[bytes]] = []

    def click_pause_from_outside(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        view = view_of(p)
        view.root.update()  # geometry settled before we read where the button is
        button = view.button("pause")
        x = button.winfo_rootx() + button.winfo_width() // 2
        y = button.winfo_rooty() + button.winfo_height() // 2
        # From outside the window onto the button, so X sends a real Enter, then
        # a real press and release. Tk handles them once this callback returns.
        clicked.append(
            subprocess.Popen(
                [
                    *("xdotool", "mousemove", "--sync", "1", "1"),
                    *("mousemove", "--sync", str(x), str(y), "click", "1"),
                ]
            )
        )
        return True

    def help_panel_then_resume(p: TkPresenter) -> bool:
        view = view_of(p)
        if "resume" not in view.widgets:
            return False
        click(view, "resume")
        return True

    outcomes = drive(presenter, [verdict], [click_pause_from_outside, help_panel_then_resume])
    for proc in clicked:
        proc.wait(timeout=5)
    assert outcomes == [(verdict, Outcome.USER_PAUSED)]


def test_agent_stop_with_the_warning_open_leaves_nothing_frozen(
    display: str, tmp_path: Path, tool: ToolTree
) -> None:
    presenter = make_presenter(tmp_path)
    alert = sample_verdict(Level.ALERT, [tool.popen.pid])

    def suspended(p: TkPresenter) -> bool:
        return shown(p) and tool.wait_for({psutil.STATUS_STOPPED})

    outcomes = drive(presenter, [alert], [suspended])  # then the driver sets stop_event
    assert outcomes == [(alert, Outcome.IGNORED)]
    assert tool.wait_for(RUNNING)
    assert not (tmp_path / "suspended.json").exists()


def test_screenshots_are_written_for_both_languages(display: str, tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    from PIL import Image

    from agent.demo.screenshots import shoot

    paths = shoot(tmp_path / "shots")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        f"warning-{lang}-{kind}.png" for lang in ("en", "nl") for kind in ("warn", "alert", "pause")
    )
    with Image.open(tmp_path / "shots" / "warning-nl-alert.png") as img:
        assert img.width >= 800 and img.height >= 500
        rgb = img.convert("RGB")
        red = tuple(int(ALERT_BAND[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb.getpixel((2, img.height // 2)) == red  # the red frame of an ALERT
    with Image.open(tmp_path / "shots" / "warning-en-warn.png") as img:
        assert img.convert("RGB").getpixel((img.width - 3, img.height // 2)) == (255, 255, 255)


def test_the_running_agent_shows_the_window_and_enter_stops_the_tool(
    display: str, tmp_path: Path, agent_cmd: list[str]
) -> None:
    """The whole path: ``ratwatch-agent run`` with Tk, an unknown call, a stand-in AnyDesk."""
    if not shutil.which("xdotool"):
        pytest.skip("xdotool is not installed (scripts/test.sh installs it)")
    import json

    state = tmp_path / "state"
    config = tmp_path / "agent.toml"
    config.write_text(
        '[agent]\nlanguage = "en"\n[telemetry]\nenabled = false\n'
        '[sensors]\nenabled = ["processes", "intake"]\n'
    )
    stand_in = tmp_path / "anydesk"
    shutil.copy("/bin/sleep", stand_in)
    agent_log = (tmp_path / "agent.log").open("w")
    agent = subprocess.Popen(
        [*agent_cmd, "run", "--config", str(config), "--state-dir", str(state), "--dialog", "tk"],
        stdout=subprocess.PIPE,
        stderr=agent_log,
        text=True,
        env={**os.environ, "DISPLAY": display},
    )
    tool: subprocess.Popen[bytes] | None = None
    try:
        assert agent.stdout is not None
        assert "running" in agent.stdout.readline()
        subprocess.run(
            [
                *agent_cmd,
                "signal",
                "call-started",
                "--caller",
                "unknown",
                "--state-dir",
                str(state),
            ],
            check=True,
            capture_output=True,
        )
        journal_file = state / "journal.jsonl"
        deadline = time.monotonic() + 10
        while '"context"' not in (journal_file.read_text() if journal_file.exists() else ""):
            assert time.monotonic() < deadline, "the agent never took the call in"
            time.sleep(0.05)
        tool = subprocess.Popen([str(stand_in), "300"])
        found = subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--name", "ratwatch"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            env={**os.environ, "DISPLAY": display},
        )
        window_seen = time.time()
        journal = [json.loads(line) for line in (state / "journal.jsonl").read_text().splitlines()]
        # (A NOTE may come first when the process event overtakes the call in
        # the agent's queue; the late call then upgrades the episode to WARN.)
        verdict = next(
            e for e in journal if e["type"] == "verdict" and e["verdict"]["level"] == "WARN"
        )
        assert window_seen - verdict["ts"] < 1.0  # on screen within a second of the verdict
        assert psutil.Process(tool.pid).status() == psutil.STATUS_STOPPED

        window = found.stdout.split()[0]
        # Keys in the window's first second are ignored (typed for another window).
        time.sleep(max(0.0, window_seen + KEY_GUARD_SECONDS - time.time()))
        # Under heavy load a key typed in the very moment the window takes the
        # focus can be dropped by Tk; a person would press again, and so do we
        # (at most three times). One press is what normally happens.
        for _attempt in range(3):
            subprocess.run(
                ["xdotool", "windowfocus", "--sync", window, "key", "Return"],
                check=True,
                env={**os.environ, "DISPLAY": display},
            )
            try:
                tool.wait(timeout=5)  # Stop (the default) ended it
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            raise AssertionError(
                (tmp_path / "agent.log").read_text() + (state / "journal.jsonl").read_text()
            )
        deadline = time.monotonic() + 10
        outcomes: list[str] = []
        while time.monotonic() < deadline and not outcomes:
            lines = (state / "journal.jsonl").read_text().splitlines()
            entries = [json.loads(x) for x in lines]
            outcomes = [
                e["outcome"]
                for e in entries
                if e["type"] == "outcome" and e["verdict_id"] == verdict["verdict"]["verdict_id"]
            ]
            time.sleep(0.05)
        assert outcomes == ["user_stopped"]
    finally:
        agent.terminate()
        agent.wait(timeout=15)
        agent_log.close()
        if agent.stdout:
            agent.stdout.close()
        if tool is not None and tool.poll() is None:
            tool.kill()
            tool.wait()


SMALL_SCREEN_PROBE = r"""
import json, queue, sys, threading
from pathlib import Path
from tkinter import font as tkfont
from agent.config import AgentConfig, AgentSection, DialogSection
from agent.demo.preview import sample_verdict
from agent.dialog.tk import TkPresenter
from agent.verdict import Level

config = AgentConfig(agent=AgentSection(state_dir=sys.argv[1], language="nl"))
stop = threading.Event()
result = {}

def measure(view):
    root = view.root
    root.update()
    sw, sh = root.winfo_screenwidth(), root.winfo_screenheight()
    for role in ("stop", "pause", "trust"):
        b = view.button(role)
        x, y, w, h = b.winfo_rootx(), b.winfo_rooty(), b.winfo_width(), b.winfo_height()
        result[role] = x >= 0 and y >= 0 and x + w <= sw and y + h <= sh
    result["body_size"] = tkfont.Font(font=view.widgets["sentence0"].cget("font")).actual("size")
    stop.set()

presenter = TkPresenter(config, on_render=measure)
q = queue.Queue()
q.put(sample_verdict(Level.ALERT))
presenter.serve(q, lambda v, o: None, stop)
print(json.dumps(result))
"""


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1024, 600)])
def test_every_button_is_on_a_small_screen(tmp_path: Path, width: int, height: int) -> None:
    """The longest warning (Dutch ALERT) still shows all three buttons on a small screen.

    In a child process: Tk keeps its X connection until exit, so a second
    Xvfb that goes away would take this test process with it.
    """
    import json

    if not VirtualDisplay.available():
        pytest.skip("Xvfb is not installed (scripts/test.sh installs it)")
    with VirtualDisplay(width, height) as small:
        probe = subprocess.run(
            [sys.executable, "-c", SMALL_SCREEN_PROBE, str(tmp_path)],
            env={**os.environ, "DISPLAY": small},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    seen = json.loads(probe.stdout)
    assert seen["stop"] and seen["pause"] and seen["trust"], seen
    assert seen["body_size"] == 17  # the body text stays large; only spacing tightens


def test_an_unanswered_warning_times_out_as_ignored(
    display: str, tmp_path: Path, tool: ToolTree
) -> None:
    clock = FakeClock()
    presenter = make_presenter(tmp_path, clock=clock, timeout_seconds=300)
    verdict = sample_verdict(Level.WARN, [tool.popen.pid])

    def wait_five_minutes(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        clock.now += 300
        return True

    def closed(p: TkPresenter) -> bool:
        return p.view is None  # the poll loop noticed the timeout and closed it

    outcomes = drive(presenter, [verdict], [wait_five_minutes, closed])
    assert outcomes == [(verdict, Outcome.IGNORED)]
    assert tool.wait_for(RUNNING)


def test_a_second_tool_waits_its_turn(display: str, tmp_path: Path, tool: ToolTree) -> None:
    presenter = make_presenter(tmp_path)
    first = sample_verdict(Level.WARN, tool="AnyDesk")
    second = sample_verdict(Level.WARN, [tool.popen.pid], tool="TeamViewer")
    seen: list[str] = []

    def first_shown(p: TkPresenter) -> bool:
        if not shown(p):
            return False
        seen.append(view_of(p).warning.tool_name)
        assert tool.wait_for({psutil.STATUS_STOPPED})  # held while it waits
        click(view_of(p), "stop")
        click(view_of(p), "close")
        return True

    def second_shown(p: TkPresenter) -> bool:
        if not shown(p) or view_of(p).warning.tool_name != "TeamViewer":
            return False
        seen.append(view_of(p).warning.tool_name)
        click(view_of(p), "pause")
        click(view_of(p), "resume")
        return True

    outcomes = drive(presenter, [first, second], [first_shown, second_shown])
    assert seen == ["AnyDesk", "TeamViewer"]
    assert outcomes == [(first, Outcome.USER_STOPPED), (second, Outcome.USER_PAUSED)]
    assert tool.wait_for(RUNNING)


def test_agent_killed_with_the_tool_suspended_resumes_it_on_restart(
    display: str, tmp_path: Path, agent_cmd: list[str]
) -> None:
    """kill -9 of the real agent while its warning holds the tool; the next start resumes it."""
    if not shutil.which("xdotool"):
        pytest.skip("xdotool is not installed (scripts/test.sh installs it)")
    state = tmp_path / "state"
    config = tmp_path / "agent.toml"
    config.write_text(
        '[telemetry]\nenabled = false\n[sensors]\nenabled = ["processes", "intake"]\n'
    )
    stand_in = tmp_path / "anydesk"
    shutil.copy("/bin/sleep", stand_in)
    run = [*agent_cmd, "run", "--config", str(config), "--state-dir", str(state), "--dialog", "tk"]
    env = {**os.environ, "DISPLAY": display}

    def start_agent() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            run, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert proc.stdout is not None
        assert "running" in proc.stdout.readline()
        return proc

    agents = [start_agent()]
    tool = None
    try:
        signal = [*agent_cmd, "signal", "call-started", "--caller", "unknown"]
        subprocess.run([*signal, "--state-dir", str(state)], check=True, capture_output=True)
        journal = state / "journal.jsonl"
        deadline = time.monotonic() + 10
        while '"context"' not in (journal.read_text() if journal.exists() else ""):
            assert time.monotonic() < deadline, "the agent never took the call in"
            time.sleep(0.05)
        tool = subprocess.Popen([str(stand_in), "300"])
        subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--name", "ratwatch"],
            capture_output=True,
            timeout=10,
            check=True,
            env=env,
        )
        deadline = time.monotonic() + 5
        while psutil.Process(tool.pid).status() != psutil.STATUS_STOPPED:
            assert time.monotonic() < deadline, "the warning did not pause the tool"
            time.sleep(0.02)

        agents[0].kill()  # kill -9: no clean stop, no chance to resume
        agents[0].wait(timeout=10)
        time.sleep(0.3)
        assert psutil.Process(tool.pid).status() == psutil.STATUS_STOPPED  # frozen for now
        assert (state / "suspended.json").exists()

        agents.append(start_agent())  # the next start resumes it before anything else
        deadline = time.monotonic() + 5
        while psutil.Process(tool.pid).status() == psutil.STATUS_STOPPED:
            assert time.monotonic() < deadline, "the restarted agent left the tool frozen"
            time.sleep(0.02)
        assert not (state / "suspended.json").exists()
    finally:
        for agent in agents:
            if agent.poll() is None:
                agent.terminate()
                agent.wait(timeout=15)
            if agent.stdout:
                agent.stdout.close()
        if tool is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(tool.pid).resume()
            tool.kill()
            tool.wait()

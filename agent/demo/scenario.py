"""The one-command demo: a scripted tech-support scam, from the phone call to the analyst's table.

Runs the real programs as child processes — ``ratwatch-collector serve`` on
embedded SQLite, ``ratwatch-agent run`` with its sensors on — and plays the
scam through real signals: an unknown call through the intake door, a
harmless stand-in named like AnyDesk (a renamed copy of the Python
interpreter) connected to a stand-in relay on loopback, and a stand-in
Event Viewer (a renamed copy of ``sleep``) as the scare tactic. The console
warning is answered as a person would type; with a Tk window the person
clicks (or the warning times out). Then the counts flow to the collector and
the analyst's table is printed by ``ratwatch-collector stats``.

Everything is written under one temporary directory named at the start and
removed at the end; every child process is stopped. Linux and macOS.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.demo.stack import AgentChild, CollectorChild, DashboardChild
from agent.errors import DemoError

Echo = Callable[[str], None]
# AnyDesk's catalogue ports: a connection to one of them is what the session sensor sees.
RELAY_PORTS = (7070, 6568)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
STEPS = 6


@dataclass
class DemoOptions:
    """How the demo runs."""

    dialog: str = "console"  # "console" (answered by the demo) or "tk" (the person clicks)
    keep: bool = False  # keep the work directory for inspection
    dashboard: bool = False  # open the analysts' dashboard and wait for Enter before cleaning up
    think_seconds: float = 1.5  # how long the "person" reads before answering
    upload_seconds: float = 3.0


@dataclass
class _Props:
    """The stand-in processes and the relay socket, so cleanup can find them all."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.kill()
            p.wait()
        for s in self.sockets:
            s.close()


def tool_process_name() -> str:
    """The name AnyDesk runs under on this OS (from the catalogue)."""
    from agent.catalogue.loader import load_catalogue
    from agent.platform import current_os

    tool = load_catalogue().tool("anydesk")
    names = tool.names_for(current_os()) if tool is not None else ()
    return names[0] if names else "AnyDesk"


def scare_stand_in() -> tuple[str, str]:
    """(tactic id, process name) of a scare tactic recognised by its name alone.

    Event Viewer when the catalogue has it (the classic "look at all these
    errors"); the name comes from the catalogue so the demo follows its content.
    """
    from agent.catalogue.loader import load_catalogue

    tactics = [t for t in load_catalogue().scare_tactics if t.process_names and not t.parents]
    tactics.sort(key=lambda t: t.tactic_id != "eventvwr")
    if not tactics:
        raise DemoError("the catalogue has no scare tactic recognised by process name alone")
    return tactics[0].tactic_id, tactics[0].process_names[0]


def _relay() -> socket.socket | None:
    """A stand-in for AnyDesk's relay on loopback (None when both ports are taken)."""
    for port in RELAY_PORTS:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.listen(4)
        return s
    return None


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ratwatch-demo-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def _child_env(work: Path) -> dict[str, str]:
    """Per-user directories of the children point into the work dir: nothing lands elsewhere."""
    dirs = {
        "XDG_STATE_HOME": "state",
        "XDG_DATA_HOME": "data",
        "XDG_CONFIG_HOME": "config",
        "XDG_CACHE_HOME": "cache",
    }
    env = {}
    for var, sub in dirs.items():
        (work / "home" / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(work / "home" / sub)
    return env


def _wait_for_tool(collector: CollectorChild, tool_id: str, timeout: float) -> int:
    """Ask the collector (as the analyst CLI does) until ``tool_id`` has been counted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total = collector.counted(tool_id, "--trigger", "unknown_call")
        if total:
            return total
        time.sleep(0.5)
    raise DemoError(f"the collector had not received a count for {tool_id} after {timeout:.0f} s")


def run_demo(options: DemoOptions, echo: Echo) -> None:
    """Play the whole journey; raises DemoError when a step does not happen."""
    started = time.monotonic()
    with _workdir(options.keep) as work:
        echo("ratwatch demo: a scripted tech-support scam, end to end, on this machine only.")
        echo(
            f"Everything is written under {work}"
            + ("" if options.keep else " (removed at the end).")
        )
        props = _Props()
        env = _child_env(work)
        collector = CollectorChild(work / "collector", env=env)
        dashboard = DashboardChild(work / "dashboard", env=env)
        agent = AgentChild(
            work / "pc",
            "",
            "",
            upload_seconds=options.upload_seconds,
            dialog=options.dialog,
            dialog_timeout_seconds=0 if options.dialog == "console" else 12,
            env=env,
        )
        try:
            _journey(Journey(options, echo, collector, agent, props))
            echo("")
            echo(
                f"[6/{STEPS}] The agent sends its counts on its schedule (every "
                f"{options.upload_seconds:g} s in this demo, once a day normally) ..."
            )
            _wait_resolved(Journey(options, echo, collector, agent, props), 60)
            n = _wait_for_tool(collector, "anydesk", 30)
            echo(f"      the collector has counted AnyDesk {n} time(s).")
            echo("")
            echo(
                "The operator's raw view of this demo collector "
                "(ratwatch-collector stats --data-dir ... --raw):"
            )
            echo("")
            for line in collector.raw_table().rstrip().splitlines():
                echo(("    " + line).rstrip())
            echo("")
            echo("Analysts never see this raw view: they get releases, fixed tables per closed")
            echo("period with noise and a threshold. Today is not closed, so the analysts' view")
            echo("(ratwatch-collector stats --collector ...) has no release with this count yet.")
            echo("")
            echo("Only these counts left the 'PC': a day, the tool id, what came before, how far")
            echo("it got and what the person chose. No names, numbers, paths or addresses.")
            _show_dashboard(options, echo, collector, dashboard)
        finally:
            props.close()
            agent.stop()
            dashboard.stop()
            collector.stop()
        where = f"kept {work}" if options.keep else f"removed {work}"
        echo(f"Cleaned up: agent, collector and dashboard stopped, stand-ins gone, {where}.")
        echo(f"Demo finished in {time.monotonic() - started:.0f} s.")


def _show_dashboard(
    options: DemoOptions, echo: Echo, collector: CollectorChild, dashboard: DashboardChild
) -> None:
    """Start the analysts' dashboard on the demo's collector and say what it shows."""
    import datetime as dt

    url = dashboard.start(collector.address)
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    shown = dashboard.count_shown(collector.analyst_token, "AnyDesk", month)
    echo("")
    if shown is None:
        echo(
            f"The analysts' dashboard at {url}?period={month} shows releases only: "
            "this month has no release with today's count yet."
        )
    else:  # a release holds it (not in a demo: today is never released)
        echo(f"The analysts' dashboard shows AnyDesk {shown} from releases at {url}?period={month}")
    echo(f"      (sign in with the demo's analyst token {collector.analyst_token})")
    if not options.dashboard:
        echo("      (run the demo with --dashboard to open it in a browser and look around)")
        return
    import webbrowser

    with contextlib.suppress(webbrowser.Error):
        webbrowser.open(f"{url}signin")
    with contextlib.suppress(EOFError):
        input("Press Enter to stop everything and clean up ... ")


@dataclass
class Journey:
    """Who takes part in the scripted scam."""

    options: DemoOptions
    echo: Echo
    collector: CollectorChild
    agent: AgentChild
    props: _Props
    showing: bool = False  # echo the agent's warning lines


def _journey(j: Journey) -> None:
    _start_programs(j)
    _remote_tool(j)
    _scare_tactic(j)
    j.showing = False


def _start_programs(j: Journey) -> None:
    echo, collector, agent = j.echo, j.collector, j.agent
    echo("")
    echo(f"[1/{STEPS}] Starting a collector on loopback (embedded SQLite, fresh tokens) ...")
    collector.start()
    echo(f"      listening on {collector.address}; data in {collector.data_dir}")

    def show(line: str) -> None:
        if j.showing and line.strip() and not LOG_LINE.match(line):
            echo("    | " + line)

    echo(f"[2/{STEPS}] Starting the agent with its sensors on (processes, sessions, intake) ...")
    agent.collector, agent.token, agent.on_line = collector.address, collector.agent_token, show
    agent.start()
    echo(f"      running; its state dir is {agent.state_dir}")
    echo(f"[3/{STEPS}] The phone rings: an unknown number, 'calling from Microsoft'.")
    echo("      (ratwatch-agent signal call-started --caller unknown: the door a phone app uses)")
    mark = agent.mark()
    agent.signal("call-started", "--caller", "unknown")
    # The inbox is watched asynchronously: let the call be taken in before the tool starts.
    with contextlib.suppress(DemoError):
        agent.wait_for(r"CallStarted", 5, since=mark)


def _remote_tool(j: Journey) -> None:
    echo, agent, props = j.echo, j.agent, j.props
    name = tool_process_name()
    echo(f"[4/{STEPS}] The caller talks you into downloading and starting '{name}'.")
    echo("      (a harmless stand-in: a renamed copy of the Python interpreter that connects")
    echo("       to a stand-in relay on this machine, as AnyDesk connects to its relay)")
    relay = _relay()
    if relay is not None:
        props.sockets.append(relay)
    stand_in = agent.downloads / name
    shutil.copy2(os.path.realpath(sys.executable), stand_in)
    argv = [str(stand_in), "-I", "-S", "-c", "import time\ntime.sleep(120)\n"]
    mark = agent.mark()
    j.showing = True
    if relay is not None and os.name == "posix":
        # The stand-in is born holding its relay connection (made here, handed
        # over at exec): the agent may notice and pause it within milliseconds
        # of its start, before it could have connected by itself.
        relay.settimeout(10)
        link = socket.create_connection(relay.getsockname())
        conn, _ = relay.accept()
        props.sockets.append(conn)
        with link:
            props.processes.append(
                subprocess.Popen(argv, stdin=subprocess.DEVNULL, pass_fds=(link.fileno(),))
            )
    else:
        if relay is not None:
            port = relay.getsockname()[1]
            argv[-1] = (
                f"import socket, time\ns = socket.create_connection(('127.0.0.1', {port}))\n"
                "time.sleep(120)\n"
            )
        props.processes.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL))
        if relay is not None:
            relay.settimeout(10)
            conn, _ = relay.accept()
            props.sockets.append(conn)
    _answer(j, mark, r"Type 1, 2 or 3", ("2", "Pause and call someone I trust"))


def _scare_tactic(j: Journey) -> None:
    tactic, name = scare_stand_in()
    j.echo(f"[5/{STEPS}] The scammer opens '{name}' ({tactic}) to 'prove' your PC is infected.")
    j.echo("      (a stand-in: a renamed copy of 'sleep')")
    sleep = shutil.which("sleep")
    if sleep is None:
        raise DemoError("no 'sleep' program found to stand in for the scare tactic")
    bin_dir = j.agent.workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    scare = bin_dir / name
    shutil.copy2(sleep, scare)
    mark = j.agent.mark()
    j.props.processes.append(subprocess.Popen([str(scare), "8"], stdin=subprocess.DEVNULL))
    _answer(j, mark, r"HANG UP", ("1", "Stop the session"))


def _answer(j: Journey, mark: int, prompt: str, choice: tuple[str, str]) -> None:
    """Wait for the warning; type the choice on the console (Tk: the person clicks)."""
    if j.options.dialog != "console":
        _answer_tk(j, mark, alert=choice[0] == "1")
        return
    try:
        j.agent.wait_for(prompt, 20, since=mark)
    except DemoError:
        if choice[0] == "2":
            raise  # no warning at all: the demo has nothing to show
        # Another remote tool active on this machine can take the alert (it goes to the
        # most recent session); the story still ends with the person stopping AnyDesk.
        j.echo("      (the agent raised no alert for AnyDesk: is another remote tool in use here?)")
    time.sleep(j.options.think_seconds)
    j.echo(f"      >>> (demo) the person types {choice[0]}: {choice[1]}")
    j.agent.answer(choice[0])
    time.sleep(1.0)  # let the agent's confirmation show


def _answer_tk(j: Journey, mark: int, *, alert: bool) -> None:
    """The window is the person's: wait for their click, then press Enter (= Stop) for them."""
    if not alert:
        j.agent.wait_for(r"verdict (WARN|ALERT)", 20, since=mark)
        j.echo("      >>> a warning window is open; click a button, or let it close by itself.")
        time.sleep(j.options.think_seconds + 2)
        return
    with contextlib.suppress(DemoError):
        j.agent.wait_for(r"verdict ALERT", 15, since=mark)
    j.echo("      >>> the red window: click 'Stop the session' (in 8 s the demo presses Enter,")
    j.echo("          which chooses it, if xdotool is installed).")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and _unresolved(j.agent):
        time.sleep(0.2)
    xdotool = shutil.which("xdotool")
    if _unresolved(j.agent) and xdotool is not None:
        found = subprocess.run(
            [xdotool, "search", "--name", "ratwatch"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        for window in found.stdout.split():
            # windowfocus, not windowactivate: a bare X server (Xvfb) has no window manager.
            subprocess.run(
                [xdotool, "windowfocus", "--sync", window, "key", "Return"],
                capture_output=True,
                check=False,
                timeout=10,
            )
        j.echo("      >>> (demo) pressed Enter in the warning window: Stop the session")


def _unresolved(agent: AgentChild) -> int:
    """AnyDesk verdicts in the journal that have no outcome yet."""
    from agent.journal.journal import read_records

    path = agent.state_dir / "journal.jsonl"
    if not path.exists():
        return 0
    shown: set[str] = set()
    resolved: set[str] = set()
    for record in read_records(path):
        verdict = record.get("verdict")
        if not isinstance(verdict, dict) or verdict.get("tool_id") != "anydesk":
            continue
        (resolved if record.get("type") == "outcome" else shown).add(str(verdict["verdict_id"]))
    return len(shown - resolved)


def _wait_resolved(j: Journey, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _unresolved(j.agent):
        if time.monotonic() > deadline:
            raise DemoError("the warning was not answered; nothing to count yet")
        time.sleep(0.2)

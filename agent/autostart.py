"""Start the agent when the person logs in: one interface, one writer per OS.

The warning must appear in the person's own desktop session, so the agent
runs as a per-user login item, never as a system service (a service has no
desktop to draw on, and on macOS / Wayland it may not even see one):

- Linux: an XDG autostart entry, ``$XDG_CONFIG_HOME/autostart/ratwatch-agent.desktop``
  (``~/.config`` when unset), honoured by GNOME, KDE, Xfce, Cinnamon, MATE, LXQt.
- macOS: a LaunchAgent, ``~/Library/LaunchAgents/org.ratwatch.agent.plist``,
  limited to the Aqua (GUI) session and restarted if it crashes.
- Windows: a Task Scheduler task triggered at this user's logon, running
  ``pythonw.exe`` (no console window) with the user's interactive token. The
  task definition is an XML document registered with ``schtasks /Create /XML``;
  the ``schtasks`` calls go through a runner that tests replace (Windows only).

Every writer renders its file content from a ``LoginItem`` (pure, tested on
every OS) and installs, removes and reports it.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from xml.etree import ElementTree as ET

from agent.errors import AgentError

APP_ID = "ratwatch-agent"
LAUNCHD_LABEL = "org.ratwatch.agent"
TASK_NAME = "ratwatch agent"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


class AutostartError(AgentError):
    """The login item could not be written, removed or read."""


@dataclass(frozen=True)
class LoginItem:
    """What to start at login: the full command line."""

    argv: tuple[str, ...]
    name: str = "ratwatch agent"
    comment: str = "Warns when a remote-access tool starts after a scam call or pop-up"


@dataclass(frozen=True)
class Status:
    """Whether the login item exists, where, and what it runs."""

    installed: bool
    location: str
    argv: tuple[str, ...] = ()


def agent_argv(
    config: Path | None = None, state_dir: Path | None = None, os_name: str | None = None
) -> tuple[str, ...]:
    """``<python> -m agent run [--config F] [--state-dir D]`` with absolute paths."""
    python = Path(sys.executable)
    if (os_name or current_os()) == "windows":
        windowless = python.with_name("pythonw.exe")  # no console window at login
        if windowless.exists():
            python = windowless
    argv = [str(python), "-m", "agent", "run"]
    if config is not None:
        argv += ["--config", str(config.resolve())]
    if state_dir is not None:
        argv += ["--state-dir", str(state_dir.resolve())]
    return tuple(argv)


def current_os() -> str:
    """ "windows", "macos" or "linux" (every other POSIX desktop uses XDG autostart)."""
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


class Writer(Protocol):
    """One OS's login-item mechanism."""

    def render(self, item: LoginItem) -> bytes:
        """The file content that describes ``item``."""

    def install(self, item: LoginItem) -> str:
        """Create or replace the login item; returns where it lives."""

    def remove(self) -> bool:
        """Delete the login item; False when there was none."""

    def status(self) -> Status:
        """Whether it is installed and what it runs."""


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AutostartError(f"cannot write the login item: {exc.strerror}") from exc


# -- Linux and other XDG desktops ------------------------------------------

_DESKTOP_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def desktop_exec(argv: Sequence[str]) -> str:
    """An Exec= value per the Desktop Entry spec (quoting, then string escaping)."""
    parts = []
    for raw in argv:
        arg = raw.replace("%", "%%")  # field codes
        if any(c in _DESKTOP_RESERVED for c in arg) or not arg:
            inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
            arg = f'"{inner}"'
        parts.append(arg)
    # The whole value is a "string" type: a backslash is written as "\\".
    return " ".join(parts).replace("\\", "\\\\")


def parse_desktop_exec(value: str) -> tuple[str, ...]:
    """The inverse of ``desktop_exec`` (for ``status``)."""
    text = value.replace("\\\\", "\\")
    out: list[str] = []
    current: list[str] = []
    quoted = False
    started = False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif c == '"':
                quoted = False
            else:
                current.append(c)
        elif c == '"':
            quoted = started = True
        elif c == " ":
            if started:
                out.append("".join(current).replace("%%", "%"))
            current, started = [], False
        else:
            current.append(c)
            started = True
        i += 1
    if started:
        out.append("".join(current).replace("%%", "%"))
    return tuple(out)


class XdgAutostart:
    """``$XDG_CONFIG_HOME/autostart/ratwatch-agent.desktop``."""

    def __init__(self, home: Path, environ: Mapping[str, str]) -> None:
        config_home = environ.get("XDG_CONFIG_HOME", "")
        # The spec: a relative XDG_CONFIG_HOME is invalid and must be ignored.
        base = Path(config_home) if os.path.isabs(config_home) else home / ".config"
        self.path = base / "autostart" / f"{APP_ID}.desktop"

    def render(self, item: LoginItem) -> bytes:
        lines = [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.0",
            f"Name={item.name}",
            f"Comment={item.comment}",
            f"Exec={desktop_exec(item.argv)}",
            "Terminal=false",
            "NoDisplay=true",
            "X-GNOME-Autostart-enabled=true",
            "",
        ]
        return "\n".join(lines).encode("utf-8")

    def install(self, item: LoginItem) -> str:
        _write_atomic(self.path, self.render(item))
        return str(self.path)

    def remove(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def status(self) -> Status:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Status(False, str(self.path))
        exec_line = next((ln for ln in text.splitlines() if ln.startswith("Exec=")), "Exec=")
        hidden = any(ln.strip() == "Hidden=true" for ln in text.splitlines())
        return Status(not hidden, str(self.path), parse_desktop_exec(exec_line[5:]))


# -- macOS --------------------------------------------------------------------


class LaunchAgent:
    """``~/Library/LaunchAgents/org.ratwatch.agent.plist`` (takes effect at the next login)."""

    def __init__(self, home: Path) -> None:
        self.path = home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"

    def render(self, item: LoginItem) -> bytes:
        plist = {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": list(item.argv),
            "RunAtLoad": True,
            # Restart after a crash, not after a clean stop (ratwatch-agent exits 0).
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": 30,
            "ProcessType": "Interactive",
            # Only in a logged-in GUI session: the warning needs the desktop.
            "LimitLoadToSessionType": "Aqua",
        }
        return plistlib.dumps(plist, fmt=plistlib.FMT_XML)

    def install(self, item: LoginItem) -> str:
        _write_atomic(self.path, self.render(item))
        return str(self.path)

    def remove(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def status(self) -> Status:
        try:
            data = plistlib.loads(self.path.read_bytes())
        except FileNotFoundError:
            return Status(False, str(self.path))
        except (plistlib.InvalidFileException, ValueError) as exc:
            raise AutostartError(f"the LaunchAgent file is damaged: {exc}") from exc
        disabled = bool(data.get("Disabled", False))
        return Status(not disabled, str(self.path), tuple(data.get("ProgramArguments", ())))


# -- Windows ------------------------------------------------------------------

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run_schtasks(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run ``schtasks.exe`` (Windows only)."""
    return subprocess.run(["schtasks", *args], capture_output=True, text=True, check=False)


def _windows_command_line(argv: Sequence[str]) -> str:
    return subprocess.list2cmdline(list(argv))


class ScheduledTask:
    """A Task Scheduler task started at this user's logon, registered with schtasks."""

    def __init__(self, user: str, runner: Runner = run_schtasks) -> None:
        self.user = user  # DOMAIN\\name; stays on the PC (never logged)
        self.runner = runner

    def render(self, item: LoginItem) -> bytes:
        ET.register_namespace("", TASK_NS)

        def el(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
            node = ET.SubElement(parent, f"{{{TASK_NS}}}{tag}")
            if text is not None:
                node.text = text
            return node

        task = ET.Element(f"{{{TASK_NS}}}Task", {"version": "1.2"})
        info = el(task, "RegistrationInfo")
        el(info, "Description", item.comment)
        trigger = el(el(task, "Triggers"), "LogonTrigger")
        el(trigger, "Enabled", "true")
        el(trigger, "UserId", self.user)
        principal = el(el(task, "Principals"), "Principal")
        principal.set("id", "Author")
        el(principal, "UserId", self.user)
        el(principal, "LogonType", "InteractiveToken")  # runs on the person's desktop
        el(principal, "RunLevel", "LeastPrivilege")
        settings = el(task, "Settings")
        el(settings, "MultipleInstancesPolicy", "IgnoreNew")
        el(settings, "DisallowStartIfOnBatteries", "false")
        el(settings, "StopIfGoingOnBatteries", "false")
        el(settings, "ExecutionTimeLimit", "PT0S")  # no time limit
        restart = el(settings, "RestartOnFailure")
        el(restart, "Interval", "PT1M")
        el(restart, "Count", "3")
        el(settings, "Enabled", "true")
        actions = el(task, "Actions")
        actions.set("Context", "Author")
        action = el(actions, "Exec")
        el(action, "Command", item.argv[0])
        if len(item.argv) > 1:
            el(action, "Arguments", _windows_command_line(item.argv[1:]))
        body = ET.tostring(task, encoding="unicode")
        # schtasks /XML expects UTF-16 with a BOM and a matching declaration.
        return ('<?xml version="1.0" encoding="UTF-16"?>\n' + body).encode("utf-16")

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            raise AutostartError(f"schtasks could not {what} the task: {result.stderr.strip()}")

    def install(self, item: LoginItem) -> str:
        fd, tmp = tempfile.mkstemp(prefix="ratwatch-task-", suffix=".xml")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.render(item))
            self._check(self.runner(["/Create", "/TN", TASK_NAME, "/XML", tmp, "/F"]), "create")
        finally:
            Path(tmp).unlink(missing_ok=True)
        return f"Task Scheduler: {TASK_NAME}"

    def remove(self) -> bool:
        if not self.status().installed:
            return False
        self._check(self.runner(["/Delete", "/TN", TASK_NAME, "/F"]), "delete")
        return True

    def status(self) -> Status:
        result = self.runner(["/Query", "/TN", TASK_NAME, "/XML"])
        where = f"Task Scheduler: {TASK_NAME}"
        if result.returncode != 0:
            return Status(False, where)
        return Status(True, where, parse_task_argv(result.stdout))


def parse_task_argv(xml_text: str) -> tuple[str, ...]:
    """Command + arguments of a task definition (as ``schtasks /Query /XML`` prints it)."""
    text = xml_text.lstrip("\ufeff")
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[1]  # ElementTree refuses an encoding declaration in str
    # Trusted input: Task Scheduler's own rendering of the task we registered.
    root = ET.fromstring(text)  # noqa: S314
    command = root.findtext(f".//{{{TASK_NS}}}Exec/{{{TASK_NS}}}Command", default="")
    arguments = root.findtext(f".//{{{TASK_NS}}}Exec/{{{TASK_NS}}}Arguments", default="")
    return (command, *split_windows_command_line(arguments)) if command else ()


def split_windows_command_line(text: str) -> list[str]:
    """Split like CommandLineToArgvW: the inverse of ``subprocess.list2cmdline``.

    Backslashes are literal except before a double quote, so Windows paths
    survive (a POSIX shlex split would eat them).
    """
    args: list[str] = []
    buf: list[str] = []
    quoted = have = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            j = i
            while j < len(text) and text[j] == "\\":
                j += 1
            count = j - i
            if j < len(text) and text[j] == '"':
                buf.append("\\" * (count // 2))
                if count % 2:  # an escaped quote
                    buf.append('"')
                    j += 1
            else:
                buf.append("\\" * count)
            i, have = j, True
            continue
        if c == '"':
            quoted, have = not quoted, True
        elif c in " \t" and not quoted:
            if have:
                args.append("".join(buf))
            buf, have = [], False
        else:
            buf.append(c)
            have = True
        i += 1
    if have:
        args.append("".join(buf))
    return args


def _windows_user(environ: Mapping[str, str]) -> str:
    user = environ.get("USERNAME", "")
    domain = environ.get("USERDOMAIN", "")
    return f"{domain}\\{user}" if domain else user


WRITERS: dict[str, Callable[[Path, Mapping[str, str]], Writer]] = {
    "linux": XdgAutostart,
    "macos": lambda home, _env: LaunchAgent(home),
    "windows": lambda _home, env: ScheduledTask(_windows_user(env)),
}


def writer_for(
    os_name: str | None = None,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Writer:
    """The login-item writer of this (or the named) OS."""
    name = os_name or current_os()
    try:
        factory = WRITERS[name]
    except KeyError:
        raise AutostartError(f"no autostart writer for {name!r}") from None
    return factory(home or Path.home(), os.environ if environ is None else environ)

"""Windows: a Task Scheduler task at this user's logon, registered with ``schtasks``.

The task definition is an XML document (rendered and parsed here, testable on
any OS); only the ``schtasks.exe`` calls need Windows, and they go through a
``Runner`` that tests replace.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

from agent.autostart.base import LoginItem, Status
from agent.errors import AutostartError

TASK_NAME = "ratwatch agent"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"

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


def windows_user(environ: Mapping[str, str]) -> str:
    user = environ.get("USERNAME", "")
    domain = environ.get("USERDOMAIN", "")
    return f"{domain}\\{user}" if domain else user

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

Every writer (``agent/autostart/``) renders its file content from a
``LoginItem`` (pure, tested on every OS) and installs, removes and reports it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from agent.autostart.base import Writer
from agent.autostart.launchd import LaunchAgent
from agent.autostart.taskscheduler import ScheduledTask, windows_user
from agent.autostart.xdg import XdgAutostart
from agent.errors import AutostartError
from agent.platform import current_os


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


WRITERS: dict[str, Callable[[Path, Mapping[str, str]], Writer]] = {
    "linux": XdgAutostart,
    "macos": lambda home, _env: LaunchAgent(home),
    "windows": lambda _home, env: ScheduledTask(windows_user(env)),
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


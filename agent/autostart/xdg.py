"""Linux and other XDG desktops: ``$XDG_CONFIG_HOME/autostart/ratwatch-agent.desktop``.

GNOME, KDE, Xfce, Cinnamon, MATE and LXQt start every entry there at login.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from agent.autostart.base import APP_ID, LoginItem, Status, write_atomic

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
        write_atomic(self.path, self.render(item))
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

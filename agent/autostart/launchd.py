"""macOS: a per-user LaunchAgent, ``~/Library/LaunchAgents/org.ratwatch.agent.plist``."""

from __future__ import annotations

import plistlib
from pathlib import Path

from agent.autostart.base import LoginItem, Status, write_atomic
from agent.errors import AutostartError

LAUNCHD_LABEL = "org.ratwatch.agent"


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
            data = plistlib.loads(self.path.read_bytes())
        except FileNotFoundError:
            return Status(False, str(self.path))
        except (plistlib.InvalidFileException, ValueError) as exc:
            raise AutostartError(
                f"the LaunchAgent file is damaged: {exc}", file=str(self.path)
            ) from exc
        disabled = bool(data.get("Disabled", False))
        return Status(not disabled, str(self.path), tuple(data.get("ProgramArguments", ())))

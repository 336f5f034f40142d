"""What may appear in the agent's log lines and error messages.

Logs may reach a support desk, so nothing identifying a person or a PC goes
there. Paths are the common leak: the home folder carries the user name.
"""

from __future__ import annotations

from pathlib import Path


def redact_home(text: str) -> str:
    """Replace the user's home directory with ``~``."""
    home = str(Path.home())
    return text.replace(home, "~") if home not in ("", "/") else text

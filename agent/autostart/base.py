"""What every login-item writer shares: the item, its status, the interface, errors."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.errors import AutostartError

APP_ID = "ratwatch-agent"


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


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step (a crash leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AutostartError(
            f"cannot write the login item: {exc.strerror}", file=str(path)
        ) from exc

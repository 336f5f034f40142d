"""A real session bus (Debian's dbus-daemon) and the KDE Connect stand-in, for tests and bench.

The bus listens on a unix socket under the test's own directory, so a test
can stop it and start a new one at the same address (a private bus that
restarts, as KDE Connect's does on Windows and macOS).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "kdeconnect_standin.py"


def dbus_daemon() -> str | None:
    return shutil.which("dbus-daemon")


class SessionBus:
    """``dbus-daemon --session --nofork --print-address`` on ``<dir>/bus``."""

    def __init__(self, directory: Path) -> None:
        self.socket = directory / "bus"
        self.address = f"unix:path={self.socket}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        exe = dbus_daemon()
        assert exe is not None
        self.proc = subprocess.Popen(
            [exe, "--session", "--nofork", "--print-address", f"--address={self.address}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        printed = self.proc.stdout.readline().strip()
        assert printed.startswith("unix:path="), printed

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
        if self.socket.exists():
            self.socket.unlink()


class StandIn:
    """The stand-in daemon as a child process; ``send`` plays the phone."""

    def __init__(self, bus: SessionBus) -> None:
        self.bus = bus
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
        self.proc = subprocess.Popen(
            [sys.executable, str(STANDIN), self.bus.address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self._read().get("ready"), "the stand-in did not start"

    def _read(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("the KDE Connect stand-in exited")
        data: dict[str, Any] = json.loads(line)
        return data

    def send(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc = None


def wait_until(check: Any, timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or check}")

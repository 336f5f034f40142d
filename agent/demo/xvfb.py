"""A private virtual X display (Xvfb) for screenshots and the window tests.

Xvfb's ``-displayfd`` makes the server pick a free display number itself and
report it on a pipe, so parallel runs never race for ":99".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from types import TracebackType

from agent.errors import AgentError


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when we die, so a crashed run leaves no Xvfb behind."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class VirtualDisplay:
    """``with VirtualDisplay() as display:`` -> ":N", torn down on exit."""

    def __init__(self, width: int = 1280, height: int = 900, depth: int = 24) -> None:
        self.geometry = f"{width}x{height}x{depth}"
        self.display = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """True when the Xvfb program is installed."""
        return shutil.which("Xvfb") is not None

    def start(self, timeout: float = 10.0) -> str:
        """Start the server and return its display name."""
        xvfb = shutil.which("Xvfb")
        if xvfb is None:
            raise AgentError("Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb)")
        read_fd, write_fd = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [
                    xvfb,
                    "-displayfd",
                    str(write_fd),
                    "-screen",
                    "0",
                    self.geometry,
                    "-nolisten",
                    "tcp",
                ],
                pass_fds=(write_fd,),
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            os.close(write_fd)
        try:
            number = self._read_number(read_fd, timeout)
        finally:
            os.close(read_fd)
        self.display = f":{number}"
        return self.display

    def _read_number(self, fd: int, timeout: float) -> int:
        import select

        data = b""
        while not data.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], timeout)
            chunk = os.read(fd, 64) if ready else b""
            if not chunk:
                self.stop()
                raise AgentError("Xvfb did not report a display number")
            data += chunk
        return int(data.strip())

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
            self._proc = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

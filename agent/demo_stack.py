"""The real programs the demo runs: a collector and an agent, each a child process.

Everything they write lives under one work directory (configs, the
collector's SQLite data dir, the agent's state dir, their logs), so the
demo can name that directory up front and remove it at the end. The
end-to-end tests start their collectors and agents through the same code,
so what the demo shows is what the tests check.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from agent.errors import AgentError

LISTENING = re.compile(r"listening on (\S+:\d+)")


class DemoError(AgentError):
    """A child program of the demo did not start or answer in time."""


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(
    log: Path, pattern: re.Pattern[str], proc: subprocess.Popen[bytes], what: str, timeout: float
) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        found = pattern.search(text)
        if found:
            return found
        if proc.poll() is not None:
            raise DemoError(f"{what} exited with status {proc.returncode}:\n{text[-2000:]}")
        time.sleep(0.05)
    raise DemoError(f"{what} did not start within {timeout:.0f} s (log: {log})")


def _stop(proc: subprocess.Popen[bytes] | None, grace: float) -> int | None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; returns the exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@dataclass
class CollectorChild:
    """``ratwatch-collector serve`` on loopback with embedded SQLite and fresh tokens."""

    workdir: Path
    port: int = 0  # 0 = a free one, chosen at the first start and kept for restarts
    min_cell_count: int = 1
    agent_token: str = ""
    analyst_token: str = ""
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log_fh: IO[bytes] | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.workdir / "collector.toml"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "collector-data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "collector.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def setup(self) -> None:
        """Write the config and create one agent and one analyst token with the real CLI."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self.config_path.write_text(
            "[collector]\n"
            f'listen = "127.0.0.1:{self.port}"\n'
            f'data_dir = "{self.data_dir.as_posix()}"\n'
            f"min_cell_count = {self.min_cell_count}\n"
            "grace_seconds = 2.0\n",
            encoding="utf-8",
        )
        self.agent_token = self._token("agent")
        self.analyst_token = self._token("analyst")

    def _token(self, role: str) -> str:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "collector",
                "token",
                "add",
                "--role",
                role,
                "--config",
                str(self.config_path),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if out.returncode != 0 or not out.stdout.strip():
            raise DemoError(f"could not create a {role} token: {out.stderr.strip()}")
        return out.stdout.strip().splitlines()[-1]

    def start(self, timeout: float = 30.0) -> str:
        """Start the collector and wait until it listens; returns HOST:PORT."""
        if not self.agent_token:
            self.setup()
        self._log_fh = self.log_path.open("ab")
        mark = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector", "serve", "--config", str(self.config_path)],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_path.read_bytes()[mark:].decode("utf-8", "replace")
            if LISTENING.search(text):
                return self.address
            if self.proc.poll() is not None:
                raise DemoError(f"the collector exited with status {self.proc.returncode}:\n{text}")
            if time.monotonic() > deadline:
                raise DemoError(f"the collector did not start within {timeout:.0f} s")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL (crash tests): no clean stop at all."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def stop(self) -> int | None:
        """Clean stop (SIGTERM)."""
        status = _stop(self.proc, 15.0)
        self._close_log()
        return status

    def _close_log(self) -> None:
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def stats_table(self, by: str = "tool,trigger,stage,outcome") -> str:
        """``ratwatch-collector stats`` against the running collector, as the analyst sees it."""
        out = subprocess.run(
            [sys.executable, "-m", "collector", "stats", "--collector", self.address, "--by", by],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**os.environ, "RATWATCH_ANALYST_TOKEN": self.analyst_token},
        )
        if out.returncode != 0:
            raise DemoError(f"ratwatch-collector stats failed: {out.stderr.strip()}")
        return out.stdout


@dataclass
class AgentChild:
    """``ratwatch-agent run`` with its own state dir and config, sending to a collector."""

    workdir: Path
    collector: str
    token: str
    upload_seconds: float = 2.0
    dialog: str = "console"
    extra_config: str = ""
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    _log_fh: IO[bytes] | None = field(default=None, repr=False)

    @property
    def state_dir(self) -> Path:
        return self.workdir / "agent-state"

    @property
    def config_path(self) -> Path:
        return self.workdir / "agent.toml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "agent.log"

    def write_config(self) -> None:
        """The agent's config: everything under the work dir, telemetry on a demo schedule."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        downloads = self.workdir / "Downloads"
        downloads.mkdir(exist_ok=True)
        self.config_path.write_text(
            "[agent]\n"
            f'state_dir = "{self.state_dir.as_posix()}"\n'
            'language = "en"\n'
            "[browser]\n"
            "default_profiles = false\n"
            "[downloads]\n"
            f'watch_dirs = ["{downloads.as_posix()}"]\n'
            "[dialog]\n"
            f'backend = "{self.dialog}"\n'
            "[telemetry]\n"
            f'collector = "{self.collector}"\n'
            f'token = "{self.token}"\n'
            f"upload_interval_hours = {self.upload_seconds / 3600!r}\n"
            "jitter_minutes = 0.0\n"
            "retry_initial_seconds = 0.2\n"
            "max_backoff_minutes = 0.05\n"
            "deadline_seconds = 5.0\n" + self.extra_config,
            encoding="utf-8",
        )

    def start(self, *, stdin: int | None = subprocess.DEVNULL, timeout: float = 30.0) -> None:
        """Start the agent and wait until it says it runs."""
        if not self.config_path.exists():
            self.write_config()
        self._log_fh = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(self.config_path)],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            stdin=stdin,
            env={**os.environ, **self.env},
        )
        _wait_for(
            self.log_path,
            re.compile(r"(?i)agent (is )?running|watching|started"),
            self.proc,
            "the agent",
            timeout,
        )

    def signal(self, *args: str) -> None:
        """``ratwatch-agent signal ...`` against this agent's state dir (the real intake door)."""
        out = subprocess.run(
            [sys.executable, "-m", "agent", "signal", *args, "--config", str(self.config_path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**os.environ, **self.env},
        )
        if out.returncode != 0:
            raise DemoError(f"ratwatch-agent signal {' '.join(args)} failed: {out.stderr}")

    def stop(self) -> int | None:
        status = _stop(self.proc, 20.0)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        return status

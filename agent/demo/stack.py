"""The real programs the demo runs: a collector and an agent, each a child process.

Everything they write lives under one work directory (configs, the
collector's SQLite data dir, the agent's state dir, their logs), so the
demo can name that directory up front and remove it at the end. The
end-to-end tests start their collectors and agents through the same code,
so what the demo shows is what the tests check.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from agent.errors import DemoError

LISTENING = re.compile(r"listening on (\S+:\d+)")


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    workers: int = 0  # front-end processes; 0 = the collector's default
    agent_token: str = ""
    analyst_token: str = ""
    env: dict[str, str] = field(default_factory=dict)
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
            f"workers = {self.workers}\n"
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
            env={**os.environ, **self.env},
        )
        if out.returncode != 0 or not out.stdout.strip():
            raise DemoError(
                f"could not create a {role} token: {out.stderr.strip()}",
                program="ratwatch-collector",
            )
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
            env={**os.environ, **self.env},
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_path.read_bytes()[mark:].decode("utf-8", "replace")
            if LISTENING.search(text):
                return self.address
            if self.proc.poll() is not None:
                raise DemoError(
                    f"the collector exited with status {self.proc.returncode}:\n{text}",
                    program="ratwatch-collector",
                )
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the collector did not start within {timeout:.0f} s",
                    program="ratwatch-collector",
                )
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

    def counted(self, tool_id: str, *filters: str) -> int:
        """How often the collector has counted ``tool_id``: the operator's raw tallies.

        Today's counts are in no release yet (a day is released once it is
        closed), so the demo and the end-to-end tests, which run the
        collector on this machine, read its data dir as its operator would.
        """
        doc = json.loads(self.raw_table("tool", "--tool", tool_id, *filters, "--format", "json"))
        return sum(int(row["count"]) for row in doc["rows"])

    def raw_table(self, by: str = "tool,trigger,stage,outcome", *more: str) -> str:
        """``stats --data-dir ... --raw``: the operator's view, NOT FOR PUBLICATION."""
        return self._stats(
            "--data-dir", str(self.data_dir), "--raw", "--min-cell-count", "1", "--by", by, *more
        )

    def stats_table(self, by: str = "tool,trigger,stage,outcome", *more: str) -> str:
        """``ratwatch-collector stats`` against the running collector, as the analyst sees it."""
        return self._stats("--collector", self.address, "--by", by, *more)

    def _stats(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "collector", "stats", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**os.environ, **self.env, "RATWATCH_ANALYST_TOKEN": self.analyst_token},
        )
        if out.returncode != 0:
            raise DemoError(
                f"ratwatch-collector stats failed: {out.stderr.strip()}",
                program="ratwatch-collector",
            )
        return out.stdout


DASHBOARD_ON = re.compile(r"dashboard on (https?://\S+/)")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class DashboardChild:
    """``ratwatch-collector dashboard`` on a free loopback port, in front of a collector."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    _log_fh: IO[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / "dashboard.log"

    def start(self, collector: str, timeout: float = 30.0) -> str:
        """Start it and wait until it listens; returns its URL."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log_fh = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector", "dashboard", "--collector", collector,
             "--listen", "127.0.0.1:0"],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_path.read_bytes().decode("utf-8", "replace")
            found = DASHBOARD_ON.search(text)
            if found:
                self.url = found.group(1)
                return self.url
            if self.proc.poll() is not None:
                raise DemoError(f"the dashboard exited with status {self.proc.returncode}:\n{text}")
            if time.monotonic() > deadline:
                raise DemoError(f"the dashboard did not start within {timeout:.0f} s")
            time.sleep(0.05)

    def count_shown(self, token: str, tool_name: str, period: str) -> int | None:
        """Sign in as the analyst would and read ``tool_name``'s count off the overview.

        None when the overview lists no count for it: the dashboard shows
        releases only, and a period still open is in none yet.
        """
        import http.cookiejar
        import urllib.parse
        import urllib.request

        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        with opener.open(self.url + "signin", timeout=30) as resp:
            form = resp.read().decode("utf-8")
        csrf = CSRF_FIELD.search(form)
        if csrf is None:
            raise DemoError("the dashboard's sign-in page has no CSRF field")
        body = urllib.parse.urlencode({"token": token, "csrf_token": csrf.group(1)}).encode()
        with opener.open(self.url + "signin", data=body, timeout=30):
            pass
        with opener.open(f"{self.url}?period={period}", timeout=60) as resp:
            page = resp.read().decode("utf-8")
        if 'id="total-line"' not in page:
            raise DemoError("the dashboard did not show the signed-in analyst's overview")
        row = re.search(rf'<th scope="row">{re.escape(tool_name)}</th><td>(\d+)</td>', page)
        return None if row is None else int(row.group(1))

    def stop(self) -> int | None:
        """Clean stop (SIGTERM)."""
        status = _stop(self.proc, 15.0)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        return status


@dataclass
class AgentChild:
    """``ratwatch-agent run`` with its own state dir and config, sending to a collector.

    Its output is read by a thread: kept in ``agent.log`` under the work dir,
    searchable with ``wait_for`` and passed line by line to ``on_line`` (the
    demo shows it). Its standard input is a pipe, so ``answer`` can type into
    the console warning as a person would.
    """

    workdir: Path
    collector: str
    token: str
    upload_seconds: float = 2.0
    dialog: str = "console"
    dialog_timeout_seconds: int = 0
    extra_config: str = ""
    env: dict[str, str] = field(default_factory=dict)
    # Argv prefix, e.g. a namespace wrapper that gives the agent another host name.
    wrapper: list[str] = field(default_factory=list)
    on_line: Callable[[str], None] | None = None
    proc: subprocess.Popen[bytes] | None = None
    _lines: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def state_dir(self) -> Path:
        return self.workdir / "agent-state"

    @property
    def config_path(self) -> Path:
        return self.workdir / "agent.toml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "agent.log"

    @property
    def downloads(self) -> Path:
        return self.workdir / "Downloads"

    def write_config(self) -> None:
        """The agent's config: everything under the work dir, telemetry on a demo schedule."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.downloads.mkdir(exist_ok=True)
        self.config_path.write_text(
            "[agent]\n"
            f'state_dir = "{self.state_dir.as_posix()}"\n'
            'language = "en"\n'
            "[sensors]\n"
            'enabled = ["processes", "sessions", "intake", "downloads"]\n'
            'process_events = "poll"\n'
            "session_poll_seconds = 0.5\n"
            "[downloads]\n"
            f'watch_dirs = ["{self.downloads.as_posix()}"]\n'
            "[dialog]\n"
            f'backend = "{self.dialog}"\n'
            f"timeout_seconds = {self.dialog_timeout_seconds}\n"
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

    def start(self, timeout: float = 30.0) -> None:
        """Start the agent and wait until it says it runs."""
        if not self.config_path.exists():
            self.write_config()
        self.proc = subprocess.Popen(
            [
                *self.wrapper,
                sys.executable,
                "-m",
                "agent",
                "run",
                "--config",
                str(self.config_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        self._reader = threading.Thread(
            target=self._read, name="ratwatch-demo-agent-output", daemon=True
        )
        self._reader.start()
        self.wait_for(r"ratwatch agent running", timeout, since=0)

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log_path.open("ab") as log:
            for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._lock:
                    self._lines.append(line)
                if self.on_line is not None:
                    self.on_line(line)

    def mark(self) -> int:
        """A position in the output; ``wait_for(..., since=mark)`` looks only after it."""
        with self._lock:
            return len(self._lines)

    def wait_for(self, pattern: str, timeout: float, since: int = 0) -> str:
        """Wait until a line matching ``pattern`` appears after ``since``; returns it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self._lines[since:]:
                    if rx.search(line):
                        return line
            if self.proc is not None and self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader drain the last lines
                tail = "\n".join(self._lines[-40:])
                raise DemoError(
                    f"the agent exited with status {self.proc.returncode}:\n{tail}",
                    program="ratwatch-agent",
                )
            time.sleep(0.05)
        raise DemoError(
            f"the agent did not show {pattern!r} within {timeout:.0f} s", program="ratwatch-agent"
        )

    def answer(self, text: str) -> None:
        """Type a line into the console warning."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

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
            raise DemoError(
                f"ratwatch-agent signal {' '.join(args)} failed: {out.stderr}",
                program="ratwatch-agent",
            )

    def stop(self) -> int | None:
        """Clean stop (SIGTERM), as the person's logout would."""
        status = _stop(self.proc, 20.0)
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
        if self._reader is not None:
            self._reader.join(5.0)
        return status

"""The on-disk record of suspended processes, and resuming what a crash left frozen.

Suspension is an OS-level state that outlives the agent. Every process is
written to ``<state_dir>/suspended.json`` *before* it is suspended and removed
after it is resumed or stopped, so ``recover_suspended`` (called by the
runtime at start and at clean stop) can resume whatever a crashed agent left.
Each entry carries the process's create time: a PID reused by an unrelated
process is never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

RECORD_NAME = "suspended.json"
RECORD_VERSION = 1
# psutil derives create_time from boot time + start ticks; a process keeps the
# same value for its life. A tiny tolerance absorbs float formatting only.
_CREATE_TIME_TOLERANCE = 0.01


@dataclass(frozen=True)
class ProcessRef:
    """One process, identified by PID *and* create time (PIDs get reused)."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, proc: psutil.Process) -> ProcessRef:
        """The reference of a live process."""
        return cls(proc.pid, proc.create_time())

    def live(self) -> psutil.Process | None:
        """The process if it still exists and is the same one, else None."""
        try:
            proc = psutil.Process(self.pid)
            same = abs(proc.create_time() - self.create_time) <= _CREATE_TIME_TOLERANCE
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return proc if same else None


class SuspendRecord:
    """The on-disk list of processes the agent has suspended (``suspended.json``).

    Written atomically (temp file + replace) so a crash mid-write leaves the
    previous, still valid, list.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / RECORD_NAME
        self._lock = threading.Lock()

    def load(self) -> list[ProcessRef]:
        """The recorded processes; a damaged file is set aside and reads as empty."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            data: Any = json.loads(raw)
            entries = data["processes"]
            return [
                ProcessRef(int(e["pid"]), float(e["create_time"]))
                for e in entries
                if isinstance(e, dict)
            ]
        except (ValueError, KeyError, TypeError) as exc:
            aside = self.path.with_suffix(".json.damaged")
            log.warning(
                "suspended-process record is damaged (%s); moved aside to %s",
                exc.__class__.__name__,
                aside.name,
            )
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            return []

    def _write(self, refs: list[ProcessRef]) -> None:
        if not refs:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "version": RECORD_VERSION,
            "processes": [{"pid": r.pid, "create_time": r.create_time} for r in refs],
        }
        fd, tmp = tempfile.mkstemp(prefix=".suspended-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(body, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def add(self, refs: Iterable[ProcessRef]) -> None:
        """Record processes (before they are suspended)."""
        with self._lock:
            current = self.load()
            known = set(current)
            current.extend(r for r in refs if r not in known)
            self._write(current)

    def discard(self, refs: Iterable[ProcessRef]) -> None:
        """Forget processes (after they are resumed or gone)."""
        drop = set(refs)
        with self._lock:
            self._write([r for r in self.load() if r not in drop])


def recover_suspended(state_dir: Path) -> int:
    """Resume every process a previous (possibly crashed) agent left suspended.

    Returns the number of processes resumed. A recorded PID whose create time
    no longer matches belongs to someone else now and is left alone.
    """
    record = SuspendRecord(Path(state_dir))
    refs = record.load()
    resumed = 0
    for ref in refs:
        proc = ref.live()
        if proc is None:
            continue
        try:
            proc.resume()
            resumed += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied) as exc:
            log.warning("could not resume pid %d: %s", ref.pid, exc.__class__.__name__)
    record.discard(refs)
    if resumed:
        log.info("resumed %d process(es) left suspended", resumed)
    return resumed

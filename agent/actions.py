"""Suspend, resume and stop a remote tool's process tree, and never leave it frozen.

While a warning is on screen the remote tool is suspended, so the caller cannot
click anything for the person. Suspension is an OS-level state that outlives the
agent: if the agent crashed with a tool suspended, the person's (possibly
legitimate) program would stay frozen forever. So every suspended process is
written to ``<state_dir>/suspended.json`` *before* it is suspended, removed after
it is resumed, and ``recover_suspended`` resumes whatever is left over (the
runtime calls it at start and at clean stop).

Each record carries the process's create time: a PID reused by an unrelated
process after a reboot or a long pause is never touched.

Stopping is only ever done on the person's click (the dialog calls ``stop``);
nothing here decides to kill on its own. psutil's suspend / resume / terminate
/ kill work on Windows (NtSuspendProcess, TerminateProcess), macOS and Linux
(SIGSTOP / SIGCONT / SIGTERM / SIGKILL), so this module has no OS branches.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from agent.errors import ActionError

log = logging.getLogger(__name__)

RECORD_NAME = "suspended.json"
RECORD_VERSION = 1
# psutil derives create_time from boot time + start ticks; a process keeps the
# same value for its life. A tiny tolerance absorbs float formatting only.
_CREATE_TIME_TOLERANCE = 0.01
# Children can be spawned between listing a tree and suspending it; a few
# rounds reach a fixed point (a tool does not fork faster than we suspend).
_MAX_SUSPEND_ROUNDS = 5


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


@dataclass(frozen=True)
class StopResult:
    """What happened when the person clicked Stop."""

    stopped: tuple[int, ...]  # PIDs that are gone now
    survivors: tuple[int, ...]  # PIDs still running even after a kill (e.g. access denied)

    @property
    def ok(self) -> bool:
        """True when the whole tree is gone."""
        return not self.survivors


def _protected_pids() -> set[int]:
    """The agent itself and its ancestors: never suspended or stopped.

    A mis-attributed PID (say, the terminal the agent was started from) must
    not freeze the warning itself.
    """
    pids = {0, 1, os.getpid()}
    with contextlib.suppress(psutil.Error):
        pids.update(p.pid for p in psutil.Process().parents())
    return pids


def process_tree(pids: Iterable[int]) -> list[psutil.Process]:
    """The given processes and all their descendants that still exist, parents first."""
    protected = _protected_pids()
    seen: dict[int, psutil.Process] = {}
    for pid in pids:
        if pid in protected or pid in seen:
            continue
        try:
            root = psutil.Process(pid)
            seen[pid] = root
            for child in root.children(recursive=True):
                if child.pid not in protected:
                    seen.setdefault(child.pid, child)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # gone already: normal flow
        except psutil.AccessDenied:
            # Listing children can be denied (another user's service); the root
            # itself may still be suspendable.
            continue
    return list(seen.values())


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


class Suspension:
    """A tool's process tree held suspended by the agent; resume or stop it exactly once."""

    def __init__(self, record: SuspendRecord, roots: tuple[int, ...]) -> None:
        self._record = record
        self.roots = roots
        self.refs: list[ProcessRef] = []
        self._lock = threading.Lock()
        self.active = False

    def suspend(self) -> int:
        """Suspend the roots and every descendant (also ones added later); returns how many."""
        with self._lock:
            self.active = True
            done = {r.pid for r in self.refs}
            count = 0
            for _ in range(_MAX_SUSPEND_ROUNDS):
                fresh = [p for p in process_tree(self.roots) if p.pid not in done]
                if not fresh:
                    break
                refs: list[tuple[psutil.Process, ProcessRef]] = []
                for proc in fresh:
                    done.add(proc.pid)
                    try:
                        refs.append((proc, ProcessRef.of(proc)))
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        continue
                # Record first: a crash right after SIGSTOP must still be recoverable.
                # Without a record we do not suspend at all: better a running tool
                # than one that might stay frozen for good.
                try:
                    self._record.add(ref for _, ref in refs)
                except OSError as exc:
                    raise ActionError(
                        "cannot record suspended processes in the state directory "
                        f"({exc.strerror or exc.__class__.__name__}); the tool was not suspended"
                    ) from exc
                for proc, ref in refs:
                    try:
                        proc.suspend()
                    except (psutil.NoSuchProcess, psutil.AccessDenied) as exc:
                        log.info("could not suspend pid %d: %s", ref.pid, exc.__class__.__name__)
                        self._record.discard([ref])
                        continue
                    self.refs.append(ref)
                    count += 1
            return count

    def add_roots(self, pids: Iterable[int]) -> int:
        """Take more processes of the same tool in (a later verdict); suspends them if active."""
        with self._lock:
            self.roots = tuple(dict.fromkeys((*self.roots, *pids)))
        return self.suspend() if self.active else 0

    def resume(self) -> int:
        """Resume every process this suspension froze; returns how many were resumed."""
        with self._lock:
            resumed = 0
            for ref in self.refs:
                proc = ref.live()
                if proc is None:
                    continue
                try:
                    proc.resume()
                    resumed += 1
                except (psutil.NoSuchProcess, psutil.AccessDenied) as exc:
                    log.info("could not resume pid %d: %s", ref.pid, exc.__class__.__name__)
            self._record.discard(self.refs)
            self.refs = []
            self.active = False
            return resumed

    def stop(self, timeout: float = 3.0) -> StopResult:
        """End the whole tree: terminate, wait, kill what is left, and check it is gone."""
        with self._lock:
            procs = {p.pid: p for p in process_tree(self.roots)}
            for ref in self.refs:
                live = ref.live()
                if live is not None:
                    procs.setdefault(live.pid, live)
            result = terminate_tree(list(procs.values()), timeout=timeout)
            self._record.discard(self.refs)
            self.refs = []
            self.active = False
            return result


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited (a zombie counts: it runs no code); returns the rest.

    Not ``psutil.wait_procs``: it waits the full timeout for a zombie whose
    parent is not us, and a tool's orphaned children often are such zombies.
    """
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if not _gone(p)]
    return alive


def terminate_tree(procs: list[psutil.Process], timeout: float = 3.0) -> StopResult:
    """Terminate processes (politely, then by force) and report which are gone."""
    if not procs:
        return StopResult((), ())
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.terminate()
    # A stopped process only acts on SIGTERM once continued (POSIX); on Windows
    # TerminateProcess works on a suspended process and resume is harmless.
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.resume()
    alive = _wait_gone(procs, timeout)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.kill()
    if alive:
        alive = _wait_gone(alive, timeout)
    survivors = tuple(sorted(p.pid for p in alive))
    stopped = tuple(sorted(p.pid for p in procs if p.pid not in survivors))
    if survivors:
        log.warning("%d process(es) of the tool survived stop", len(survivors))
    return StopResult(stopped, survivors)


class ToolActions:
    """Entry point for the dialogs: suspend a verdict's tool, resume it, or stop it."""

    def __init__(self, state_dir: Path) -> None:
        self.record = SuspendRecord(state_dir)

    def suspend(self, pids: Iterable[int]) -> Suspension:
        """Suspend the tree under ``pids`` and return the handle to resume or stop it."""
        suspension = Suspension(self.record, tuple(dict.fromkeys(pids)))
        suspension.suspend()
        return suspension

    def hold(self, pids: Iterable[int]) -> Suspension:
        """A handle over ``pids`` that does not suspend (config: suspend_tool = false)."""
        return Suspension(self.record, tuple(dict.fromkeys(pids)))


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


__all__ = [
    "ProcessRef",
    "StopResult",
    "SuspendRecord",
    "Suspension",
    "ToolActions",
    "process_tree",
    "recover_suspended",
    "terminate_tree",
]

"""Suspend, resume and stop a remote tool's process tree, and never leave it frozen.

While a warning is on screen the remote tool is suspended, so the caller cannot
click anything for the person. Suspension is an OS-level state that outlives the
agent: if the agent crashed with a tool suspended, the person's (possibly
legitimate) program would stay frozen forever. So every process is recorded in
``<state_dir>/suspended.json`` *before* it is suspended and forgotten after it
is resumed or stopped; ``recover_suspended`` (in ``agent/control/suspended.py``)
resumes whatever is left over at the next start.

Stopping is only ever done on the person's click (the dialog calls ``stop``);
nothing here decides to kill on its own. psutil's suspend / resume / terminate
/ kill work on Windows (NtSuspendProcess, TerminateProcess), macOS and Linux
(SIGSTOP / SIGCONT / SIGTERM / SIGKILL), so this module has no OS branches.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from agent.config import AgentConfig
from agent.control.suspended import ProcessRef, SuspendRecord
from agent.control.tool_processes import FindTool, ToolFinder
from agent.errors import ActionError

log = logging.getLogger(__name__)

# Children can be spawned between listing a tree and suspending it; a few
# rounds reach a fixed point (a tool does not fork faster than we suspend).
_MAX_SUSPEND_ROUNDS = 5


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


class Suspension:
    """A tool's process tree held suspended by the agent; resume or stop it exactly once.

    The tree is the one *as it is now* each time it is acted on: the roots
    (the verdict's pids) and their descendants that are still the processes
    first seen, every descendant seen earlier that outlived its parent (a
    wrapper's server, reparented when the wrapper exits), and, with a
    ``finder``, every process of the same tool running now
    (``agent.control.tool_processes``).
    """

    def __init__(
        self,
        record: SuspendRecord,
        roots: tuple[int, ...],
        *,
        tool_id: str = "",
        finder: FindTool | None = None,
    ) -> None:
        self._record = record
        self.roots = roots
        self.tool_id = tool_id
        self._finder = finder
        self.refs: list[ProcessRef] = []
        self._lock = threading.Lock()
        self.active = False
        # The roots' identities as first seen: a warning may stay open for
        # minutes (longer when the tool is not suspended), and a PID the tool
        # gave up may by then belong to an unrelated program that Stop must
        # not touch.
        self._root_refs: dict[int, ProcessRef] = {}
        self._remember(roots)

    def _remember(self, pids: Iterable[int]) -> None:
        """Take these processes, and their descendants now, as the tool's (by identity)."""
        pids = list(dict.fromkeys(pids))
        fresh = [p for p in pids if p not in self._root_refs]
        # A known PID counts only while it is still the process first seen under it.
        known = [p for p in pids if p in self._root_refs and self._root_refs[p].live() is not None]
        for proc in process_tree([*fresh, *known]):
            if proc.pid in self._root_refs:
                continue
            try:
                self._root_refs[proc.pid] = ProcessRef.of(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue  # gone already (or not ours to touch): never a root

    def _live_roots(self) -> list[int]:
        """The tool's processes now: those first seen that still run, and the tool's new ones."""
        self._remember(list(self._root_refs))  # children started since (before a wrapper exits)
        if self._finder is not None and self.tool_id:
            times = [ref.create_time for ref in self._root_refs.values()]
            try:
                self._remember(self._finder(self.tool_id, min(times) if times else None))
            except psutil.Error as exc:  # a listing that failed half-way: act on what is known
                log.info("could not list the tool's processes: %s", exc.__class__.__name__)
        return [pid for pid, ref in self._root_refs.items() if ref.live() is not None]

    def suspend(self) -> int:
        """Suspend the roots and every descendant (also ones added later); returns how many."""
        with self._lock:
            self.active = True
            done = {r.pid for r in self.refs}
            count = 0
            for _ in range(_MAX_SUSPEND_ROUNDS):
                fresh = [p for p in process_tree(self._live_roots()) if p.pid not in done]
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
            self._remember(self.roots)
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
            procs = {p.pid: p for p in process_tree(self._live_roots())}
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

    def __init__(self, state_dir: Path, *, finder: FindTool | None = None) -> None:
        self.record = SuspendRecord(state_dir)
        self.finder = finder

    @classmethod
    def for_config(cls, config: AgentConfig) -> ToolActions:
        """The actions a warning backend uses: the tool found by the configured catalogue."""
        finder = ToolFinder(extra_catalogues=config.signatures.extra_catalogues)
        return cls(config.state_dir, finder=finder)

    def suspend(self, pids: Iterable[int], *, tool_id: str = "") -> Suspension:
        """Suspend the tool's tree (``pids`` and the tool's processes now); returns the handle."""
        suspension = self.hold(pids, tool_id=tool_id)
        suspension.suspend()
        return suspension

    def hold(self, pids: Iterable[int], *, tool_id: str = "") -> Suspension:
        """A handle over the tool's tree that does not suspend (config: suspend_tool = false)."""
        return Suspension(
            self.record, tuple(dict.fromkeys(pids)), tool_id=tool_id, finder=self.finder
        )


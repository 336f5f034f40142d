"""Which processes exist: the incremental listing behind the process sensor.

``ProcessTracker`` turns listings (poll mode) or kernel exec/exit events
(event mode) into ``ProcessStarted`` for new processes and ``ProcessEnded``
for the ones it reported. It has no thread and no timer of its own, so the
sensor, the tests and the benchmark drive it directly.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import psutil

from agent.events import Event, ProcessEnded
from agent.sensors.processes.connector_linux import ProcEvent
from agent.sensors.processes.facts import Describer, process_name, read_snapshot

_LINUX = sys.platform.startswith("linux")
_KTHREADD = 2  # parent of every Linux kernel thread
_PROCFS = psutil.PROCFS_PATH.encode() if _LINUX else b"/proc"
_LOADAVG = _PROCFS + b"/loadavg"
# A full listing at least this often, whatever /proc/loadavg says (see ProcessTracker).
FULL_LISTING_SECONDS = 5.0


def _proc_listing() -> list[bytes]:
    """The raw /proc directory listing (Linux): pid entries plus a few fixed names."""
    return os.listdir(_PROCFS)


def _pids_of(listing: list[bytes]) -> list[int]:
    return [int(x) for x in listing if x.isdigit()]


def creation_marker() -> bytes | None:
    """The marker "<processes> <last pid>" from /proc; None if unreadable (then always list).

    The link count of /proc is the number of processes (threads not counted);
    the last field of /proc/loadavg is the last pid handed out in this pid
    namespace (threads take pids too, so thread churn also moves it).
    """
    try:
        processes = os.stat(_PROCFS).st_nlink
        with open(_LOADAVG, "rb", buffering=0) as fh:
            fields = fh.read(256).split()
    except OSError:
        return None
    if len(fields) < 5:
        return None
    return b"%d %s" % (processes, fields[4])


class PidWatch:
    """The set of running process ids, and what came and went since the last look.

    Looking is the hot path (4 times a second, forever). On Linux it first
    reads a marker (``creation_marker``): the number of processes and the
    last pid handed out. Creating a process changes the last pid, reaping one
    lowers the count, so while both stay the same nothing can have come or
    gone and the look ends there (a stat and a 50-byte read instead of a
    directory of hundreds of entries; thread churn elsewhere moves the last
    pid, which only costs a listing). Otherwise it compares the raw /proc
    listing with the previous one -- a list comparison in C -- and parses
    process ids only when something changed. In a container the process count
    is the host's, so an exit there can be masked by a creation in another
    namespace; a full listing therefore still runs every
    ``FULL_LISTING_SECONDS``. Elsewhere ``psutil.pids()`` is the listing.
    """

    def __init__(
        self,
        *,
        pids: Callable[[], list[int]] | None = None,
        marker: Callable[[], bytes | None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._list: Callable[[], list[Any]]
        self._parse: Callable[[list[Any]], list[int]]
        self._marker_of: Callable[[], bytes | None] | None = None
        if pids is not None:  # a given pid source (tests, other OSes)
            self._list, self._parse = pids, list
        elif _LINUX and os.path.isdir(_PROCFS):
            self._list, self._parse = _proc_listing, _pids_of
            self._marker_of = marker or creation_marker
        else:
            self._list, self._parse = psutil.pids, list
        self._marker: bytes | None = None
        self._next_full = 0.0
        self._listing: list[Any] = []
        self.known: set[int] = set()
        self.listings = 0  # full listings taken (for tests and the benchmark)

    def baseline(self) -> int:
        """Take the running processes as known; returns their count."""
        self.changes(force=True)
        return len(self.known)

    def changes(self, *, force: bool = False) -> tuple[set[int], set[int]]:
        """(new, gone) process ids since the last look; ``force`` lists even if nothing moved."""
        marker = self._marker_of() if self._marker_of else None
        now = self._monotonic()
        if not force and marker is not None and marker == self._marker and now < self._next_full:
            return set(), set()  # no process created or reaped since the last listing
        self._marker = marker
        self._next_full = now + FULL_LISTING_SECONDS
        self.listings += 1
        listing = self._list()
        if listing == self._listing:
            return set(), set()  # the usual tick: not one process came or went
        self._listing = listing
        current = set(self._parse(listing))
        new, gone = current - self.known, self.known - current
        self.known = current
        return new, gone


class ProcessTracker:
    """Turns new processes into ProcessStarted and reported ones' exits into ProcessEnded.

    No threads and no timing of its own: the sensor feeds it looks at the
    process list (poll, via ``PidWatch``) or kernel events, so tests and the
    benchmark can drive it directly.
    """

    def __init__(
        self,
        describer: Describer,
        clock: Callable[[], float],
        *,
        pids: Callable[[], list[int]] | None = None,
        marker: Callable[[], bytes | None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._describer = describer
        self._clock = clock
        self.watch = PidWatch(pids=pids, marker=marker, monotonic=monotonic)
        self._reported: set[int] = set()
        # Names of live processes we read (reported ones and looked-up parents).
        self._names: dict[int, str] = {}

    @property
    def listings(self) -> int:
        """Full process listings taken so far."""
        return self.watch.listings

    def baseline(self) -> int:
        """Take the running processes as known without reporting them; returns their count."""
        return self.watch.baseline()

    def poll(self, *, force: bool = False) -> list[Event]:
        """Report what came and went since the last look (``force``: list even if nothing moved)."""
        new, gone = self.watch.changes(force=force)
        events: list[Event] = []
        for pid in gone:
            events.extend(self._ended(pid))
        for pid in sorted(new):  # parents (usually lower ids) first
            events.extend(self._started(pid))
        return events

    def on_event(self, event: ProcEvent) -> list[Event]:
        """Apply one kernel process event (exec or exit).

        Forks are not followed: a child runs its parent's program until it
        execs. Such a child stays unknown, so should the event source fail or
        drop events, the resynchronising listing inspects it like polling would.
        """
        if event.kind == "exit":
            self.watch.known.discard(event.pid)
            return self._ended(event.pid)
        # exec: a new program in this process (also a known one: `exec foo`).
        self.watch.known.add(event.pid)
        return [*self._ended(event.pid), *self._started(event.pid)]

    def _ended(self, pid: int) -> list[Event]:
        name = self._names.pop(pid, "")
        if pid in self._reported:
            self._reported.discard(pid)
            return [ProcessEnded(at=self._clock(), pid=pid, name=name)]
        return []

    def _started(self, pid: int) -> list[Event]:
        snap = read_snapshot(pid)
        if snap is None:
            return []  # already gone: normal for short-lived processes
        if _LINUX and _KTHREADD in (snap.pid, snap.ppid):
            return []
        parent = self._names.get(snap.ppid)
        if parent is None:
            parent = process_name(snap.ppid) if snap.ppid > 0 else ""
            if parent:
                self._names[snap.ppid] = parent
        event = self._describer.describe(snap, parent_name=parent, at=self._clock())
        self._names[pid] = snap.name
        self._reported.add(pid)
        return [event]

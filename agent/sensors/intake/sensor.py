"""Intake sensor: turns JSON files dropped into ``<state_dir>/inbox/`` into context events.

watchdog tells us when a file lands; one worker thread reads, parses
(``agent.sensors.intake.documents``), emits and deletes each file. Files already waiting at
start are processed first, in name order (``signal`` names start with the
UTC time). A rescan every ``RESCAN_SECONDS`` catches anything watchdog
missed (an inotify queue overflow, a network drive).

A malformed file is moved to ``inbox/rejected/`` under a generated name and
logged with the reason only: the original file name and its content could
carry personal data (a phone number), and log lines may reach a support desk.
A file that is not yet valid JSON but was modified a moment ago is retried
briefly first, for writers that do not rename into place.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from agent.errors import IntakeError
from agent.sensors.base import Clock, Emit, FailureSink, Sensor, SensorContext, SensorThread
from agent.sensors.intake import documents as intake

log = logging.getLogger(__name__)

RESCAN_SECONDS = 5.0
# A file modified this recently that does not parse may still be being written.
FRESH_SECONDS = 1.0
RETRY_SECONDS = 0.2


def _wanted(path: Path) -> bool:
    return path.suffix == ".json" and not path.name.startswith(".")


class _Handler(FileSystemEventHandler):
    def __init__(self, inbox: Path, paths: queue.Queue[Path | None]) -> None:
        self._inbox = inbox
        self._paths = paths

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in ("created", "moved", "closed"):
            return
        raw = event.dest_path if event.event_type == "moved" else event.src_path
        path = Path(raw.decode() if isinstance(raw, bytes) else raw)
        # Only files directly in the inbox: a move into rejected/ is not new work.
        if path.parent == self._inbox and _wanted(path):
            self._paths.put(path)


class IntakeSensor:
    """Watches the inbox; every good file becomes one event, every bad one is set aside."""

    name = "intake"

    def __init__(self, state_dir: Path, clock: Clock, failed: FailureSink | None = None) -> None:
        self._failed: FailureSink = failed or (lambda _name, _kind: None)
        self.inbox = intake.inbox_dir(state_dir)
        self.rejected_dir = self.inbox / intake.REJECTED
        self._clock = clock
        self._paths: queue.Queue[Path | None] = queue.Queue()
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._retry: list[tuple[float, Path]] = []  # (monotonic due time, path)
        self.processed = 0
        self.rejected = 0

    def start(self, emit: Emit) -> None:
        """Create the inbox, start watching it, then queue what is already waiting."""
        self.rejected_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._observer = Observer()
        self._observer.name = "ratwatch-intake-observer"
        self._observer.schedule(_Handler(self.inbox, self._paths), str(self.inbox), recursive=False)
        self._observer.daemon = True
        self._observer.start()
        self._thread = SensorThread(
            self.name,
            "reading the inbox",
            lambda: self._run(emit),
            stopped=self._stop.is_set,
            wait=self._stop.wait,
            period=1.0,
            failed=self._failed,
        )
        self._thread.start()
        self._rescan()

    def stop(self) -> None:
        """Stop watching and join both threads."""
        self._stop.set()
        self._paths.put(None)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _rescan(self) -> None:
        try:
            names = sorted(p for p in self.inbox.iterdir() if _wanted(p) and p.is_file())
        except OSError as exc:
            log.warning("intake: cannot list the inbox (%s)", exc.strerror)
            return
        for path in names:
            self._paths.put(path)

    def _run(self, emit: Emit) -> None:
        next_rescan = time.monotonic() + RESCAN_SECONDS
        while not self._stop.is_set():
            due = min([next_rescan, *(t for t, _ in self._retry)])
            try:
                path = self._paths.get(timeout=max(0.0, due - time.monotonic()))
            except queue.Empty:
                path = None
            if self._stop.is_set():
                break
            now = time.monotonic()
            if now >= next_rescan:
                self._rescan()
                next_rescan = now + RESCAN_SECONDS
            ready = [p for t, p in self._retry if t <= now]
            self._retry = [(t, p) for t, p in self._retry if t > now]
            for retry in ready:
                self._process(retry, emit)
            if path is not None:
                self._process(path, emit)

    def _process(self, path: Path, emit: Emit) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return  # already processed (the watch event and a rescan both queued it)
        except OSError as exc:
            log.warning("intake: cannot read an inbox file (%s); will retry", exc.strerror)
            return
        try:
            event = intake.parse(data, now=self._clock())
        except IntakeError as exc:
            if self._still_being_written(path):
                self._retry.append((time.monotonic() + RETRY_SECONDS, path))
                return
            self._reject(path, str(exc))
            return
        # Emit first, then delete: a crash in between repeats a fact (harmless:
        # the correlator de-duplicates), while the other order could lose one.
        emit(event)
        self.processed += 1
        path.unlink(missing_ok=True)
        log.info("intake: %s event accepted", type(event).__name__)

    @staticmethod
    def _still_being_written(path: Path) -> bool:
        try:
            return time.time() - path.stat().st_mtime < FRESH_SECONDS
        except OSError:
            return False

    def _reject(self, path: Path, reason: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.rejected_dir / f"{stamp}-{uuid.uuid4().hex[:8]}.json"
        try:
            path.replace(target)
        except OSError as exc:
            log.error("intake: cannot move a malformed file aside (%s); deleting it", exc.strerror)
            path.unlink(missing_ok=True)
            return
        self.rejected += 1
        log.warning(
            "intake: rejected a malformed file, kept as rejected/%s: %s", target.name, reason
        )


def create(ctx: SensorContext) -> Sensor:
    """The registry's factory."""
    return IntakeSensor(ctx.state_dir, ctx.clock, ctx.failed)

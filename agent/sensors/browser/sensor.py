"""Browser sensor: scareware, banking, payment and gift-card pages from the history databases.

Watches each history database's folder with watchdog (no polling while the
person is not browsing), and on a change reads only the visits added since
the last read (``agent.sensors.browser.history`` copies the file first: the browser's own
file is never locked or written). Each new visit's title and URL are
matched against the catalogue's page patterns (``agent.identify.pages``).

Only the pattern id leaves this module in anything but the event itself;
the title and URL ride in the event for the local journal and never appear
in a log line (log lines may be sent to a support desk).

Details a real browser forces on us:
- the title arrives after the visit (the page has to load first) and may
  change again ("Loading..." first, the scary title a second later; Firefox
  writes each change to ``moz_places.title``), so every visit that did not
  match is re-checked for a while when the file changes, and matched again
  whenever its title changed;
- a locked, half-written or corrupt copy is retried with a growing delay;
- browsers appear and profiles are created after the agent started, so the
  default locations are looked up again every minute; a configured path
  that is missing or not a file is one warning (naming the config key and
  entry, the path only with the home folder as ``~``), and is watched once
  it appears.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from agent.errors import HistoryUnreadable
from agent.events import PageKind, ScarewarePage, SensitivePage
from agent.identify.pages import match_page
from agent.platform import current_os
from agent.redact import redact_home
from agent.sensors.base import Emit, Sensor, SensorContext, SensorThread
from agent.sensors.browser.history import Visit, read_history
from agent.sensors.browser.profiles import HistoryFile, default_history_files

log = logging.getLogger(__name__)

SETTLE_SECONDS = 0.2  # let a burst of writes (db, wal, journal) finish before copying
RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
RESCAN_SECONDS = 60.0
TITLE_WAIT_SECONDS = 180.0  # how long an unmatched visit's title is watched for a change
MAX_WATCHED_TITLES = 500  # per database: heavy browsing must not grow the re-check list
REPEAT_SECONDS = 60.0  # the same page pattern for the same URL is reported once a minute


@dataclass
class _Database:
    """What the sensor remembers about one history file."""

    browser: str
    path: Path
    last_visit_id: int | None = None
    due: float | None = None  # monotonic time of the next read; None = wait for a change
    failures: int = 0
    # Unmatched recent pages by page key: the visit as matched, and until when
    # its title is watched (pages set their title after load, some twice).
    waiting_titles: dict[int, tuple[Visit, float]] = field(default_factory=dict)


# watchdog event types that mean the file's content may have changed ("closed"
# is a close after writing; "opened" / "closed_no_write" are readers, us included).
_WRITES = frozenset({"modified", "created", "moved", "deleted", "closed"})


class _Handler(FileSystemEventHandler):
    """Marks a database dirty when it, its WAL or its journal changes."""

    def __init__(self, on_change: Callable[[str], None]) -> None:
        self._on_change = on_change

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _WRITES:
            return  # our own copying opens and closes the files: not a change
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                self._on_change(os.fsdecode(raw))


class BrowserSensor:
    """Emits ScarewarePage / SensitivePage for new visits in browser history databases."""

    name = "browser"

    def __init__(
        self,
        ctx: SensorContext,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        defaults: Callable[[], list[HistoryFile]] | None = None,
    ) -> None:
        self._ctx = ctx
        self._monotonic = monotonic
        section = ctx.config.browser
        self._configured = [
            (n, HistoryFile("", Path(p).expanduser().absolute()))
            for n, p in enumerate(section.history_paths, start=1)
            if p
        ]
        self._not_files: set[int] = set()  # configured entries already warned about
        if defaults is None and section.default_profiles:
            defaults = _default_profiles
        self._defaults = defaults
        self._dbs: dict[str, _Database] = {}  # by the watched file's path
        self._watched_dirs: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._observer: BaseObserver | None = None
        self._scratch: Path | None = None
        self._emit: Emit | None = None
        self._recent: dict[tuple[str, str], float] = {}
        self._next_rescan = 0.0

    # --- lifecycle -----------------------------------------------------------
    def start(self, emit: Emit) -> None:
        """Find the databases, watch their folders and start the reader thread."""
        self._emit = emit
        self._scratch = Path(tempfile.mkdtemp(prefix="ratwatch-history-"))
        self._observer = Observer()
        self._observer.name = "ratwatch-browser-observer"
        self._observer.daemon = True
        self._rescan()
        self._observer.start()
        self._thread = SensorThread(
            self.name,
            "reading browser history",
            self._run,
            stopped=lambda: self._stopping,
            wait=self._wait_unless_stopping,
            period=1.0,
            failed=self._ctx.failed,
        )
        self._thread.start()
        log.info("browser sensor watching %d history database(s)", len(self._dbs))

    def stop(self) -> None:
        """Stop watching and join every thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    # --- discovery and change notification -----------------------------------
    def _rescan(self) -> None:
        files = self._configured_files()
        if self._defaults is not None:
            files.extend(self._defaults())
        now = self._monotonic()
        with self._cond:
            for hf in files:
                key = str(hf.path)
                if key in self._dbs:
                    continue
                # Read every new database once at once: it may already hold the pop-up.
                self._dbs[key] = _Database(hf.browser, hf.path, due=now)
                self._cond.notify_all()
        for parent in {str(Path(k).parent) for k in list(self._dbs)}:
            if parent in self._watched_dirs or not os.path.isdir(parent):
                continue
            assert self._observer is not None
            try:
                self._observer.schedule(_Handler(self._changed), parent, recursive=False)
            except OSError as exc:
                # Out of inotify watches, or the folder vanished: the periodic
                # rescan tries again, and reads still happen on the retry timer.
                log.warning("cannot watch a browser profile folder: %s", type(exc).__name__)
                continue
            self._watched_dirs.add(parent)
        self._next_rescan = now + RESCAN_SECONDS

    def _configured_files(self) -> list[HistoryFile]:
        """The configured history files that exist; one warning for each that does not."""
        found = []
        for n, hf in self._configured:
            if str(hf.path) in self._dbs:
                found.append(hf)
                continue
            problem = _not_a_file(hf.path)
            if problem is None:
                if n in self._not_files:
                    self._not_files.discard(n)
                    log.info("[browser].history_paths entry %d now exists; watching it", n)
                found.append(hf)
            elif n not in self._not_files:
                self._not_files.add(n)
                log.warning(
                    "[browser].history_paths entry %d (%s) %s: not watched until it is a file",
                    n,
                    _shown(hf.path),
                    problem,
                )
        return found

    def _changed(self, path: str) -> None:
        for suffix in ("-wal", "-journal"):
            if path.endswith(suffix):
                path = path[: -len(suffix)]
                break
        with self._cond:
            db = self._dbs.get(path)
            if db is None:
                return
            due = self._monotonic() + SETTLE_SECONDS
            if db.due is None or db.due > due:
                db.due = due
            self._cond.notify_all()

    # --- the reader thread ---------------------------------------------------
    def _wait_unless_stopping(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, timeout=seconds)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = self._monotonic()
                ready = [db for db in self._dbs.values() if db.due is not None and db.due <= now]
                rescan_due = now >= self._next_rescan
                if not ready and not rescan_due:
                    # Sleep until the earliest timer. Waking with nothing ready
                    # must never come back here with a zero timeout: a due
                    # rescan is handled below, not waited for.
                    dues = [d.due for d in self._dbs.values() if d.due is not None]
                    wake = min([self._next_rescan, *dues])
                    self._cond.wait(timeout=max(0.0, wake - now))
                    continue
                for db in ready:
                    db.due = None
            for db in ready:
                self._read(db)
            if rescan_due or self._monotonic() >= self._next_rescan:
                self._rescan()

    def _read(self, db: _Database) -> None:
        assert self._scratch is not None
        now = self._ctx.clock()
        window = self._ctx.catalogue().rules.scareware_window_minutes * 60.0
        try:
            batch = read_history(
                db.path,
                self._scratch,
                after_id=db.last_visit_id,
                not_before=now - window,
                recheck=tuple(db.waiting_titles),
            )
        except HistoryUnreadable as exc:
            db.failures += 1
            delay = min(RETRY_MAX_SECONDS, RETRY_MIN_SECONDS * 2 ** (db.failures - 1))
            with self._cond:
                retry = self._monotonic() + delay
                db.due = retry if db.due is None else min(db.due, retry)
            log.debug(
                "%s history not readable now (%s); retry in %.1fs",
                db.browser or "configured",
                exc,
                delay,
            )
            return
        db.failures = 0
        if batch.reset and db.last_visit_id is not None:
            db.waiting_titles.clear()
        db.last_visit_id = batch.last_visit_id
        source = db.browser or batch.flavour.value
        for key, title in batch.titles.items():
            waiting = db.waiting_titles.get(key)
            if waiting is None or not title or title == waiting[0].title:
                continue
            visit = Visit(waiting[0].visit_id, waiting[0].at, waiting[0].url, title, key)
            if self._check(source, visit, now):
                del db.waiting_titles[key]
            else:
                db.waiting_titles[key] = (visit, waiting[1])
        for visit in batch.visits:
            if visit.at < now - window:
                continue  # synced from elsewhere or imported: not happening now
            if self._check(source, visit, now):
                db.waiting_titles.pop(visit.page_key, None)
            else:
                db.waiting_titles[visit.page_key] = (visit, self._monotonic() + TITLE_WAIT_SECONDS)
        mono = self._monotonic()
        for key in [k for k, (_, until) in db.waiting_titles.items() if until < mono]:
            del db.waiting_titles[key]
        while len(db.waiting_titles) > MAX_WATCHED_TITLES:
            del db.waiting_titles[next(iter(db.waiting_titles))]  # the oldest first

    def _check(self, source: str, visit: Visit, now: float) -> bool:
        """Match one visit and emit its event; True when it matched."""
        pattern = match_page(self._ctx.catalogue(), title=visit.title, url=visit.url)
        if pattern is None:
            return False
        mono = self._monotonic()
        seen = self._recent.get((pattern.pattern_id, visit.url))
        if seen is not None and mono - seen < REPEAT_SECONDS:
            return True
        self._recent = {k: t for k, t in self._recent.items() if mono - t < REPEAT_SECONDS}
        self._recent[(pattern.pattern_id, visit.url)] = mono
        assert self._emit is not None
        if pattern.kind == "scareware":
            self._emit(
                ScarewarePage(
                    at=now,
                    pattern_id=pattern.pattern_id,
                    source=source,
                    title=visit.title,
                    url=visit.url,
                )
            )
        else:
            self._emit(
                SensitivePage(
                    at=now,
                    pattern_id=pattern.pattern_id,
                    kind=PageKind(pattern.kind),
                    source=source,
                    title=visit.title,
                    url=visit.url,
                )
            )
        log.info("%s page seen in %s: pattern %s", pattern.kind, source, pattern.pattern_id)
        return True


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be a history database ("is a folder", ...), None if it can."""
    try:
        if path.is_file():
            return None
        if path.is_dir():
            return "is a folder, not a history file"
        if not path.exists():
            return "does not exist"
    except OSError as exc:
        return f"cannot be looked at ({type(exc).__name__})"
    return "is not a regular file"


def _shown(path: Path) -> str:
    """A path as a log line may show it: below the home folder as ``~/...``, else not at all.

    Log lines may reach a support desk; a path outside the home folder can
    still name the person (``/srv/profiles/alice``), so only its kind is said.
    """
    redacted = redact_home(str(path))
    return redacted if redacted.startswith("~") else "a path outside the home folder"


def _default_profiles() -> list[HistoryFile]:
    return default_history_files(current_os(), home=Path.home(), env=os.environ)


def create(ctx: SensorContext) -> Sensor:
    """Registry factory (see agent.sensors.SENSORS)."""
    return BrowserSensor(ctx)

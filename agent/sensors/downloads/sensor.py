"""Downloads sensor: a remote-access installer or portable EXE lands in Downloads or on the Desktop.

Watches the folders with watchdog (no polling). Browsers write a download
under a temporary name (``.crdownload`` Chrome/Edge/Brave, ``.part``
Firefox, ``.download`` Safari, ``.tmp`` others) and rename it when done, so
partial names are ignored and the final name (a moved event) is what
counts. A file written in place is looked at once it has stopped growing.

A file is a remote tool when its name matches the catalogue's installer
patterns, or, for a PE executable under any name, when its version
resource or signer does (``agent.identify.pe.read_pe_info``). Where the OS recorded
the download's origin, the host goes into the event with whether it is
the vendor's own; both stay on the PC (never in a log line).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import platformdirs
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from agent.events import InstallerDownloaded, PeInfo
from agent.identify.tools import match_installer
from agent.platform import current_os
from agent.sensors.base import Emit, Sensor, SensorContext, SensorThread
from agent.sensors.downloads.origin import OriginReader, from_vendor, origin_host, reader_for

log = logging.getLogger(__name__)

# Names browsers and download managers give a file while it is still arriving.
PARTIAL_SUFFIXES: tuple[str, ...] = (
    ".crdownload",
    ".part",
    ".partial",
    ".download",
    ".tmp",
    ".opdownload",
    ".!ut",
)
SETTLE_SECONDS = 0.5  # a file must be unchanged this long before it is examined
REPORT_ONCE_SECONDS = 600.0  # the same file is reported once per ten minutes

PeReader = Callable[[str], "PeInfo | None"]


def is_partial(name: str) -> bool:
    """Whether ``name`` is a download still in progress (or a hidden temp file)."""
    lower = name.lower()
    return lower.startswith((".", "~$", "unconfirmed ")) or lower.endswith(PARTIAL_SUFFIXES)


def default_watch_dirs() -> list[Path]:
    """The user's Downloads and Desktop folders (platformdirs knows each OS's place)."""
    return [Path(platformdirs.user_downloads_dir()), Path(platformdirs.user_desktop_dir())]


def _read_pe(path: str) -> PeInfo | None:
    from agent.identify.pe import read_pe_info  # pefile is heavy: only when a PE file needs it

    return read_pe_info(path)


class _Handler(FileSystemEventHandler):
    def __init__(self, on_file: Callable[[str], None]) -> None:
        self._on_file = on_file

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
            return
        target = getattr(event, "dest_path", "") or event.src_path
        if target:
            self._on_file(os.fsdecode(target))


class DownloadsSensor:
    """Emits InstallerDownloaded when a remote tool's installer appears in a watched folder."""

    name = "downloads"

    def __init__(
        self,
        ctx: SensorContext,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        pe_reader: PeReader = _read_pe,
        origin_reader: OriginReader | None = None,
    ) -> None:
        self._ctx = ctx
        self._monotonic = monotonic
        self._pe_reader = pe_reader
        self._origin_reader = origin_reader or reader_for(current_os())
        configured = ctx.config.downloads.watch_dirs
        dirs = [Path(d).expanduser() for d in configured] if configured else default_watch_dirs()
        self._dirs = [d.absolute() for d in dirs]
        self._pending: dict[str, tuple[float, tuple[int, int] | None]] = {}
        self._reported: dict[str, float] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._observer: BaseObserver | None = None
        self._emit: Emit | None = None

    def start(self, emit: Emit) -> None:
        """Watch the folders that exist and start the examining thread."""
        self._emit = emit
        self._observer = Observer()
        self._observer.name = "ratwatch-downloads-observer"
        self._observer.daemon = True
        watched = 0
        for folder in self._dirs:
            if not folder.is_dir():
                continue
            try:
                self._observer.schedule(_Handler(self._noticed), str(folder), recursive=False)
            except OSError as exc:
                log.warning("cannot watch a downloads folder: %s", type(exc).__name__)
                continue
            watched += 1
        self._observer.start()
        self._thread = SensorThread(
            self.name,
            "examining downloads",
            self._run,
            stopped=lambda: self._stopping,
            wait=self._wait_unless_stopping,
            period=1.0,
            failed=self._ctx.failed,
        )
        self._thread.start()
        log.info("downloads sensor watching %d folder(s)", watched)

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

    def _noticed(self, path: str) -> None:
        if is_partial(os.path.basename(path)):
            return  # wait for the rename to the final name
        with self._cond:
            self._pending[path] = (self._monotonic() + SETTLE_SECONDS, None)
            self._cond.notify_all()

    def _wait_unless_stopping(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, timeout=seconds)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = self._monotonic()
                ready = [p for p, (due, _) in self._pending.items() if due <= now]
                if not ready:
                    wake = min((due for due, _ in self._pending.values()), default=None)
                    self._cond.wait(timeout=None if wake is None else max(0.0, wake - now))
                    continue
                items = [(p, self._pending.pop(p)[1]) for p in ready]
            for path, seen in items:
                self._settle(path, seen)

    def _settle(self, path: str, seen: tuple[int, int] | None) -> None:
        """Examine the file once it has stopped changing."""
        try:
            st = os.stat(path)
        except OSError:
            return  # renamed or deleted again (e.g. a browser's placeholder)
        if not os.path.isfile(path) or st.st_size == 0:
            return  # Firefox's empty placeholder under the final name, a folder
        key = (st.st_size, st.st_mtime_ns)
        if key != seen:
            with self._cond:
                if path not in self._pending:
                    self._pending[path] = (self._monotonic() + SETTLE_SECONDS, key)
                    self._cond.notify_all()
            return
        self._examine(Path(path))

    def _examine(self, path: Path) -> None:
        mono = self._monotonic()
        last = self._reported.get(str(path))
        if last is not None and mono - last < REPORT_ONCE_SECONDS:
            return
        catalogue = self._ctx.catalogue()
        tool = match_installer(catalogue, file_name=path.name, pe=None)
        if tool is None and _is_pe(path):
            tool = match_installer(catalogue, file_name=path.name, pe=self._pe_reader(str(path)))
        if tool is None:
            return
        self._reported = {p: t for p, t in self._reported.items() if mono - t < REPORT_ONCE_SECONDS}
        self._reported[str(path)] = mono
        host = origin_host(self._origin_reader(path))
        assert self._emit is not None
        self._emit(
            InstallerDownloaded(
                at=self._ctx.clock(),
                tool_id=tool.tool_id,
                path=str(path),
                origin_host=host,
                from_vendor=from_vendor(host, tool),
            )
        )
        log.info(
            "installer of %s downloaded (origin %s)",
            tool.tool_id,
            {None: "unknown", True: "the vendor", False: "not the vendor"}[from_vendor(host, tool)],
        )


def _is_pe(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(2) == b"MZ"
    except OSError:
        return False


def create(ctx: SensorContext) -> Sensor:
    """Registry factory (see agent.sensors.SENSORS)."""
    return DownloadsSensor(ctx)

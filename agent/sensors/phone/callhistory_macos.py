"""The Mac's call history: ``CallHistory.storedata`` (Continuity relays the iPhone's calls).

``~/Library/Application Support/CallHistoryDB/CallHistory.storedata`` is a
Core Data SQLite store; table ``ZCALLRECORD`` has ``ZADDRESS`` (number),
``ZNAME`` (the contact's name, only sometimes set), ``ZDATE`` (seconds since
2001-01-01 UTC), ``ZDURATION`` (seconds), ``ZANSWERED`` and ``ZORIGINATED``
(1 = outgoing). A call appears only once it is over, so a ringing call cannot
be seen here: the window opens when the call ended (late context upgrades a
tool that started during it). Reading it needs Full Disk Access for the
program running the agent; without it macOS refuses the open, and the log
and ``phone status`` say what to do.

A record with ``ZNAME`` is a contact; one without is "not in the contacts"
(Android's rule), withheld callers (no ``ZADDRESS``) too.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.errors import SensorError
from agent.events import CallerKind
from agent.sensors.base import FailureSink
from agent.sensors.phone.caller import is_emergency
from agent.sensors.phone.contacts import device_key
from agent.sensors.phone.source import (
    Phase,
    PhoneCall,
    Report,
    SourceStatus,
    no_failure_sink,
    source_thread,
)

log = logging.getLogger(__name__)

NAME = "callhistory"
DEVICE = device_key("callhistory")
DEFAULT_PATH = Path("~/Library/Application Support/CallHistoryDB/CallHistory.storedata")
APPLE_EPOCH_OFFSET = 978_307_200  # seconds from 1970-01-01 to 2001-01-01
ACCESS_DENIED = (
    "macOS does not let the agent read the call history: open System Settings > "
    "Privacy & Security > Full Disk Access and switch it on for the program that runs "
    "ratwatch (Terminal, or the ratwatch login item)"
)

Clock = Callable[[], float]


@dataclass(frozen=True)
class Record:
    """One finished call, judged: no number in it."""

    pk: int
    phase: Phase
    caller: CallerKind
    started: float
    ended: float


def read_records(
    path: Path, *, after_pk: int = 0, since: float = 0.0, country: str = ""
) -> list[Record]:
    """Calls with ``Z_PK > after_pk`` that began at or after ``since``, oldest first."""
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        # The file is there but cannot be opened: macOS' privacy control (TCC)
        # refuses the open itself when the program lacks Full Disk Access.
        raise PermissionError(ACCESS_DENIED) from exc
    try:
        rows = conn.execute(
            "SELECT Z_PK, ZADDRESS, ZNAME, ZDATE, ZDURATION, ZANSWERED FROM ZCALLRECORD "
            "WHERE Z_PK > ? AND ZDATE >= ? ORDER BY ZDATE",
            (after_pk, since - APPLE_EPOCH_OFFSET),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        if "authoriz" in str(exc).lower() or "unable to open" in str(exc).lower():
            raise PermissionError(ACCESS_DENIED) from exc
        raise SensorError(f"{path.name}: ZCALLRECORD unreadable ({type(exc).__name__})") from exc
    finally:
        conn.close()
    out: list[Record] = []
    for pk, address, name, zdate, duration, answered in rows:
        if not isinstance(zdate, (int, float)):
            continue
        number = address if isinstance(address, str) else ""
        started = float(zdate) + APPLE_EPOCH_OFFSET
        length = float(duration) if isinstance(duration, (int, float)) and duration > 0 else 0.0
        if (isinstance(name, str) and name.strip()) or is_emergency(number, country):
            caller = CallerKind.KNOWN
        else:
            caller = CallerKind.UNKNOWN
        phase = Phase.FINISHED if answered else Phase.MISSED
        out.append(Record(int(pk), phase, caller, started, started + length))
    return out


def max_pk(path: Path) -> int:
    """The newest record's key (0 when empty or unreadable: the first poll then reads all)."""
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT MAX(Z_PK) FROM ZCALLRECORD").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row and isinstance(row[0], int) else 0


class CallHistorySource:
    """Polls the Mac's call history for calls that finished."""

    name = NAME

    def __init__(
        self,
        clock: Clock,
        *,
        country: str = "",
        poll_seconds: float = 10.0,
        history_minutes: float = 30.0,
        path: Path | None = None,
        failed: FailureSink = no_failure_sink,
    ) -> None:
        self._clock = clock
        self._failed = failed
        self._country = country
        self._poll = poll_seconds
        self._history_seconds = history_minutes * 60.0
        self._path = (path or DEFAULT_PATH).expanduser()
        self._last_pk = 0
        self._mtime: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._report: Report | None = None
        self._said: str | None = None

    def start(self, report: Report) -> None:
        """Report calls that ended within the window before now, then poll."""
        self._report = report
        self.poll(since=self._clock() - self._history_seconds)
        # Older calls are history the window no longer covers: never report them.
        self._last_pk = max(self._last_pk, max_pk(self._path))
        self._thread = source_thread(
            NAME,
            self._tick,
            stopped=self._stop.is_set,
            wait=self._stop.wait,
            period=self._poll,
            failed=self._failed,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def status(self) -> SourceStatus:
        """Whether the call history exists and may be read."""
        if not self._path.exists():
            return SourceStatus(
                NAME, False, "this Mac has no call history (no iPhone relays calls)"
            )
        try:
            read_records(self._path, after_pk=2**62)
        except PermissionError:
            return SourceStatus(NAME, False, ACCESS_DENIED)
        except SensorError as exc:
            return SourceStatus(NAME, False, str(exc))
        return SourceStatus(NAME, True, "the iPhone's calls are relayed to this Mac")

    def _tick(self) -> None:
        if not self._stop.wait(self._poll):
            self.poll()

    def poll(self, since: float = 0.0) -> None:
        """Read new records if the file changed (public for a driving test)."""
        try:
            mtime = self._path.stat().st_mtime
        except FileNotFoundError:
            return
        except PermissionError:
            self._say(ACCESS_DENIED)
            return
        if mtime == self._mtime:
            return
        try:
            records = read_records(
                self._path, after_pk=self._last_pk, since=since, country=self._country
            )
        except PermissionError:
            self._say(ACCESS_DENIED)
            return
        except SensorError as exc:
            self._say(str(exc))
            return
        self._mtime = mtime
        for rec in records:
            self._last_pk = max(self._last_pk, rec.pk)
            call = PhoneCall(NAME, rec.phase, rec.caller, rec.started, rec.ended, DEVICE)
            log.info(
                "phone (Mac call history): %s call, caller %s", rec.phase.value, rec.caller.value
            )
            if self._report is not None:
                self._report(call)

    def _say(self, message: str) -> None:
        if self._said != message:
            self._said = message
            log.warning("phone (Mac call history): %s", message)

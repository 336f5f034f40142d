"""Read new visits from a browser's history database without touching the browser's file.

Browsers keep their history open (Firefox even in exclusive locking mode),
so opening the live file would block us, or worse, them. Instead each read
copies the database and its write-ahead log into a private scratch
directory and opens *that* copy read-only (``mode=ro``; ``immutable=1`` would
ignore the WAL and so miss the newest visits). The browser's own files are
only ever read, never locked or written.

A copy can be unusable: the browser was in the middle of a write (its
journal's header written and its lock held, the file changing while we
copied it), or the file is half-written or corrupt. A rollback journal is
treated as SQLite treats it (``rollback``): ignored unless hot, and a hot
one is rolled back on the private copy. Every such case raises ``HistoryUnreadable`` so
the sensor retries later; nothing here lets a bad file crash the agent.

Two schemas are known, detected from the tables in the file itself:
Chromium (Chrome, Edge, Brave, Chromium: ``urls`` + ``visits``, times in
microseconds since 1601-01-01 UTC) and Firefox (``moz_places`` +
``moz_historyvisits``, microseconds since 1970).
"""

from __future__ import annotations

import enum
import os
import shutil
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from agent.errors import HistoryUnreadable
from agent.sensors.browser.rollback import JournalState, journal_path, journal_state

# Seconds between 1601-01-01 (Windows FILETIME / Chromium epoch) and 1970-01-01.
CHROMIUM_EPOCH_OFFSET = 11_644_473_600
# At most this many visits per read: a first read of a huge history, or a
# browser that imported years of it, must not stall the sensor.
MAX_VISITS_PER_READ = 2_000


class Flavour(str, enum.Enum):
    """Which history schema a database has."""

    CHROMIUM = "chromium"
    FIREFOX = "firefox"


@dataclass(frozen=True)
class Visit:
    """One page visit: its id in the database, when, where, and the page's title."""

    visit_id: int
    at: float  # seconds since the Unix epoch
    url: str
    title: str
    page_key: int  # urls.id / moz_places.id: the title lives there and may arrive later


@dataclass(frozen=True)
class HistoryBatch:
    """What one read found."""

    flavour: Flavour
    visits: tuple[Visit, ...]  # new visits, oldest first
    last_visit_id: int  # remember this and pass it as ``after_id`` next time
    titles: dict[int, str]  # current titles of the ``recheck`` pages
    # True when ``after_id`` was beyond the file's last visit: the database was
    # replaced or rebuilt, so the visits were selected by time instead.
    reset: bool = False


_QUERIES = {
    Flavour.CHROMIUM: {
        "max": "SELECT COALESCE(MAX(id), 0) FROM visits",
        "after": (
            "SELECT v.id, v.visit_time, u.id, u.url, COALESCE(u.title, '') "
            "FROM visits v JOIN urls u ON u.id = v.url WHERE v.id > ? ORDER BY v.id LIMIT ?"
        ),
        "since": (
            "SELECT v.id, v.visit_time, u.id, u.url, COALESCE(u.title, '') "
            "FROM visits v JOIN urls u ON u.id = v.url WHERE v.visit_time >= ? "
            "ORDER BY v.id LIMIT ?"
        ),
        "title": "SELECT id, COALESCE(title, '') FROM urls WHERE id = ?",
    },
    Flavour.FIREFOX: {
        "max": "SELECT COALESCE(MAX(id), 0) FROM moz_historyvisits",
        "after": (
            "SELECT h.id, h.visit_date, p.id, p.url, COALESCE(p.title, '') "
            "FROM moz_historyvisits h JOIN moz_places p ON p.id = h.place_id "
            "WHERE h.id > ? ORDER BY h.id LIMIT ?"
        ),
        "since": (
            "SELECT h.id, h.visit_date, p.id, p.url, COALESCE(p.title, '') "
            "FROM moz_historyvisits h JOIN moz_places p ON p.id = h.place_id "
            "WHERE h.visit_date >= ? ORDER BY h.id LIMIT ?"
        ),
        "title": "SELECT id, COALESCE(title, '') FROM moz_places WHERE id = ?",
    },
}


def to_unix(flavour: Flavour, raw: int) -> float:
    """Convert a stored visit time to seconds since the Unix epoch."""
    seconds = raw / 1_000_000
    return seconds - CHROMIUM_EPOCH_OFFSET if flavour is Flavour.CHROMIUM else seconds


def from_unix(flavour: Flavour, at: float) -> int:
    """Convert Unix seconds to the flavour's stored visit time."""
    seconds = at + CHROMIUM_EPOCH_OFFSET if flavour is Flavour.CHROMIUM else at
    return int(seconds * 1_000_000)


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns)


def snapshot(db_path: Path, scratch: Path) -> tuple[Path, bool]:
    """Copy the database (with its WAL, or a hot journal) into ``scratch``.

    Returns the copy's path and whether it must be opened writable: a hot
    journal (one SQLite would roll back, see ``rollback``) is copied beside
    the database so that SQLite rolls the private copy back on open, as it
    would roll back the original. A journal that is not hot is ignored, as
    SQLite ignores it. Raises HistoryUnreadable when a writer holds the
    database mid-write, the files changed while copied, or the file cannot
    be read at all (missing, a folder, a sharing violation on Windows).
    """
    state = journal_state(db_path)
    if state is JournalState.WRITING:
        raise HistoryUnreadable(
            "a write is in progress (journal header written, lock held)", file=str(db_path)
        )
    if state is JournalState.SUPER:
        # Rolling back would make SQLite touch the browser's super-journal.
        raise HistoryUnreadable("a multi-database transaction is not finished", file=str(db_path))
    journal = journal_path(db_path)
    wal = Path(f"{db_path}-wal")
    hot = state is JournalState.HOT
    before = (_stat_key(db_path), _stat_key(wal), _stat_key(journal) if hot else None)
    if before[0] is None:
        raise HistoryUnreadable("the database file is missing", file=str(db_path))
    copy = scratch / "history.sqlite"
    extras = {wal: Path(f"{copy}-wal"), journal: journal_path(copy)}
    for stale in (copy, *extras.values(), Path(f"{copy}-shm")):
        stale.unlink(missing_ok=True)
    try:
        shutil.copyfile(db_path, copy)
        if before[1] is not None:
            shutil.copyfile(wal, extras[wal])
        if hot:
            shutil.copyfile(journal, extras[journal])
    except FileNotFoundError as exc:
        raise HistoryUnreadable("the database vanished while copied", file=str(db_path)) from exc
    except OSError as exc:
        # PermissionError: a sharing violation on Windows, or no access at all;
        # IsADirectoryError: a configured path that is a folder.
        raise HistoryUnreadable(
            f"cannot copy the database ({type(exc).__name__})", file=str(db_path)
        ) from exc
    after = (_stat_key(db_path), _stat_key(wal), _stat_key(journal) if hot else None)
    if after != before or journal_state(db_path) is not state:
        # A writer started (or finished) meanwhile: the copy may mix two states.
        raise HistoryUnreadable("the database changed while copied", file=str(db_path))
    return copy, hot


def _flavour(conn: sqlite3.Connection) -> Flavour:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if {"urls", "visits"} <= tables:
        return Flavour.CHROMIUM
    if {"moz_places", "moz_historyvisits"} <= tables:
        return Flavour.FIREFOX
    raise HistoryUnreadable("not a Chromium or Firefox history database (yet)")


def read_history(
    db_path: Path,
    scratch: Path,
    *,
    after_id: int | None,
    not_before: float,
    recheck: Collection[int] = (),
) -> HistoryBatch:
    """Read the visits after ``after_id`` (or, first time, since ``not_before``).

    ``recheck`` names pages (``Visit.page_key``) whose title was empty before:
    browsers write the visit first and the title once the page has loaded.
    """
    copy, hot = snapshot(db_path, scratch)
    # A hot journal is rolled back on open, which needs a writable (private) copy.
    mode = "rw" if hot else "ro"
    try:
        conn = sqlite3.connect(f"file:{quote(str(copy))}?mode={mode}", uri=True, timeout=0)
    except sqlite3.Error as exc:
        raise HistoryUnreadable(
            f"cannot open the copy ({type(exc).__name__})", file=str(db_path)
        ) from exc
    try:
        return _read(conn, after_id=after_id, not_before=not_before, recheck=recheck)
    except sqlite3.Error as exc:
        # DatabaseError covers "file is not a database" and "malformed" images.
        raise HistoryUnreadable(
            f"cannot read the copy ({type(exc).__name__}: {exc})", file=str(db_path)
        ) from exc
    finally:
        conn.close()
        for leftover in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm"), journal_path(copy)):
            leftover.unlink(missing_ok=True)


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def _read(
    conn: sqlite3.Connection, *, after_id: int | None, not_before: float, recheck: Collection[int]
) -> HistoryBatch:
    flavour = _flavour(conn)
    q = dict(_QUERIES[flavour])
    if flavour is Flavour.CHROMIUM and _has_column(conn, "visits", "originator_cache_guid"):
        # Chrome Sync copies other devices' visits into this file; they did not
        # happen on this PC. Older schemas lack the column and have no such rows.
        local = "COALESCE(v.originator_cache_guid, '') = '' AND "
        q["after"] = q["after"].replace("WHERE ", "WHERE " + local)
        q["since"] = q["since"].replace("WHERE ", "WHERE " + local)
    last = int(conn.execute(q["max"]).fetchone()[0])
    reset = after_id is not None and after_id > last
    if after_id is None or reset:
        rows = conn.execute(q["since"], (from_unix(flavour, not_before), MAX_VISITS_PER_READ))
    else:
        rows = conn.execute(q["after"], (after_id, MAX_VISITS_PER_READ))
    visits = tuple(
        Visit(
            visit_id=int(vid),
            at=to_unix(flavour, int(raw_time or 0)),
            url=str(url or ""),
            title=str(title or ""),
            page_key=int(key),
        )
        for vid, raw_time, key, url, title in rows.fetchall()
    )
    if visits and len(visits) == MAX_VISITS_PER_READ:
        # More than a batch is waiting: continue after this one next time.
        last = visits[-1].visit_id
    titles: dict[int, str] = {}
    for key in recheck:
        row = conn.execute(q["title"], (key,)).fetchone()
        if row is not None:
            titles[int(row[0])] = str(row[1])
    return HistoryBatch(
        flavour=flavour, visits=visits, last_visit_id=last, titles=titles, reset=reset
    )


def private_scratch(base: Path) -> Path:
    """Create (if needed) a scratch directory only this user can read."""
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        base.chmod(0o700)
    return base

"""Write browser history the way Chromium and Firefox do, for tests and benchmarks.

Loaded by path (the tests run with --import-mode=importlib, so they cannot
import each other): ``load_writer()`` in a test, or ``runpy`` in bench/.
The schemas are the real ones (chromium.sql, firefox.sql beside this file);
visits are inserted like the browsers insert them: the page row first (its
title often empty until the page has loaded), then the visit row.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHROMIUM_EPOCH_OFFSET = 11_644_473_600


class History:
    """One browser history database on disk, written through its own connection."""

    flavour = ""

    def __init__(self, path: Path, *, wal: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if wal:
            self.conn.execute("PRAGMA journal_mode=WAL")
            # Keep new pages in the -wal file like a busy browser does.
            self.conn.execute("PRAGMA wal_autocheckpoint=0")
        exists = self.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='table'"
        ).fetchone()[0]
        if not exists:
            self.conn.executescript((HERE / f"{self.flavour}.sql").read_text())

    def close(self) -> None:
        self.conn.close()

    def add_visit(self, url: str, title: str, at: float) -> tuple[int, int]:
        raise NotImplementedError

    def set_title(self, page_id: int, title: str) -> None:
        raise NotImplementedError


class ChromiumHistory(History):
    """A Chrome / Edge / Brave "History" file."""

    flavour = "chromium"

    @staticmethod
    def stamp(at: float) -> int:
        return int((at + CHROMIUM_EPOCH_OFFSET) * 1_000_000)

    def add_visit(
        self, url: str, title: str, at: float, *, synced_from: str = ""
    ) -> tuple[int, int]:
        c = self.conn
        c.execute("BEGIN")
        row = c.execute("SELECT id FROM urls WHERE url = ?", (url,)).fetchone()
        if row is None:
            page_id = c.execute(
                "INSERT INTO urls(url, title, visit_count, typed_count, last_visit_time, hidden) "
                "VALUES (?, ?, 1, 0, ?, 0)",
                (url, title, self.stamp(at)),
            ).lastrowid
        else:
            page_id = row[0]
            c.execute(
                "UPDATE urls SET visit_count = visit_count + 1, last_visit_time = ? WHERE id = ?",
                (self.stamp(at), page_id),
            )
        visit_id = c.execute(
            "INSERT INTO visits(url, visit_time, from_visit, transition, segment_id, "
            "visit_duration, originator_cache_guid) VALUES (?, ?, 0, 805306368, 0, 0, ?)",
            (page_id, self.stamp(at), synced_from),
        ).lastrowid
        c.execute("COMMIT")
        return int(visit_id or 0), int(page_id or 0)

    def set_title(self, page_id: int, title: str) -> None:
        self.conn.execute("UPDATE urls SET title = ? WHERE id = ?", (title, page_id))


class FirefoxHistory(History):
    """A Firefox "places.sqlite" file."""

    flavour = "firefox"

    def add_visit(self, url: str, title: str, at: float) -> tuple[int, int]:
        c = self.conn
        stamp = int(at * 1_000_000)
        c.execute("BEGIN")
        row = c.execute("SELECT id FROM moz_places WHERE url = ?", (url,)).fetchone()
        if row is None:
            host = url.split("/")[2] if "//" in url else ""
            page_id = c.execute(
                "INSERT INTO moz_places(url, title, rev_host, visit_count, last_visit_date, "
                "guid, url_hash) VALUES (?, ?, ?, 1, ?, lower(hex(randomblob(6))), 0)",
                (url, title or None, host[::-1] + ".", stamp),
            ).lastrowid
        else:
            page_id = row[0]
        visit_id = c.execute(
            "INSERT INTO moz_historyvisits(from_visit, place_id, visit_date, visit_type, session, "
            "source) VALUES (0, ?, ?, 1, 0, 0)",
            (page_id, stamp),
        ).lastrowid
        c.execute("COMMIT")
        return int(visit_id or 0), int(page_id or 0)

    def set_title(self, page_id: int, title: str) -> None:
        self.conn.execute("UPDATE moz_places SET title = ? WHERE id = ?", (title, page_id))

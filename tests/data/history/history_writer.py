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


# --- a writer in another process --------------------------------------------
# SQLite's locks are POSIX record locks, which a process never sees for itself
# (and drops when it closes any descriptor of the file): a writer holding a
# lock has to be another process, as the browser is.
HOLD_SCRIPT = r"""
import sqlite3, sys, time
path, mode = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(path, isolation_level=None)
conn.execute("PRAGMA journal_mode=" + ("TRUNCATE" if mode == "chromium" else "DELETE"))
if mode == "chromium":
    # Like Chromium's History: exclusive locking, a transaction left open
    # between commits, the journal's header still zeroed.
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO urls(url, title, last_visit_time) VALUES ('https://open.example/', 't', 0)"
    )
else:
    # Pages spilled into the file before commit: the header is written and
    # the database file holds half a transaction.
    conn.execute("PRAGMA cache_size=1")
    conn.execute("BEGIN EXCLUSIVE")
    for i in range(300):
        conn.execute(
            "INSERT INTO urls(url, title, last_visit_time) VALUES (?, 't', 0)",
            ("https://spill%d.example/" % i + "x" * 500,),
        )
    page = conn.execute(
        "INSERT INTO urls(url, title, last_visit_time) VALUES (?, ?, 0)",
        ("http://203.0.113.5/alert/", "Windows Defender Security Warning"),
    ).lastrowid
    conn.execute(
        "INSERT INTO visits(url, visit_time) VALUES (?, ?)",
        (page, int((time.time() + 11644473600) * 1e6)),
    )
print("ready", flush=True)
if sys.stdin.readline().strip() == "commit":
    conn.execute("COMMIT")
    print("committed", flush=True)
    sys.stdin.readline()
"""


class HeldWrite:
    """A child process holding a write transaction on a Chromium history file.

    ``mode`` "spill": the journal header is written and pages reached the
    file (a write SQLite must not be read through); "chromium": the open
    transaction Chromium keeps between commits (zeroed header). ``commit()``
    commits it; ``crash()`` kills the process, leaving the journal behind.
    """

    def __init__(self, path: Path, mode: str) -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_SCRIPT, str(path), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the writer did not start: {line!r}")

    def commit(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("commit\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "committed"

    def crash(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)

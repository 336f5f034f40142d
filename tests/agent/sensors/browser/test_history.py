"""agent.sensors.browser.history on real SQLite files in Chromium's and Firefox's schemas."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sqlite3
import struct
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agent.errors import HistoryUnreadable
from agent.sensors.browser.history import Flavour, Visit, read_history, snapshot
from agent.sensors.browser.rollback import JOURNAL_MAGIC, JournalState, journal_state

NOW = 1_790_000_000.0


def _writer() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "data" / "history" / "history_writer.py"
    spec = importlib.util.spec_from_file_location("history_writer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


W = _writer()
BROWSERS = {
    "chromium": (W.ChromiumHistory, "History"),
    "firefox": (W.FirefoxHistory, "places.sqlite"),
}


@pytest.fixture(params=sorted(BROWSERS))
def browser(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    cls, name = BROWSERS[request.param]
    hist = cls(tmp_path / "profile" / name)
    yield hist
    hist.close()


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    s = tmp_path / "scratch"
    s.mkdir()
    return s


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reads_only_new_visits_with_times_and_titles(browser, scratch: Path) -> None:  # type: ignore[no-untyped-def]
    browser.add_visit("https://nos.nl/", "NOS Nieuws", NOW - 7200)  # older than the window
    browser.add_visit("https://www.ing.nl/particulier", "ING Particulier", NOW - 60)
    first = read_history(browser.path, scratch, after_id=None, not_before=NOW - 1800)
    assert first.flavour is Flavour(browser.flavour)
    assert [v.url for v in first.visits] == ["https://www.ing.nl/particulier"]
    assert first.visits[0].at == pytest.approx(NOW - 60, abs=1e-3)
    assert first.visits[0].title == "ING Particulier"

    vid, _ = browser.add_visit("http://203.0.113.9/alert/", "Your computer has been blocked", NOW)
    second = read_history(browser.path, scratch, after_id=first.last_visit_id, not_before=0)
    assert [(v.visit_id, v.title) for v in second.visits] == [
        (vid, "Your computer has been blocked")
    ]
    third = read_history(browser.path, scratch, after_id=second.last_visit_id, not_before=0)
    assert third.visits == () and third.last_visit_id == second.last_visit_id


def test_title_that_arrives_later_is_found_by_recheck(browser, scratch: Path) -> None:  # type: ignore[no-untyped-def]
    _, page = browser.add_visit("https://x.example/", "", NOW)
    batch = read_history(browser.path, scratch, after_id=0, not_before=0, recheck=())
    assert batch.visits[0].title == "" and batch.visits[0].page_key == page
    browser.set_title(page, "Windows Defender Security Warning")
    later = read_history(
        browser.path, scratch, after_id=batch.last_visit_id, not_before=0, recheck=[page]
    )
    assert later.visits == ()
    assert later.titles == {page: "Windows Defender Security Warning"}


def test_the_browsers_files_are_never_modified(browser, scratch: Path) -> None:  # type: ignore[no-untyped-def]
    browser.add_visit("https://www.rabobank.nl/", "Rabobank", NOW)
    profile = browser.path.parent
    before = {p.name: (_digest(p), p.stat().st_mtime_ns) for p in profile.iterdir()}
    read_history(browser.path, scratch, after_id=None, not_before=0)
    after = {p.name: (_digest(p), p.stat().st_mtime_ns) for p in profile.iterdir()}
    assert after == before
    assert list(scratch.iterdir()) == []  # the private copy is removed after each read


def test_chrome_sync_visits_from_other_devices_are_skipped(tmp_path: Path, scratch: Path) -> None:
    hist = W.ChromiumHistory(tmp_path / "History")
    hist.add_visit("https://elsewhere.example/", "Synced", NOW, synced_from="guid-of-phone")
    vid, _ = hist.add_visit("https://here.example/", "Local", NOW)
    batch = read_history(hist.path, scratch, after_id=0, not_before=0)
    assert [v.visit_id for v in batch.visits] == [vid]
    hist.close()


def _rollback_history(tmp_path: Path) -> tuple[Any, int]:
    hist = W.ChromiumHistory(tmp_path / "History", wal=False)
    hist.add_visit("https://a.example/", "A", NOW)
    hist.close()  # the writer is another process from here on, as the browser is
    return hist, 1


def test_a_write_with_its_journal_header_written_is_retried_then_read(
    tmp_path: Path, scratch: Path
) -> None:
    """Another process mid-write (header written, lock held): never half a transaction."""
    hist, last = _rollback_history(tmp_path)
    writer = W.HeldWrite(hist.path, "spill")
    try:
        assert journal_state(hist.path) is JournalState.WRITING
        with pytest.raises(HistoryUnreadable, match="in progress"):
            read_history(hist.path, scratch, after_id=last, not_before=0)
        writer.commit()
        batch = read_history(hist.path, scratch, after_id=last, not_before=0)
        assert len(batch.visits) == 1
    finally:
        writer.close()


def test_chromiums_open_transaction_with_a_zeroed_journal_header_is_read(
    tmp_path: Path, scratch: Path
) -> None:
    """Chromium keeps a transaction (and a non-empty, zero-header journal) open between commits.

    SQLite reads the database through that journal (it is not hot); so must we.
    """
    hist, _ = _rollback_history(tmp_path)
    writer = W.HeldWrite(hist.path, "chromium")
    try:
        journal = Path(f"{hist.path}-journal")
        assert journal.stat().st_size > 0 and journal.read_bytes()[:8] == bytes(8)
        assert journal_state(hist.path) is JournalState.NOT_HOT
        batch = read_history(hist.path, scratch, after_id=None, not_before=0)
        assert [v.url for v in batch.visits] == ["https://a.example/"]  # the committed state
    finally:
        writer.close()


def test_a_journal_left_by_a_crash_is_rolled_back_on_the_copy_only(
    tmp_path: Path, scratch: Path
) -> None:
    """A hot journal (writer killed mid-write): read the state SQLite would roll back to."""
    hist, _ = _rollback_history(tmp_path)
    writer = W.HeldWrite(hist.path, "spill")
    writer.crash()
    db, journal = hist.path, Path(f"{hist.path}-journal")
    assert journal_state(db) is JournalState.HOT
    before = (_digest(db), _digest(journal))
    batch = read_history(db, scratch, after_id=None, not_before=0)
    assert [v.url for v in batch.visits] == ["https://a.example/"]
    assert (_digest(db), _digest(journal)) == before  # the browser's files untouched
    assert sorted(p.name for p in scratch.iterdir()) == []


def test_a_leftover_journal_with_a_zeroed_header_is_not_hot(tmp_path: Path, scratch: Path) -> None:
    hist = W.ChromiumHistory(tmp_path / "History", wal=False)
    hist.conn.execute("PRAGMA journal_mode=PERSIST")  # commits zero the header, keep the file
    hist.add_visit("https://a.example/", "A", NOW)
    hist.close()
    assert Path(f"{hist.path}-journal").stat().st_size > 0
    assert journal_state(hist.path) is JournalState.NOT_HOT
    assert len(read_history(hist.path, scratch, after_id=None, not_before=0).visits) == 1


def test_a_journal_naming_a_vanished_super_journal_is_not_hot(tmp_path: Path) -> None:
    """SQLite's last hot-journal condition: the super-journal it names must still exist."""
    db = tmp_path / "History"
    db.write_bytes(b"")
    name = str(tmp_path / "History-mj0123").encode()
    record = struct.pack(">I", 0) + name + struct.pack(">I", len(name)) + bytes(4) + JOURNAL_MAGIC
    Path(f"{db}-journal").write_bytes(JOURNAL_MAGIC + bytes(504) + record)
    assert journal_state(db) is JournalState.NOT_HOT
    (tmp_path / "History-mj0123").write_bytes(b"x")
    assert journal_state(db) is JournalState.SUPER


def test_exclusive_lock_in_wal_mode_reads_the_committed_state(
    tmp_path: Path, scratch: Path
) -> None:
    hist = W.FirefoxHistory(tmp_path / "places.sqlite")
    vid, _ = hist.add_visit("https://a.example/", "A", NOW)
    locker = sqlite3.connect(hist.path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("INSERT INTO moz_historyvisits(place_id, visit_date) VALUES (1, 1)")
    batch = read_history(hist.path, scratch, after_id=0, not_before=0)
    assert [v.visit_id for v in batch.visits] == [vid]  # the uncommitted row is not there
    locker.execute("ROLLBACK")
    locker.close()
    hist.close()


@pytest.mark.parametrize("flavour", sorted(BROWSERS))
def test_written_while_read_every_visit_exactly_once(
    flavour: str, tmp_path: Path, scratch: Path
) -> None:
    """A writer thread adds visits (WAL mode) while the reader keeps reading."""
    cls, name = BROWSERS[flavour]
    hist = cls(tmp_path / name)
    total = 400
    done = threading.Event()

    def write() -> None:
        for i in range(total):
            hist.add_visit(f"https://site{i}.example/", f"Page {i}", NOW + i)
            if i % 50 == 0:
                hist.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        done.set()

    writer = threading.Thread(target=write)
    seen: list[Visit] = []
    last: int | None = 0
    retries = 0
    writer.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        finished = done.is_set()
        try:
            batch = read_history(hist.path, scratch, after_id=last, not_before=0)
        except HistoryUnreadable:
            retries += 1
            continue
        seen.extend(batch.visits)
        last = batch.last_visit_id
        if finished and len(seen) >= total:
            break
    writer.join()
    assert [v.title for v in seen] == [f"Page {i}" for i in range(total)]
    assert len({v.visit_id for v in seen}) == total
    hist.close()


def test_corrupt_half_written_and_foreign_files_raise_unreadable(
    tmp_path: Path, scratch: Path
) -> None:
    hist = W.ChromiumHistory(tmp_path / "good" / "History", wal=False)
    for i in range(50):
        hist.add_visit(f"https://s{i}.example/", "t" * 200, NOW)
    hist.close()
    good = (tmp_path / "good" / "History").read_bytes()

    half = tmp_path / "half" / "History"
    half.parent.mkdir()
    half.write_bytes(good[: len(good) // 3])
    garbage = tmp_path / "garbage" / "History"
    garbage.parent.mkdir()
    garbage.write_bytes(b"\x00not a database" * 500)
    scrambled = tmp_path / "scrambled" / "History"
    scrambled.parent.mkdir()
    data = bytearray(good)
    data[4096:] = b"\xff" * (len(good) - 4096)  # every page but the schema overwritten
    scrambled.write_bytes(bytes(data))
    other = tmp_path / "other" / "History"
    other.parent.mkdir()
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.close()

    for path in (half, garbage, scrambled, other, tmp_path / "missing" / "History"):
        with pytest.raises(HistoryUnreadable):
            read_history(path, scratch, after_id=0, not_before=0)


def test_a_replaced_database_is_read_by_time(tmp_path: Path, scratch: Path) -> None:
    hist = W.FirefoxHistory(tmp_path / "places.sqlite")
    for i in range(5):
        hist.add_visit(f"https://s{i}.example/", "t", NOW - 3600)
    first = read_history(hist.path, scratch, after_id=None, not_before=0)
    hist.close()
    for p in tmp_path.glob("places.sqlite*"):
        p.unlink()
    fresh = W.FirefoxHistory(tmp_path / "places.sqlite")
    fresh.add_visit("https://old.example/", "old", NOW - 3600)
    fresh.add_visit("https://new.example/", "new", NOW)
    batch = read_history(fresh.path, scratch, after_id=first.last_visit_id, not_before=NOW - 60)
    assert batch.reset
    assert [v.url for v in batch.visits] == ["https://new.example/"]
    fresh.close()


def test_a_sharing_violation_while_copying_is_unreadable(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows refuses to open a file another process opened without read sharing.

    That cannot happen on Linux, so the copy step is made to fail the way
    Windows fails it (PermissionError from open).
    """
    hist = W.ChromiumHistory(tmp_path / "History")
    hist.add_visit("https://a.example/", "A", NOW)

    def refuse(src: object, dst: object) -> None:
        raise PermissionError(32, "The process cannot access the file")

    monkeypatch.setattr(shutil, "copyfile", refuse)
    with pytest.raises(HistoryUnreadable, match="PermissionError"):
        snapshot(hist.path, scratch)
    hist.close()

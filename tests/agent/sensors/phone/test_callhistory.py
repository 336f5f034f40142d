"""The Mac's CallHistory.storedata: a fixture with known, unknown and withheld callers.

Built here as a Core Data-shaped SQLite store (table ZCALLRECORD with the
published columns). macOS' Full Disk Access cannot exist here, and the tests
run as root (file modes do not stop root): the denial is made the way TCC
shows it to a program, a file that exists but SQLite cannot open.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from agent.events import CallerKind
from agent.sensors.phone.callhistory_macos import (
    ACCESS_DENIED,
    APPLE_EPOCH_OFFSET,
    CallHistorySource,
    read_records,
)
from agent.sensors.phone.source import Phase, PhoneCall


def _store(path: Path, rows: list[tuple[str | None, str | None, float, float, int]]) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE ZCALLRECORD (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, "
            "ZANSWERED INTEGER, ZCALLTYPE INTEGER, ZORIGINATED INTEGER, ZDATE TIMESTAMP, "
            "ZDURATION FLOAT, ZADDRESS VARCHAR, ZNAME VARCHAR, ZSERVICE_PROVIDER VARCHAR)"
        )
        for address, name, at, duration, answered in rows:
            db.execute(
                "INSERT INTO ZCALLRECORD (Z_ENT, Z_OPT, ZANSWERED, ZCALLTYPE, ZORIGINATED, ZDATE, "
                "ZDURATION, ZADDRESS, ZNAME, ZSERVICE_PROVIDER) "
                "VALUES (2, 1, ?, 1, 0, ?, ?, ?, ?, 'com.apple.Telephony')",
                (answered, at - APPLE_EPOCH_OFFSET, duration, address, name),
            )


def test_known_unknown_and_withheld_callers(tmp_path: Path) -> None:
    now = time.time()
    store = tmp_path / "CallHistory.storedata"
    _store(
        store,
        [
            ("+31612345678", "Dochter Anna", now - 900, 300.0, 1),
            ("+31655501234", None, now - 600, 240.0, 1),
            (None, None, now - 300, 0.0, 0),  # withheld, not answered
            ("+31655501234", "", now - 100, 0.0, 0),
        ],
    )
    got = read_records(store, country="NL")
    assert [(r.phase, r.caller) for r in got] == [
        (Phase.FINISHED, CallerKind.KNOWN),
        (Phase.FINISHED, CallerKind.UNKNOWN),
        (Phase.MISSED, CallerKind.UNKNOWN),
        (Phase.MISSED, CallerKind.UNKNOWN),
    ]
    assert got[1].ended - got[1].started == 240.0


def test_the_source_reports_the_window_then_new_calls_only(tmp_path: Path) -> None:
    now = time.time()
    store = tmp_path / "CallHistory.storedata"
    _store(
        store,
        [("+31655500001", None, now - 7200, 60.0, 1), ("+31655500002", None, now - 600, 60.0, 1)],
    )
    got: list[PhoneCall] = []
    source = CallHistorySource(time.time, country="NL", poll_seconds=3600, path=store)
    source.start(got.append)
    try:
        assert len(got) == 1  # the call two hours ago is outside the window
        with sqlite3.connect(store) as db:
            db.execute(
                "INSERT INTO ZCALLRECORD (ZANSWERED, ZDATE, ZDURATION, ZADDRESS) "
                "VALUES (0, ?, 0, '+31655500003')",
                (now - APPLE_EPOCH_OFFSET,),
            )
        source.poll()
        source.poll()
    finally:
        source.stop()
    assert [c.phase for c in got] == [Phase.FINISHED, Phase.MISSED]


def test_access_denied_says_what_to_do(tmp_path: Path) -> None:
    store = tmp_path / "CallHistory.storedata"
    store.mkdir()  # exists, but cannot be opened: what a program without Full Disk Access sees
    source = CallHistorySource(time.time, path=store)
    status = source.status()
    assert not status.available and status.detail == ACCESS_DENIED
    assert "Full Disk Access" in ACCESS_DENIED


def test_no_call_history_on_this_mac(tmp_path: Path) -> None:
    status = CallHistorySource(time.time, path=tmp_path / "missing.storedata").status()
    assert not status.available and "no call history" in status.detail


def test_the_source_runs_in_the_guarded_loop_and_a_dead_thread_reports_the_phone_sensor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An error in a poll costs a log line and the loop goes on; a thread that dies says so."""
    store = tmp_path / "CallHistory.storedata"
    _store(store, [])
    failed: list[tuple[str, str]] = []
    polls: list[int] = []
    died = threading.Event()

    def poll(since: float = 0.0) -> None:
        polls.append(1)
        if len(polls) == 2:  # the first poll after start: a passing error
            raise sqlite3.OperationalError("database is locked")
        if len(polls) == 3:  # the next: something the guard does not catch
            raise SystemExit(1)

    def sink(sensor: str, kind: str) -> None:
        failed.append((sensor, kind))
        died.set()

    source = CallHistorySource(time.time, poll_seconds=0.01, path=store, failed=sink)
    monkeypatch.setattr(source, "poll", poll)
    with caplog.at_level(logging.ERROR):
        source.start(lambda call: None)
        try:
            assert died.wait(10.0)
        finally:
            source.stop()
    assert failed == [("phone", "SystemExit")]
    assert "phone source callhistory failed (OperationalError, 1 in a row)" in caplog.text
    assert "database is locked" not in caplog.text  # by type only: messages may hold paths

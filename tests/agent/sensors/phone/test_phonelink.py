"""Phone Link: call toasts (English and Dutch Windows) and calling.db + contacts.db fixtures.

The fixtures are real SQLite databases built here from the published
schemas; the WinRT toast listener is the only fake (a list handed in where
``winrt_toasts`` would ask Windows).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from agent.events import CallerKind
from agent.sensors.phone.contacts import ContactsTracker
from agent.sensors.phone.phonelink_history import FILETIME_EPOCH_OFFSET, read_calls
from agent.sensors.phone.phonelink_toasts import Toast, call_from_toast
from agent.sensors.phone.phonelink_windows import PACKAGE, PhoneLinkSource
from agent.sensors.phone.source import Phase, PhoneCall

APP = "Microsoft.YourPhone_8wekyb3d8bbwe!App"


@pytest.mark.parametrize(
    ("texts", "phase", "caller"),
    [
        (("+31 6 55501234", "Incoming call"), Phase.RINGING, CallerKind.UNKNOWN),
        (("Mam", "Incoming call"), Phase.RINGING, CallerKind.KNOWN),
        (("06-55501234", "Inkomende oproep"), Phase.RINGING, CallerKind.UNKNOWN),
        (("Oma Truus", "Inkomende oproep"), Phase.RINGING, CallerKind.KNOWN),
        (("Gemiste oproep", "020 123 4567"), Phase.MISSED, CallerKind.UNKNOWN),
        (("Missed call", "Unknown"), Phase.MISSED, CallerKind.UNKNOWN),
        (("Privénummer", "Inkomende oproep"), Phase.RINGING, CallerKind.UNKNOWN),
        (("112", "Incoming call"), Phase.RINGING, CallerKind.KNOWN),
    ],
)
def test_call_toasts(texts: tuple[str, ...], phase: Phase, caller: CallerKind) -> None:
    judged = call_from_toast(Toast(1, APP, texts, time.time()), "NL")
    assert judged is not None
    assert (judged.phase, judged.caller) == (phase, caller)


def test_other_toasts_are_not_calls() -> None:
    assert call_from_toast(Toast(1, APP, ("Anna", "Hoi! Bel je me?"), 0.0)) is None
    assert call_from_toast(Toast(1, "Microsoft.Teams!App", ("Incoming call",), 0.0)) is None


def _filetime(epoch: float) -> int:
    return int((epoch + FILETIME_EPOCH_OFFSET) * 10_000_000)


def _databases(folder: Path, calls: list[tuple[str, float, int, int]], contacts: list[str],
               legacy: bool = False) -> None:
    folder.mkdir(parents=True)
    with sqlite3.connect(folder / "calling.db") as db:
        db.execute(
            "CREATE TABLE call_history (call_id TEXT PRIMARY KEY, phone_account_id TEXT, "
            "number TEXT, start_time INTEGER, duration INTEGER, call_type INTEGER, "
            "is_read INTEGER, last_updated_time INTEGER)"
        )
        for i, (number, start, duration, kind) in enumerate(calls):
            db.execute(
                "INSERT INTO call_history VALUES (?, 'acc', ?, ?, ?, ?, 1, ?)",
                (f"c{i}", number, _filetime(start), duration, kind, _filetime(start)),
            )
    with sqlite3.connect(folder / "contacts.db") as db:
        db.execute("CREATE TABLE contact (contact_id INTEGER PRIMARY KEY, display_name TEXT)")
        table, column = ("address", "address") if legacy else ("phonenumber", "phone_number")
        db.execute(f"CREATE TABLE {table} (contact_id INTEGER, {column} TEXT)")
        for i, number in enumerate(contacts):
            db.execute("INSERT INTO contact VALUES (?, ?)", (i, f"Contact {i}"))
            db.execute(f"INSERT INTO {table} VALUES (?, ?)", (i, number))


@pytest.mark.parametrize("windows", ["en", "nl"])
def test_history_joins_the_contacts(tmp_path: Path, windows: str) -> None:
    now = time.time()
    if windows == "nl":  # numbers as a Dutch phone stores them; older contacts.db layout
        calls = [("06 55501234", now - 600, 95, 1), ("+31612345678", now - 500, 30, 1),
                 ("020 1234567", now - 400, 0, 3), ("", now - 300, 0, 3),
                 ("0612345678", now - 7200, 60, 1)]
        contacts, legacy = ["06-12345678"], True
    else:
        calls = [("+1 (555) 201-0001", now - 600, 95, 1), ("+15552010002", now - 500, 30, 2),
                 ("(555) 201-0003", now - 400, 0, 3), ("", now - 300, 0, 3),
                 ("+15552010002", now - 7200, 60, 1)]
        contacts, legacy = ["555-201-0002"], False
    folder = tmp_path / "Database"
    _databases(folder, calls, contacts, legacy)
    got = read_calls(folder / "calling.db", folder / "contacts.db", since=now - 1800,
                     country="NL" if windows == "nl" else "US")
    assert [(c.phase, c.caller) for c in got] == [
        (Phase.FINISHED, CallerKind.UNKNOWN),
        (Phase.FINISHED, CallerKind.KNOWN),
        (Phase.MISSED, CallerKind.UNKNOWN),
        (Phase.MISSED, CallerKind.UNKNOWN),  # withheld
    ]
    assert got[0].ended - got[0].started == pytest.approx(95)


def test_the_source_reports_history_then_each_toast_once(tmp_path: Path) -> None:
    now = time.time()
    local = tmp_path / "AppData" / "Local"
    folder = local / "Packages" / PACKAGE / "LocalCache" / "Indexed" / "abc" / "System" / "Database"
    _databases(folder, [("06 55501234", now - 900, 120, 1)], [])
    toasts = [Toast(7, APP, ("06 55501234", "Inkomende oproep"), now)]
    got: list[PhoneCall] = []
    source = PhoneLinkSource(time.time, ContactsTracker(tmp_path, 3), country="NL",
                             toasts=lambda: list(toasts), local_app_data=local)
    assert source.status().available
    source.start(got.append)
    try:
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        source.poll()  # the same toast again: not a second call
    finally:
        source.stop()
    assert [(c.phase, c.caller) for c in got] == [
        (Phase.FINISHED, CallerKind.UNKNOWN),
        (Phase.RINGING, CallerKind.UNKNOWN),
    ]


def test_a_broken_calling_db_is_one_line_naming_the_file(tmp_path: Path) -> None:
    from agent.errors import SensorError

    bad = tmp_path / "calling.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(SensorError, match=r"^calling\.db: "):
        read_calls(bad, None, since=0)

"""Phone Link's call history: ``calling.db`` joined with ``contacts.db``, read-only.

Phone Link keeps its databases under
``%LOCALAPPDATA%\\Packages\\Microsoft.YourPhone_8wekyb3d8bbwe\\LocalCache\\Indexed\\
<id>\\System\\Database\\``. Schemas as published by forensic write-ups of
"Your Phone" / Phone Link: ``calling.db`` table ``call_history`` (``call_id``,
``number``, ``start_time`` as a Windows FILETIME, ``duration`` in seconds,
``call_type`` with Android's CallLog codes: 1 incoming, 2 outgoing, 3 missed,
4 voicemail, 5 rejected, 6 blocked); ``contacts.db`` tables ``contact``
(``contact_id``, ``display_name``) and ``phonenumber`` (``contact_id``,
``phone_number``), older builds ``address`` (``contact_id``, ``address``).
The databases are the same on Dutch and English Windows; numbers are stored
as the phone had them (national or +international), so they are compared by
their last nine digits.

Used for calls that ended while the agent was not running: read once at start.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from agent.errors import SensorError
from agent.events import CallerKind
from agent.sensors.phone.caller import digits, is_emergency
from agent.sensors.phone.source import Phase

FILETIME_EPOCH_OFFSET = 11_644_473_600  # seconds from 1601-01-01 to 1970-01-01
MATCH_DIGITS = 9  # a number's national significant part, for nl/en style numbers
_MISSED_TYPES = {3, 5, 6}  # missed, rejected, blocked: it rang, nobody talked
_SKIPPED_TYPES = {4}  # voicemail: nobody talked to the caller live


@dataclass(frozen=True)
class HistoryCall:
    """One call from a history database, judged: no number in it."""

    row_id: int
    phase: Phase
    caller: CallerKind
    started: float
    ended: float


def filetime_to_epoch(value: int) -> float:
    """Windows FILETIME (100 ns since 1601) to epoch seconds."""
    return value / 10_000_000 - FILETIME_EPOCH_OFFSET


def _key(number: str) -> str:
    return digits(number)[-MATCH_DIGITS:]


def _open(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SensorError(f"{path.name}: cannot be opened ({exc.__class__.__name__})") from exc


def contact_numbers(contacts_db: Path) -> set[str]:
    """The match keys of every number in Phone Link's contacts."""
    conn = _open(contacts_db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "phonenumber" in tables:
            rows = conn.execute("SELECT phone_number FROM phonenumber").fetchall()
        elif "address" in tables:
            rows = conn.execute("SELECT address FROM address").fetchall()
        else:
            raise SensorError(f"{contacts_db.name}: no phonenumber or address table")
    except sqlite3.Error as exc:
        raise SensorError(f"{contacts_db.name}: unreadable ({exc.__class__.__name__})") from exc
    finally:
        conn.close()
    return {_key(str(r[0])) for r in rows if r[0] and _key(str(r[0]))}


def read_calls(
    calling_db: Path, contacts_db: Path | None, *, since: float, country: str = ""
) -> list[HistoryCall]:
    """Calls that began at or after ``since``, oldest first."""
    known = contact_numbers(contacts_db) if contacts_db is not None else set()
    conn = _open(calling_db)
    try:
        rows = conn.execute(
            "SELECT rowid, number, start_time, duration, call_type FROM call_history "
            "WHERE start_time >= ? ORDER BY start_time",
            (int((since + FILETIME_EPOCH_OFFSET) * 10_000_000),),
        ).fetchall()
    except sqlite3.Error as exc:
        raise SensorError(
            f"{calling_db.name}: table call_history unreadable ({exc.__class__.__name__})"
        ) from exc
    finally:
        conn.close()
    calls: list[HistoryCall] = []
    for row_id, raw_number, start, duration, call_type in rows:
        if not isinstance(start, int) or call_type in _SKIPPED_TYPES:
            continue
        number = str(raw_number or "")
        started = filetime_to_epoch(start)
        length = duration if isinstance(duration, int) and 0 <= duration < 86_400 else 0
        if is_emergency(number, country) or (digits(number) and _key(number) in known):
            caller = CallerKind.KNOWN
        else:
            caller = CallerKind.UNKNOWN
        phase = Phase.MISSED if call_type in _MISSED_TYPES else Phase.FINISHED
        calls.append(HistoryCall(int(row_id), phase, caller, started, started + length))
    return calls

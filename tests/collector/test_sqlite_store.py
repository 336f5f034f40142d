"""What only the SQLite store has: its files on disk, staged cells, upgrades, a crash."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from collector.errors import StoreError
from collector.model import Batch, Dimension, Query, TallyRow
from collector.periods import from_date, month_of_day
from collector.sqlite_schema import SCHEMA_VERSION
from collector.sqlite_store import DB_NAME, SqliteStore

DAY0 = from_date(dt.date(2026, 11, 21))


def clock() -> float:
    return DAY0 * 86400.0


def by_tool(store: SqliteStore) -> dict[str, int]:
    return {str(c.key[0]): c.count for c in store.query(Query(group_by=(Dimension.TOOL,)))}


def pending_rows(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / DB_NAME) as conn:
        return int(conn.execute("SELECT count(*) FROM pending").fetchone()[0])


# The schema of version 4 as that release created it: seen ids keyed by id
# alone, staged cells as JSON text.
V4_SCHEMA = """
CREATE TABLE tally_day (day INTEGER NOT NULL, tool_id TEXT NOT NULL, trigger INTEGER NOT NULL,
    stage INTEGER NOT NULL, outcome INTEGER NOT NULL, region TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (day, tool_id, trigger, stage, outcome, region)) WITHOUT ROWID;
CREATE TABLE tally_month (month INTEGER NOT NULL, tool_id TEXT NOT NULL,
    trigger INTEGER NOT NULL, stage INTEGER NOT NULL, outcome INTEGER NOT NULL,
    region TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (month, tool_id, trigger, stage, outcome, region)) WITHOUT ROWID;
CREATE TABLE tool_day (day INTEGER NOT NULL, tool_id TEXT NOT NULL, region TEXT NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (day, tool_id, region)) WITHOUT ROWID;
CREATE TABLE tool_month (month INTEGER NOT NULL, tool_id TEXT NOT NULL, region TEXT NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (month, tool_id, region)) WITHOUT ROWID;
CREATE TABLE seen_batch (id_hi INTEGER NOT NULL, id_lo INTEGER NOT NULL,
    keep_until INTEGER NOT NULL, PRIMARY KEY (id_hi, id_lo)) WITHOUT ROWID;
CREATE INDEX seen_batch_keep_until ON seen_batch (keep_until);
CREATE TABLE pending (id INTEGER PRIMARY KEY, cells TEXT NOT NULL);
PRAGMA user_version = 4;
"""


def test_a_version_4_database_is_upgraded_in_place_keeping_counts_and_ids(tmp_path: Path) -> None:
    folded_id, staged_id = bytes(range(16)), bytes(range(16, 32))
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.executescript(V4_SCHEMA)
        day, month = DAY0 - 3, month_of_day(DAY0 - 3)  # folded: in all four tables
        conn.execute("INSERT INTO tool_day VALUES (?, 'teamviewer', '', 7)", (day,))
        conn.execute("INSERT INTO tool_month VALUES (?, 'teamviewer', '', 7)", (month,))
        conn.execute("INSERT INTO tally_day VALUES (?, 'teamviewer', 1, 1, 1, '', 7)", (day,))
        conn.execute("INSERT INTO tally_month VALUES (?, 'teamviewer', 1, 1, 1, '', 7)", (month,))
        for bid in (folded_id, staged_id):
            hi = int.from_bytes(bid[:8], "big", signed=True)
            lo = int.from_bytes(bid[8:], "big", signed=True)
            conn.execute("INSERT INTO seen_batch VALUES (?, ?, ?)", (hi, lo, DAY0 + 30))
        staged = [["NL", [[DAY0, "anydesk", 1, 1, 1, 2], [DAY0, "teamviewer", 2, 1, 1, 1]]]]
        conn.execute("INSERT INTO pending (cells) VALUES (?)", (json.dumps(staged),))
    store = SqliteStore(tmp_path, clock=clock)
    try:
        assert by_tool(store) == {"teamviewer": 8, "anydesk": 2}
        assert store.seen(folded_id) and store.seen(staged_id)
        assert store.ingest(Batch(staged_id, "", (TallyRow(DAY0, "x", 1, 1, 1, 1),))).duplicate
        store.ingest(Batch(os.urandom(16), "", (TallyRow(DAY0, "anydesk", 1, 1, 1, 5),)))
    finally:
        store.close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert not {"seen_batch_v4", "pending_v4"} & tables
    reopened = SqliteStore(tmp_path, read_only=True)
    try:
        assert by_tool(reopened) == {"teamviewer": 8, "anydesk": 7}
    finally:
        reopened.close()


def test_a_failed_upgrade_changes_nothing(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.executescript(V4_SCHEMA)
        conn.execute("INSERT INTO pending (cells) VALUES ('[[\"NL\", [[1, 2')")  # torn JSON
    with pytest.raises(StoreError, match=r"collector\.sqlite3: cannot open the database"):
        SqliteStore(tmp_path, clock=clock)
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "seen_batch_v4" not in tables and "pending" in tables
    # The data dir lock was let go: a second try fails the same way, not as "in use".
    with pytest.raises(StoreError, match="cannot open the database"):
        SqliteStore(tmp_path, clock=clock)


def test_a_newer_database_is_refused_by_name_and_version(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, this collector"):
        SqliteStore(tmp_path, clock=clock)
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        SqliteStore(tmp_path, read_only=True)


def test_staged_cells_of_a_crashed_run_are_counted_once_at_open(tmp_path: Path) -> None:
    """A real process acknowledges batches, then dies without closing the store."""
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from collector.model import Batch, TallyRow
        from collector.sqlite_store import SqliteStore
        store = SqliteStore(Path({str(tmp_path)!r}), clock=lambda: {DAY0 * 86400.0})
        for i in range(30):
            row = TallyRow({DAY0}, "teamviewer" if i % 3 else "anydesk", 1, 1, 1, 2)
            assert not store.ingest(Batch(os.urandom(16), "NL", (row,))).duplicate
        os._exit(0)  # no close(): no fold, no checkpoint
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert pending_rows(tmp_path) > 0  # the counts really were left staged
    store = SqliteStore(tmp_path, clock=clock)
    try:
        assert by_tool(store) == {"teamviewer": 40, "anydesk": 20}
    finally:
        store.close()
    assert pending_rows(tmp_path) == 0  # folded once, at open or close
    again = SqliteStore(tmp_path, clock=clock)
    try:
        assert by_tool(again) == {"teamviewer": 40, "anydesk": 20}
    finally:
        again.close()


def test_unreadable_staged_cells_refuse_to_open_rather_than_lose_them(tmp_path: Path) -> None:
    SqliteStore(tmp_path, clock=clock).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("INSERT INTO pending (cells) VALUES (?)", (b"\xc1 not msgpack",))
    with pytest.raises(StoreError, match="cannot read the staged tallies"):
        SqliteStore(tmp_path, clock=clock)
    assert pending_rows(tmp_path) == 1


def test_a_read_only_open_of_an_older_database_says_how_to_upgrade_it(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.executescript(V4_SCHEMA)
    with pytest.raises(StoreError, match=r"schema version 4.*writable collector to upgrade it"):
        SqliteStore(tmp_path, read_only=True)
    with sqlite3.connect(tmp_path / DB_NAME) as conn:  # and it was left as it was
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4

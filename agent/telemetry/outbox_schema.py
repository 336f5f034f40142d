"""The outbox's SQLite file: how it is opened and what tables it holds.

WAL so the ``telemetry`` command can read while the agent writes;
``synchronous = FULL`` so a committed admission or acknowledgement survives
a power cut, not just a crash; incremental auto-vacuum so space freed after
an acknowledgement goes back to the file system and the byte bound is real.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# claims: every (day, tool, trigger) counted on this PC, kept as long as a
#   resolution for that day could still arrive, so nothing is counted twice
#   after its row has been sent.
# counts: one row per claim until acknowledged; batch_id NULL = pending,
#   else the row is frozen in that in-flight batch.
# batches: in-flight batches in the order they were built (re-sent unchanged).
# meta: the dropped tally and the reporter's remembered schedule.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    utc_day INTEGER NOT NULL,
    tool_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    PRIMARY KEY (utc_day, tool_id, trigger)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id BLOB NOT NULL UNIQUE CHECK (length(batch_id) = 16),
    agent_version TEXT NOT NULL,
    catalogue_version INTEGER NOT NULL,
    region TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counts (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    utc_day INTEGER NOT NULL,
    tool_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    stage TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count > 0),
    batch_id BLOB
);
CREATE INDEX IF NOT EXISTS counts_by_batch ON counts(batch_id);
CREATE INDEX IF NOT EXISTS counts_by_key ON counts(utc_day, tool_id, trigger);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the outbox file with the durability settings above."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    # auto_vacuum only takes effect before the first table exists.
    db.execute("PRAGMA auto_vacuum = INCREMENTAL")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA busy_timeout = 30000")
    return db

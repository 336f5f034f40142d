"""What the SQLite store keeps on disk: its tables, the staged-cell format, and upgrades.

``prepare`` creates a new database or upgrades an older one in place (one
transaction per step, so a crash mid-upgrade leaves the old version), and
``check`` refuses a database this collector cannot read.

Staged cells (the ``pending`` table, see collector.sqlite_store) are the
rows of a commit's fresh batches as MessagePack: ``[[region, [[day,
tool_id, trigger, stage, outcome, count], ...], token], ...]`` (version 5
wrote no token: such rows are unattributed, token ""). A commit encodes
thousands of rows, so the codec is C code with a stable, documented format
(JSON took ~9 µs of the writer's CPU per batch, MessagePack ~3).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence

import msgpack

from collector import sqlite_release
from collector.model import RowTuple

SCHEMA_VERSION = 7

# Each tally is kept at two grains (day, month) and two widths: every
# dimension, or only tool and region ("narrow"), the shape of the most
# common question ("which tools, per month"). A query reads the narrowest,
# coarsest tables that still hold its dimensions and filters.
_TALLY = """
CREATE TABLE IF NOT EXISTS {name} (
    {time} INTEGER NOT NULL, tool_id TEXT NOT NULL, {extra}region TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY ({time}, tool_id, {extra_key}region)
) WITHOUT ROWID;
"""
_FULL = "trigger INTEGER NOT NULL, stage INTEGER NOT NULL, outcome INTEGER NOT NULL, "
_TALLIES = "".join(
    _TALLY.format(
        name=name,
        time=time,
        extra=_FULL if full else "",
        extra_key="trigger, stage, outcome, " if full else "",
    )
    for name, time, full in (
        ("tally_day", "day", True),
        ("tally_month", "month", True),
        ("tool_day", "day", False),
        ("tool_month", "month", False),
    )
)

# A batch id is 16 bytes, kept as two signed 64-bit integers so that a whole
# group's ids travel to SQLite as one JSON array. Ids are random, so each new
# id lands on a random page of any index keyed by it, and every page a
# commit dirties is written to the WAL: so only one structure is keyed by
# the id. Rows append in arrival order (rowid), and the pruning index is
# (keep_until, rowid), which appends too.
_SEEN = """
CREATE TABLE IF NOT EXISTS seen_batch (
    id_hi INTEGER NOT NULL, id_lo INTEGER NOT NULL, keep_until INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS seen_batch_id ON seen_batch (id_hi, id_lo);
CREATE INDEX IF NOT EXISTS seen_batch_keep_until ON seen_batch (keep_until);
"""
_PENDING = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY, cells BLOB NOT NULL
);
"""

# Per deployment token (collector.auth.token_id), the same cells as tally_day:
# what lets `token revoke --purge-since` take back exactly what a token added
# (see collector.sqlite_tokens).
_PER_DEPLOYMENT = """
CREATE TABLE IF NOT EXISTS token_day (
    token TEXT NOT NULL, day INTEGER NOT NULL, tool_id TEXT NOT NULL, trigger INTEGER NOT NULL,
    stage INTEGER NOT NULL, outcome INTEGER NOT NULL, region TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (token, day, tool_id, trigger, stage, outcome, region)
) WITHOUT ROWID;
"""

Staged = Sequence[tuple[str, Sequence[RowTuple], str]]  # [(region, rows, token), ...]


class CellPacker:
    """Encodes staged cells; one per writer (a msgpack Packer is not thread-safe)."""

    def __init__(self) -> None:
        self._pack = msgpack.Packer().pack

    def __call__(self, staged: Staged) -> bytes:
        """``[(region, rows, token), ...]`` as a ``pending.cells`` value."""
        return self._pack(staged)  # type: ignore[no-any-return]


def staged_rows(blobs: Iterable[bytes]) -> Iterator[tuple[int, str, int, int, int, str, int]]:
    """``(day, tool_id, trigger, stage, outcome, region, count)`` for every staged row.

    Raises ValueError (msgpack's errors derive from it) on a blob that does not decode.
    """
    for blob in blobs:
        for entry in msgpack.unpackb(blob):
            region, rows = entry[0], entry[1]
            for day, tool_id, trigger, stage, outcome, count in rows:
                yield day, tool_id, trigger, stage, outcome, region, count


def staged_token_rows(
    blobs: Iterable[bytes],
) -> Iterator[tuple[str, int, str, int, int, int, str, int]]:
    """``(token, day, tool_id, trigger, stage, outcome, region, count)`` for every staged row."""
    for blob in blobs:
        for entry in msgpack.unpackb(blob):
            region, rows = entry[0], entry[1]
            token = entry[2] if len(entry) > 2 else ""  # version 5: unattributed
            for day, tool_id, trigger, stage, outcome, count in rows:
                yield token, day, tool_id, trigger, stage, outcome, region, count


def _statements(script: str) -> list[str]:
    return [s for s in script.split(";") if s.strip()]


def _from_4(conn: sqlite3.Connection) -> None:
    """Version 4 keyed seen_batch by id alone (WITHOUT ROWID) and staged cells as JSON."""
    conn.execute("ALTER TABLE seen_batch RENAME TO seen_batch_v4")
    conn.execute("DROP INDEX seen_batch_keep_until")
    for stmt in _statements(_SEEN):
        conn.execute(stmt)
    conn.execute(
        "INSERT INTO seen_batch (id_hi, id_lo, keep_until) "
        "SELECT id_hi, id_lo, keep_until FROM seen_batch_v4 ORDER BY keep_until"
    )
    conn.execute("DROP TABLE seen_batch_v4")
    conn.execute("ALTER TABLE pending RENAME TO pending_v4")
    conn.execute(_PENDING)
    pack = CellPacker()
    for rowid, cells in conn.execute("SELECT id, cells FROM pending_v4").fetchall():
        conn.execute(
            "INSERT INTO pending (id, cells) VALUES (?, ?)", (rowid, pack(json.loads(cells)))
        )
    conn.execute("DROP TABLE pending_v4")


def _from_5(conn: sqlite3.Connection) -> None:
    """Version 6 adds per-token tallies; what version 5 counted stays unattributed."""
    conn.execute(_PER_DEPLOYMENT)


def _from_6(conn: sqlite3.Connection) -> None:
    """Version 7 adds the releases (collector.sqlite_release); tallies are unchanged."""
    sqlite_release.create(conn)


_UPGRADES = {4: _from_4, 5: _from_5, 6: _from_6}


class SchemaError(Exception):
    """The database has a version this collector cannot read or upgrade."""


def check(conn: sqlite3.Connection) -> None:
    """Raise SchemaError unless the database is at SCHEMA_VERSION."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version {version}, this collector reads version {SCHEMA_VERSION}"
            + (
                "; open it once with a writable collector to upgrade it"
                if version in _UPGRADES
                else ""
            )
        )


def prepare(conn: sqlite3.Connection) -> None:
    """Create the tables of a new database, or upgrade an older one, on ``conn`` (autocommit).

    Raises SchemaError for a version it cannot upgrade, sqlite3.Error or
    ValueError (unreadable staged cells) when an upgrade fails; a failed
    step is rolled back.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        conn.executescript(
            _TALLIES
            + _SEEN
            + _PENDING
            + _PER_DEPLOYMENT
            + sqlite_release.DDL
            + f"PRAGMA user_version={SCHEMA_VERSION};"
        )
        return
    while version in _UPGRADES:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _UPGRADES[version](conn)
            version += 1
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            raise
    check(conn)

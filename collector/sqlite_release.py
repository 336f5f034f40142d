"""How SqliteStore keeps releases: one row per release, its cells as one MessagePack value.

A release is written once and read many times, always whole, so its cells
are one immutable value (``[[key..., count], ...]`` in key order) rather
than rows of a cell table: reading a month's 30,000 cells is one decode in
C. Triggers make the table append-only inside SQLite itself: an UPDATE or
DELETE of a release aborts, whatever program tries it, and the primary key
refuses a second release with the same id.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgpack

from collector.model import CellKey, Dimension, Release

DDL = """
CREATE TABLE IF NOT EXISTS release (
    release_id TEXT PRIMARY KEY,
    kind INTEGER NOT NULL, period TEXT NOT NULL,
    first_day INTEGER NOT NULL, last_day INTEGER NOT NULL, provisional INTEGER NOT NULL,
    grid TEXT NOT NULL,
    epsilon REAL NOT NULL, delta REAL NOT NULL, noise_scale REAL NOT NULL,
    threshold INTEGER NOT NULL, noisy_total INTEGER NOT NULL,
    cells_checksum TEXT NOT NULL, source_checksum TEXT NOT NULL, source_total INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    cells BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS release_never_changes BEFORE UPDATE ON release
BEGIN SELECT RAISE(ABORT, 'a release never changes'); END;
CREATE TRIGGER IF NOT EXISTS release_never_goes BEFORE DELETE ON release
BEGIN SELECT RAISE(ABORT, 'a release is never deleted'); END;
"""

_HEADER = (
    "release_id, kind, period, first_day, last_day, provisional, grid, epsilon, delta, "
    "noise_scale, threshold, noisy_total, cells_checksum, source_checksum, source_total, created_at"
)


def create(conn: sqlite3.Connection) -> None:
    """Create the release table and its triggers (inside the caller's transaction)."""
    for stmt in DDL.split(";\n"):
        if stmt.strip():
            conn.execute(stmt)


def put(conn: sqlite3.Connection, rel: Release) -> bool:
    """Insert ``rel`` unless its id is stored already; True when inserted. Autocommit ``conn``."""
    cells = msgpack.packb([[*key, count] for key, count in rel.cells])
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(
            f"INSERT OR IGNORE INTO release ({_HEADER}, cells) "  # noqa: S608 - fixed names
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rel.release_id,
                int(rel.kind),
                rel.period,
                rel.first_day,
                rel.last_day,
                int(rel.provisional),
                ",".join(str(int(d)) for d in rel.grid),
                rel.epsilon,
                rel.delta,
                rel.noise_scale,
                rel.threshold,
                rel.noisy_total,
                rel.cells_checksum,
                rel.source_checksum,
                rel.source_total,
                rel.created_at,
                cells,
            ),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return cur.rowcount == 1


def _header(row: tuple[Any, ...], cells: tuple[tuple[CellKey, int], ...] = ()) -> Release:
    rid, kind, period, first, last, prov, grid, eps, delta, scale, thr, total = row[:12]
    cks, sks, stot, at = row[12:]
    return Release(
        release_id=str(rid),
        kind=Dimension(kind),
        period=str(period),
        first_day=int(first),
        last_day=int(last),
        provisional=bool(prov),
        grid=tuple(Dimension(int(d)) for d in str(grid).split(",") if d),
        epsilon=float(eps),
        delta=float(delta),
        noise_scale=float(scale),
        threshold=int(thr),
        noisy_total=int(total),
        cells_checksum=str(cks),
        source_checksum=str(sks),
        source_total=int(stot),
        created_at=int(at),
        cells=cells,
    )


def headers(conn: sqlite3.Connection) -> list[Release]:
    """Every release without its cells, in (first_day, release_id) order."""
    sql = f"SELECT {_HEADER} FROM release ORDER BY first_day, release_id"  # noqa: S608
    return [_header(row) for row in conn.execute(sql)]


def cells(conn: sqlite3.Connection, rid: str) -> tuple[tuple[CellKey, int], ...]:
    """The released cells of ``rid`` (empty when there is no such release)."""
    row = conn.execute("SELECT cells FROM release WHERE release_id = ?", (rid,)).fetchone()
    if row is None:
        return ()
    return tuple((tuple(item[:-1]), int(item[-1])) for item in msgpack.unpackb(row[0]))

"""Batches in the outbox file: planned, built, re-read and refused (SQL on a caller's transaction).

The ``Outbox`` owns the connection, the lock and the transactions; these
functions are the steps it takes inside them, so each step's SQL sits in one
place. See ``agent.telemetry.outbox`` for the rules they implement.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from dataclasses import dataclass

from ratwatch_proto.limits import BATCH_ID_BYTES, DROPPED_TOOL_ID, MAX_ROW_COUNT

from agent.telemetry.counts import (
    EXPIRE_AFTER_DAYS,
    Batch,
    CountRow,
    parse_version,
    row_valid,
)
from agent.verdict import Outcome, Stage, Trigger

log = logging.getLogger("agent.telemetry.outbox")


@dataclass(frozen=True)
class BatchPlan:
    """What building the next batch would do (shared by ``take_batch`` and the preview)."""

    expired: int  # counts too old for the collector, dropped now
    row_ids: tuple[int, ...]
    rows: tuple[CountRow, ...]
    dropped_row: CountRow | None


def dropped(db: sqlite3.Connection) -> int:
    """Counts lost (bounds, age, refusal) and not yet reported."""
    row = db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
    return int(row[0]) if row else 0


def add_dropped(db: sqlite3.Connection, n: int) -> None:
    """Add ``n`` (may be negative once reported) to the dropped tally."""
    if n:
        db.execute(
            "INSERT INTO meta(key, value) VALUES ('dropped', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + ?",
            (str(n), n),
        )


def row_from_db(r: sqlite3.Row) -> CountRow:
    """A ``counts`` table row as a value."""
    return CountRow(
        utc_day=int(r["utc_day"]),
        tool_id=str(r["tool_id"]),
        trigger=Trigger(r["trigger"]),
        stage=Stage(r["stage"]),
        outcome=Outcome(r["outcome"]),
        count=int(r["count"]),
    )


def plan(db: sqlite3.Connection, today: int, batch_rows: int) -> BatchPlan:
    """What building the next batch would do now (read only)."""
    oldest_ok = today - EXPIRE_AFTER_DAYS
    expired = int(
        db.execute(
            "SELECT COALESCE(SUM(count), 0) FROM counts WHERE batch_id IS NULL AND utc_day < ?",
            (oldest_ok,),
        ).fetchone()[0]
    )
    lost = dropped(db) + expired
    room = batch_rows - (1 if lost else 0)
    taken = db.execute(
        "SELECT * FROM counts WHERE batch_id IS NULL AND utc_day >= ? ORDER BY row_id LIMIT ?",
        (oldest_ok, room),
    ).fetchall()
    dropped_row = None
    if lost:
        dropped_row = CountRow(
            today,
            DROPPED_TOOL_ID,
            Trigger.NONE,
            Stage.REMOTE_TOOL_STARTED,
            Outcome.NO_WARNING_SHOWN,
            min(lost, MAX_ROW_COUNT),
        )
    return BatchPlan(
        expired=expired,
        row_ids=tuple(int(r["row_id"]) for r in taken),
        rows=tuple(row_from_db(r) for r in taken),
        dropped_row=dropped_row,
    )


def build(
    db: sqlite3.Connection,
    p: BatchPlan,
    today: int,
    *,
    agent_version: tuple[int, int, int],
    catalogue_version: int,
    region: str,
) -> None:
    """Carry out a plan inside the caller's transaction: the new batch, with a fresh random id."""
    if p.expired:
        db.execute(
            "DELETE FROM counts WHERE batch_id IS NULL AND utc_day < ?",
            (today - EXPIRE_AFTER_DAYS,),
        )
        add_dropped(db, p.expired)
        log.info("outbox: %d counts too old for the collector were dropped", p.expired)
    db.execute("DELETE FROM claims WHERE utc_day < ?", (today - EXPIRE_AFTER_DAYS - 3,))
    batch_id = secrets.token_bytes(BATCH_ID_BYTES)
    db.execute(
        "INSERT INTO batches(batch_id, agent_version, catalogue_version, region) "
        "VALUES (?, ?, ?, ?)",
        (batch_id, ".".join(map(str, agent_version)), catalogue_version, region),
    )
    db.executemany(
        "UPDATE counts SET batch_id = ? WHERE row_id = ?",
        [(batch_id, rid) for rid in p.row_ids],
    )
    if p.dropped_row is not None:
        d = p.dropped_row
        db.execute(
            "INSERT INTO counts(utc_day, tool_id, trigger, stage, outcome, count, "
            "batch_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                d.utc_day,
                d.tool_id,
                d.trigger.value,
                d.stage.value,
                d.outcome.value,
                d.count,
                batch_id,
            ),
        )
        add_dropped(db, -d.count)


def in_flight(db: sqlite3.Connection) -> Batch | None:
    """The oldest batch in flight, as it was built (to be re-sent unchanged)."""
    head = db.execute("SELECT * FROM batches ORDER BY seq LIMIT 1").fetchone()
    if head is None:
        return None
    rows = db.execute(
        "SELECT * FROM counts WHERE batch_id = ? ORDER BY row_id", (head["batch_id"],)
    ).fetchall()
    return Batch(
        batch_id=bytes(head["batch_id"]),
        agent_version=parse_version(str(head["agent_version"])),
        catalogue_version=int(head["catalogue_version"]),
        region=str(head["region"]),
        rows=tuple(row_from_db(r) for r in rows),
    )


def reject(db: sqlite3.Connection, batch_id: bytes, today: int) -> str:
    """The collector refused the batch as invalid (nothing of it was written there).

    A refused batch would be refused forever, so it is never re-sent as is.
    Its rows go into new batches with fresh ids (safe: the collector wrote
    nothing of the refused one): rows that are invalid by our own checks are
    dropped and counted at once; if none are, the batch is split in halves
    so a bad row is isolated in a few steps; a refused single row is dropped
    and counted. Returns what was done, for the log.
    """
    head = db.execute("SELECT * FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
    if head is None:
        return "unknown batch"
    rows = db.execute(
        "SELECT * FROM counts WHERE batch_id = ? ORDER BY row_id", (batch_id,)
    ).fetchall()
    db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
    bad = [r for r in rows if not row_valid(row_from_db(r), today)]
    bad_ids = {r["row_id"] for r in bad}
    good = [r for r in rows if r["row_id"] not in bad_ids]
    if not bad and len(good) > 1:
        half = len(good) // 2
        groups = [good[:half], good[half:]]
        action = f"split {len(good)} rows in two"
    elif not bad:
        bad, groups = good, []
        action = "dropped the refused row" if good else "discarded an empty batch"
    else:
        groups = [good] if good else []
        action = f"dropped {len(bad)} invalid rows"
    lost = sum(int(r["count"]) for r in bad if r["tool_id"] != DROPPED_TOOL_ID)
    db.executemany("DELETE FROM counts WHERE row_id = ?", [(r["row_id"],) for r in bad])
    add_dropped(db, lost)
    for group in groups:
        new_id = secrets.token_bytes(BATCH_ID_BYTES)
        db.execute(
            "INSERT INTO batches(batch_id, agent_version, catalogue_version, region) "
            "VALUES (?, ?, ?, ?)",
            (new_id, head["agent_version"], head["catalogue_version"], head["region"]),
        )
        db.executemany(
            "UPDATE counts SET batch_id = ? WHERE row_id = ?",
            [(new_id, r["row_id"]) for r in group],
        )
    return action

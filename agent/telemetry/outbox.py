"""The outbox: anonymised counts waiting for the collector, durable in SQLite.

Each ``Resolution`` becomes at most one count per (UTC day, tool, trigger) on
this PC, and at most ROWS_PER_DAY keys a day (further keys are dropped and
counted), so one PC cannot dominate a table and every batch has the shape
the collector accepts (ratwatch_proto.limits). A later resolution for the same
(day, tool, trigger) while its count is still *pending* (not yet in a batch)
updates that row instead of adding one: the **furthest stage** wins, and the
**latest choice of the person** wins (a later "no warning shown" never
overwrites a real choice such as "stopped"). Once the count is in a batch it
is frozen (a batch is re-sent unchanged until acknowledged) and later
resolutions for that key are not counted at all: never twice.

Bounded by rows and bytes: when full, the oldest pending rows go first and
their counts are added to a "dropped" tally, which the next batch reports as
a row with the reserved tool id ``ratwatch.dropped``. Rows that would be too
old for the collector's day window are dropped (and counted) before a batch
is built. The in-flight batch and its rows live in the same database and
leave it only in the transaction that records the acknowledgement.

Only enums, a catalogue slug, a day number and counts are stored here; the
verdict's evidence, pids and names never reach this file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ratwatch_proto.limits import MAX_BATCH_ROWS, ROWS_PER_DAY, is_reserved, is_slug

from agent.errors import TelemetryError
from agent.redact import redact_home
from agent.telemetry import batches
from agent.telemetry.counts import (
    EXPIRE_AFTER_DAYS,
    Batch,
    merge,
    utc_day,
)
from agent.telemetry.outbox_schema import SCHEMA, connect
from agent.verdict import Outcome, Resolution, Stage

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"
MIN_MAX_BYTES = 64 * 1024  # below this the schema alone would not fit


@dataclass(frozen=True)
class OutboxStats:
    """How full the outbox is."""

    rows: int
    pending_rows: int
    in_flight_batches: int
    used_bytes: int
    dropped_unreported: int


class Outbox:
    """Counts waiting to be sent; the runtime's resolution sink and the reporter's source.

    Thread-safe (one connection behind a lock); other processes (the
    ``telemetry`` command) may open the same file at the same time (WAL).
    """

    def __init__(
        self,
        path: Path,
        *,
        max_rows: int = 10_000,
        max_bytes: int = 5 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
        opted_out: Callable[[], bool] = lambda: False,
    ) -> None:
        if max_rows < 1:
            raise TelemetryError(f"[telemetry].outbox_max_rows must be >= 1, got {max_rows}")
        if max_bytes < MIN_MAX_BYTES:
            raise TelemetryError(
                f"[telemetry].outbox_max_bytes must be >= {MIN_MAX_BYTES}, got {max_bytes}"
            )
        self.path = path
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.batch_rows = min(MAX_BATCH_ROWS, max_rows)
        self._clock = clock
        self._opted_out = opted_out
        self._lock = threading.Lock()
        try:
            self._db = self._open(path)
        except sqlite3.Error as exc:
            # The path is under the user's home by default, and this message reaches logs.
            where = redact_home(str(path))
            raise TelemetryError(f"{where}: cannot open the outbox: {exc}") from exc

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        """Open the file; one that is not a usable database is moved aside, not deleted."""
        db: sqlite3.Connection | None = None
        try:
            db = connect(path)
            db.executescript(SCHEMA)
            if db.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                return db
        except sqlite3.OperationalError:
            # Cannot open, locked (a virus scanner), disk I/O: the file may well be
            # fine, and moving it aside would throw away every count in it.
            if db is not None:
                db.close()
            raise
        except sqlite3.DatabaseError:
            pass  # not a database, or malformed: damaged
        if db is not None:
            db.close()
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                part.replace(aside.with_name(aside.name + suffix))
        log.error("outbox: the file was damaged; it was moved aside and a new one started")
        db = connect(path)
        db.executescript(SCHEMA)
        return db

    # --- plumbing ------------------------------------------------------------

    name = "outbox"

    def start(self) -> None:
        """Runtime service hook: the file is already open."""

    def stop(self) -> None:
        """Runtime service hook: close the file once nothing admits or sends any more."""
        self.close()

    def close(self) -> None:
        """Close the database (a checkpoint folds the WAL back into the file)."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so readers in other processes never block it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite ends the transaction itself on some errors (disk full, I/O):
                # a second ROLLBACK would hide the real cause behind "no transaction
                # is active", and a failed COMMIT must not leave one open for ever.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _today(self) -> int:
        return utc_day(self._clock())

    def _used_bytes(self, db: sqlite3.Connection) -> int:
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
        size = int(db.execute("PRAGMA page_size").fetchone()[0])
        return (pages - free) * size

    # --- the resolution sink ---------------------------------------------------

    def admit(self, resolution: Resolution) -> bool:
        """Count one resolution; True when it added a count (False: merged, duplicate, refused).

        This is the runtime's resolution sink: it never raises for a bad
        resolution, it logs (without personal data) and refuses it.
        """
        verdict = resolution.verdict
        if not is_slug(verdict.tool_id) or is_reserved(verdict.tool_id):
            log.warning("outbox: refused a verdict whose tool id is not a valid catalogue slug")
            return False
        day = utc_day(verdict.at)
        key = (day, verdict.tool_id, verdict.trigger.value)
        with self._write() as db:
            # Asked inside the write transaction: ``telemetry off`` writes its flag
            # before it deletes the unsent counts in its own transaction, so a count
            # either sees the flag or is deleted with the rest, never outlives the "no".
            if self._opted_out():
                return False
            today = self._today()
            if not today - EXPIRE_AFTER_DAYS <= day <= today + 1:
                # Too old for the collector (or from a clock far in the future): lost, and said so.
                batches.add_dropped(db, 1)
                log.info("outbox: a verdict dated outside the collector's window was dropped")
                return False
            claimed = db.execute(
                "SELECT 1 FROM claims WHERE utc_day = ? AND tool_id = ? AND trigger = ?", key
            ).fetchone()
            if claimed is not None:
                self._merge_pending(db, key, verdict.stage, resolution.outcome)
                return False
            if self._day_full(db, day):
                # One PC never counts more keys a day than the collector accepts.
                batches.add_dropped(db, 1)
                log.info("outbox: a verdict beyond the day's %d counts was dropped", ROWS_PER_DAY)
                return False
            db.execute("INSERT INTO claims(utc_day, tool_id, trigger) VALUES (?, ?, ?)", key)
            db.execute(
                "INSERT INTO counts(utc_day, tool_id, trigger, stage, outcome, count) "
                "VALUES (?, ?, ?, ?, ?, 1)",
                (*key, verdict.stage.value, resolution.outcome.value),
            )
            self._enforce_bounds(db)
            return True

    @staticmethod
    def _day_full(db: sqlite3.Connection, day: int) -> bool:
        """Whether ``day`` already has ROWS_PER_DAY claimed keys (a new key would be one more)."""
        claimed = db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM claims WHERE utc_day = ? LIMIT ?)",
            (day, ROWS_PER_DAY),
        ).fetchone()[0]
        return int(claimed) >= ROWS_PER_DAY

    def _merge_pending(
        self, db: sqlite3.Connection, key: tuple[int, str, str], stage: Stage, outcome: Outcome
    ) -> None:
        row = db.execute(
            "SELECT row_id, stage, outcome FROM counts "
            "WHERE utc_day = ? AND tool_id = ? AND trigger = ? AND batch_id IS NULL",
            key,
        ).fetchone()
        if row is None:  # already in a batch, sent, or dropped: frozen
            return
        new_stage, new_outcome = merge(Stage(row["stage"]), Outcome(row["outcome"]), stage, outcome)
        db.execute(
            "UPDATE counts SET stage = ?, outcome = ? WHERE row_id = ?",
            (new_stage.value, new_outcome.value, row["row_id"]),
        )

    def _evict(self, db: sqlite3.Connection, n: int) -> int:
        """Drop the ``n`` oldest pending rows, adding their counts to the dropped tally."""
        victims = db.execute(
            "SELECT row_id, count FROM counts WHERE batch_id IS NULL ORDER BY row_id LIMIT ?",
            (n,),
        ).fetchall()
        if victims:
            db.executemany("DELETE FROM counts WHERE row_id = ?", [(v[0],) for v in victims])
            batches.add_dropped(db, sum(int(v[1]) for v in victims))
        return len(victims)

    def _enforce_bounds(self, db: sqlite3.Connection) -> None:
        rows = int(db.execute("SELECT COUNT(*) FROM counts").fetchone()[0])
        if rows > self.max_rows:
            self._evict(db, rows - self.max_rows)
        while self._used_bytes(db) > self.max_bytes:
            pending = int(
                db.execute("SELECT COUNT(*) FROM counts WHERE batch_id IS NULL").fetchone()[0]
            )
            # Freed pages only show once a whole page empties: evict in small chunks.
            if self._evict(db, max(1, pending // 50)):
                continue
            # Only claims are left (thousands of distinct tools in the window: pathological).
            # Forgetting the oldest claims keeps the bound; the price is that a key
            # forgotten on its own day could be counted once more.
            if not db.execute(
                "DELETE FROM claims WHERE (utc_day, tool_id, trigger) IN "
                "(SELECT utc_day, tool_id, trigger FROM claims ORDER BY utc_day LIMIT 64)"
            ).rowcount:
                break

    # --- batches -------------------------------------------------------------------

    def preview(
        self, *, agent_version: tuple[int, int, int], catalogue_version: int, region: str
    ) -> Batch:
        """Exactly what the next upload will carry, without changing anything.

        The in-flight batch when there is one (it is re-sent unchanged), else
        the batch ``take_batch`` would build now (its id is drawn only then).
        """
        with self._lock:
            current = batches.in_flight(self._db)
            if current is not None:
                return current
            plan = batches.plan(self._db, self._today(), self.batch_rows)
        rows = plan.rows + ((plan.dropped_row,) if plan.dropped_row else ())
        return Batch(b"", agent_version, catalogue_version, region, rows)

    def take_batch(
        self, *, agent_version: tuple[int, int, int], catalogue_version: int, region: str
    ) -> Batch:
        """The batch to send now: the oldest in flight, else a new one (possibly empty).

        A new batch is written with its random id before it is returned, so it
        is durable before the first send and re-sent unchanged after a crash.
        """
        with self._write() as db:
            current = batches.in_flight(db)
            if current is not None:
                return current
            today = self._today()
            batches.build(
                db,
                batches.plan(db, today, self.batch_rows),
                today,
                agent_version=agent_version,
                catalogue_version=catalogue_version,
                region=region,
            )
            batch = batches.in_flight(db)
            assert batch is not None  # just written in this transaction
            return batch

    def acknowledge(self, batch_id: bytes) -> None:
        """The collector has the batch durably: its rows leave the outbox, in one transaction."""
        with self._write() as db:
            db.execute("DELETE FROM counts WHERE batch_id = ?", (batch_id,))
            db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
        self._give_back_space()

    def reject(self, batch_id: bytes) -> str:
        """The collector refused the batch as invalid (nothing of it was written there).

        A refused batch would be refused forever, so it is never re-sent as is.
        Its rows go into new batches with fresh ids (safe: the collector wrote
        nothing of the refused one): rows that are invalid by our own checks are
        dropped and counted at once; if none are, the batch is split in halves
        so a bad row is isolated in a few steps; a refused single row is dropped
        and counted. Returns what was done, for the log.
        """
        with self._write() as db:
            return batches.reject(db, batch_id, self._today())

    def discard_all(self) -> int:
        """Forget every count not yet acknowledged (the person turned telemetry off)."""
        with self._write() as db:
            n = int(db.execute("SELECT COALESCE(SUM(count), 0) FROM counts").fetchone()[0])
            db.execute("DELETE FROM counts")
            db.execute("DELETE FROM batches")
            db.execute("DELETE FROM claims")
            db.execute("DELETE FROM meta WHERE key = 'dropped'")
        self._give_back_space()
        return n

    def _give_back_space(self) -> None:
        with self._lock:
            self._db.execute("PRAGMA incremental_vacuum")

    # --- small persistent settings (the reporter's schedule) -------------------------

    def get_meta(self, key: str) -> str | None:
        """A value the reporter remembers across restarts."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Remember a value across restarts."""
        with self._write() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def stats(self) -> OutboxStats:
        """Row counts and size, for bounds checks and ``telemetry show``."""
        with self._lock:
            db = self._db
            rows = int(db.execute("SELECT COUNT(*) FROM counts").fetchone()[0])
            pending = int(
                db.execute("SELECT COUNT(*) FROM counts WHERE batch_id IS NULL").fetchone()[0]
            )
            flying = int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])
            return OutboxStats(rows, pending, flying, self._used_bytes(db), batches.dropped(db))

"""The embedded default store: SQLite in WAL mode, one writer thread doing group commit.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL`` fsyncs the WAL on
every commit, so a batch is acknowledged only once it would survive power
loss (``NORMAL`` would only survive a process crash). An fsync costs
milliseconds, so one writer thread takes every batch that queued up while
the previous commit was syncing and writes them all in one transaction
(group commit): the cost of a sync is shared by all batches waiting for it.

Dedupe: the writer looks up the group's batch ids and inserts the new ones
in the same transaction as the tally update, so a batch is either counted
and remembered, or neither. One writer means no other transaction can slip
in between the lookup and the insert.

Bounded memory of batch ids: validation rejects a batch once any of its rows
is older than MAX_AGE_DAYS, so a replay of a batch whose oldest row is day
``d`` can only be accepted up to day ``d + MAX_AGE_DAYS``. An id is kept
until then plus CLOCK_MARGIN_DAYS and then pruned: a later replay is refused
by validation and cannot be double-counted. Empty batches change no count,
so their ids are not stored at all (agents upload one every day).

Tallies are kept twice, per day and rolled up per month, both updated in
the same transaction. A year-long query grouped by tool or month then reads
~12 rows per cell from the month table instead of ~365 from the day table,
and only the partial months at either end of the range come from the day
table.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path

from collector.errors import StoreError
from collector.model import Batch, Cell, Dimension, IngestResult, Query
from collector.periods import day_label as _day_label
from collector.periods import (
    first_day_of_month,
    last_day_of_month,
    month_label,
    month_of_day,
    quarter_label,
    week_label,
    week_start_sql,
)
from collector.validate import MAX_AGE_DAYS

log = logging.getLogger(__name__)

DB_NAME = "collector.sqlite3"
SCHEMA_VERSION = 1
CLOCK_MARGIN_DAYS = 2  # seen ids outlive their acceptance window by this much
MAX_GROUP = 500  # batches per transaction (bounds the IN list and commit latency)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tally_day (
    day INTEGER NOT NULL, tool_id TEXT NOT NULL, trigger INTEGER NOT NULL,
    stage INTEGER NOT NULL, outcome INTEGER NOT NULL, region TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, tool_id, trigger, stage, outcome, region)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tally_month (
    month INTEGER NOT NULL, tool_id TEXT NOT NULL, trigger INTEGER NOT NULL,
    stage INTEGER NOT NULL, outcome INTEGER NOT NULL, region TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (month, tool_id, trigger, stage, outcome, region)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_batch (
    batch_id BLOB PRIMARY KEY, keep_until INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_batch_keep_until ON seen_batch (keep_until);
"""

_UPSERT = (
    "INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET count = count + excluded.count"
)

# Non-time dimensions and their columns.
_COLUMNS = {
    Dimension.TOOL: "tool_id",
    Dimension.TRIGGER: "trigger",
    Dimension.STAGE: "stage",
    Dimension.OUTCOME: "outcome",
    Dimension.REGION: "region",
}

_Item = tuple[Batch, "Future[IngestResult]"]
_STOP = object()


class SqliteStore:
    """SQLite tallies under ``data_dir``; see the module docstring for the design."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        read_only: bool = False,
    ) -> None:
        self.path = Path(data_dir).absolute() / DB_NAME
        self._clock = clock
        self._read_only = read_only
        self._closed = False
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        try:
            if read_only:
                if not self.path.is_file():
                    raise StoreError(f"{self.path}: no collector database here")
                self._reader = sqlite3.connect(
                    f"{self.path.as_uri()}?mode=ro", uri=True, check_same_thread=False
                )
                self._check_schema(self._reader)
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.executescript(_SCHEMA)
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._check_schema(self._conn)
            self._reader = sqlite3.connect(self.path, check_same_thread=False)
            self._reader.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from exc
        self._pruned_day = -1
        self._writer = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._writer.start()

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: database schema version {version}, this collector reads "
                f"version {SCHEMA_VERSION}"
            )

    # --- ingest ---------------------------------------------------------------

    def submit(self, batch: Batch) -> Future[IngestResult]:
        """Queue ``batch`` for the next group commit; resolves once durable."""
        fut: Future[IngestResult] = Future()
        with self._lock:
            if self._closed or self._read_only:
                raise StoreError(
                    "the store is closed" if self._closed else "the store is read-only"
                )
            self._queue.put((batch, fut))
        return fut

    def ingest(self, batch: Batch) -> IngestResult:
        """Blocking ``submit``."""
        return self.submit(batch).result()

    def _run(self) -> None:
        """Writer thread: take what has queued up, commit it as one transaction."""
        get, get_nowait = self._queue.get, self._queue.get_nowait
        stopping = False
        while not stopping:
            first = get()
            if first is _STOP:
                break
            group: list[_Item] = [first]  # type: ignore[list-item]
            while len(group) < MAX_GROUP:
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)  # type: ignore[arg-type]
            self._commit(group)

    def _commit(self, group: list[_Item]) -> None:
        try:
            results = self._write(group)
        except sqlite3.Error as exc:
            log.error("commit of %d batches failed: %s", len(group), exc)
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            error = StoreError(f"the database could not be written: {exc}")
            for _, fut in group:
                fut.set_exception(error)
            return
        for (_, fut), result in zip(group, results, strict=True):
            fut.set_result(result)

    def _write(self, group: list[_Item]) -> list[IngestResult]:
        conn = self._conn
        today = int(self._clock() // 86400)
        ids = [b.batch_id for b, _ in group]
        conn.execute("BEGIN IMMEDIATE")
        seen = {
            row[0]
            for row in conn.execute(
                # Only "?" placeholders are formatted in; the ids are bound parameters.
                f"SELECT batch_id FROM seen_batch WHERE batch_id IN ({','.join('?' * len(ids))})",  # noqa: S608
                ids,
            )
        }
        new_ids: list[tuple[bytes, int]] = []
        days: dict[tuple[int, str, int, int, int, str], int] = {}
        results: list[IngestResult] = []
        for batch, _ in group:
            rows = batch.rows
            if not rows:
                results.append(IngestResult(duplicate=False, rows_accepted=0))
                continue
            if batch.batch_id in seen:
                results.append(IngestResult(duplicate=True, rows_accepted=0))
                continue
            seen.add(batch.batch_id)
            oldest = min(r.day for r in rows)
            new_ids.append((batch.batch_id, oldest + MAX_AGE_DAYS + CLOCK_MARGIN_DAYS))
            region = batch.region
            for day, tool_id, trigger, stage, outcome, count in rows:
                key = (day, tool_id, trigger, stage, outcome, region)
                days[key] = days.get(key, 0) + count
            results.append(IngestResult(duplicate=False, rows_accepted=len(rows)))
        if new_ids:
            conn.executemany("INSERT INTO seen_batch VALUES (?, ?)", new_ids)
            months: dict[tuple[int, str, int, int, int, str], int] = {}
            for (day, tool_id, trigger, stage, outcome, reg), count in days.items():
                mkey = (month_of_day(day), tool_id, trigger, stage, outcome, reg)
                months[mkey] = months.get(mkey, 0) + count
            conn.executemany(_UPSERT.format(table="tally_day"), _flat(days))
            conn.executemany(_UPSERT.format(table="tally_month"), _flat(months))
        if today != self._pruned_day:
            # Once a day: forget ids whose batches validation would now refuse anyway.
            conn.execute("DELETE FROM seen_batch WHERE keep_until < ?", (today,))
            self._pruned_day = today
        conn.execute("COMMIT")
        return results

    # --- queries --------------------------------------------------------------

    def query(self, query: Query) -> list[Cell]:
        """Grouped counts; see the module docstring for the day/month split."""
        cells: dict[tuple[str | int, ...], int] = {}
        period = query.period
        dims = [d for d in query.group_by if d not in (period,)]
        cols = [_COLUMNS[d] for d in dims]
        where, params = _filters(query)
        parts = _plan(query)
        try:
            with self._read_lock:
                for table, lo, hi in parts:
                    tcol = "day" if table == "tally_day" else "month"
                    texpr = (
                        week_start_sql("day")
                        if period is Dimension.WEEK
                        else (tcol if period is not None else None)
                    )
                    select = [*cols, *([texpr] if texpr else [])]
                    conds = list(where)
                    bounds: list[int] = []
                    if lo is not None:
                        conds.append(f"{tcol} >= ?")
                        bounds.append(lo)
                    if hi is not None:
                        conds.append(f"{tcol} <= ?")
                        bounds.append(hi)
                    # Column and table names come from fixed tables in this module;
                    # every value is a bound parameter.
                    sql = f"SELECT {', '.join([*select, 'SUM(count)'])} FROM {table}"  # noqa: S608
                    if conds:
                        sql += " WHERE " + " AND ".join(conds)
                    if select:
                        sql += " GROUP BY " + ", ".join(select)
                    label = _labeler(period, table)
                    for row in self._reader.execute(sql, [*bounds, *params]):
                        total = row[-1]
                        if total is None:
                            continue
                        values = list(row[: len(cols)])
                        if label is not None:
                            values.append(label(row[len(cols)]))
                        key = _order(query.group_by, dims, values, period)
                        cells[key] = cells.get(key, 0) + total
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: query failed: {exc}") from exc
        return [Cell(k, v) for k, v in cells.items()]

    # --- lifecycle ------------------------------------------------------------

    def close(self) -> None:
        """Commit everything queued, checkpoint the WAL, close the connections."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._writer is not None:
                self._queue.put(_STOP)
        if self._writer is not None:
            self._writer.join()
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # a reader may hold it; the WAL stays valid
                log.warning("WAL checkpoint at close skipped: %s", exc)
            self._conn.close()
        self._reader.close()


def _flat(
    cells: dict[tuple[int, str, int, int, int, str], int],
) -> Iterable[tuple[int, str, int, int, int, str, int]]:
    return ((*k, v) for k, v in cells.items())


def _filters(query: Query) -> tuple[list[str], list[str | int]]:
    conds: list[str] = []
    params: list[str | int] = []
    for column, values in (
        ("tool_id", query.tool_ids),
        ("trigger", query.triggers),
        ("stage", query.stages),
        ("outcome", query.outcomes),
        ("region", query.regions),
    ):
        if values:
            conds.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(sorted(values))
    return conds, params


def _plan(query: Query) -> list[tuple[str, int | None, int | None]]:
    """Split the day range into day-table edges and whole months from the month table."""
    lo, hi = query.since_day, query.until_day
    if query.period in (Dimension.DAY, Dimension.WEEK):
        return [("tally_day", lo, hi)]
    parts: list[tuple[str, int | None, int | None]] = []
    month_lo = month_hi = None
    if lo is not None:
        m = month_of_day(lo)
        month_lo = m if lo == first_day_of_month(m) else m + 1
    if hi is not None:
        m = month_of_day(hi)
        month_hi = m if hi == last_day_of_month(m) else m - 1
    if month_lo is not None and month_hi is not None and month_lo > month_hi:
        return [("tally_day", lo, hi)]  # no whole month inside the range
    if lo is not None and month_lo is not None and lo < first_day_of_month(month_lo):
        parts.append(("tally_day", lo, first_day_of_month(month_lo) - 1))
    parts.append(("tally_month", month_lo, month_hi))
    if hi is not None and month_hi is not None and hi > last_day_of_month(month_hi):
        parts.append(("tally_day", last_day_of_month(month_hi) + 1, hi))
    return parts


def _labeler(period: Dimension | None, table: str) -> Callable[[int], str] | None:
    if period is None:
        return None
    if period is Dimension.DAY:
        return _day_label
    if period is Dimension.WEEK:
        return week_label
    to_label = month_label if period is Dimension.MONTH else quarter_label
    if table == "tally_month":
        return to_label
    return lambda day: to_label(month_of_day(day))


def _order(
    group_by: tuple[Dimension, ...],
    dims: list[Dimension],
    values: list[str | int],
    period: Dimension | None,
) -> tuple[str | int, ...]:
    """Values (non-time dims, then the period label) rearranged into group_by order."""
    if period is None:
        return tuple(values)
    by_dim = dict(zip([*dims, period], values, strict=True))
    return tuple(by_dim[d] for d in group_by)

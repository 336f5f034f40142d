"""The embedded default store: SQLite in WAL mode, one writer thread doing group commit.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL`` fsyncs the WAL on
every commit, so a batch is acknowledged only once it would survive power
loss (``NORMAL`` would only survive a process crash). An fsync costs
milliseconds, so one writer thread takes every batch that queued up while
the previous commit was syncing and writes them all in one transaction
(group commit): the cost of a sync is shared by all batches waiting for it.

Dedupe: the writer looks up the group's batch ids and inserts the new ones
in the same transaction as the batches' counts, so a batch is either counted
and remembered, or neither. One writer means no other transaction can slip
in between the lookup and the insert.

Bounded memory of batch ids: validation rejects a batch once any of its rows
is older than MAX_AGE_DAYS, so a replay of a batch whose oldest row is day
``d`` can only be accepted up to day ``d + MAX_AGE_DAYS``. An id is kept
until then plus CLOCK_MARGIN_DAYS and then pruned: a later replay is refused
by validation and cannot be double-counted. Empty batches change no count,
so their ids are not stored at all (agents upload one every day).

Two-step tallies: a group's commit writes its batch ids and one row to
``pending`` holding the group's rows (MessagePack, see
collector.sqlite_schema) — a fixed handful of statements however large the
group — and, once committed, adds the rows to
sums kept in memory. Every FOLD_SECONDS or FOLD_ROWS (and when idle, at
close and at open) the writer adds those sums to the tally tables and
empties ``pending``, in one transaction, so each tally row is touched once
per fold instead of once per batch. Folding moves counts atomically;
queries read the tallies and the pending rows in one snapshot (see
collector.sqlite_query), so an acknowledged batch is visible at once and
never counted twice. The sums are only right if nobody else writes the
database, so a writable store holds an exclusive lock on its data dir
(``collector.lock``); what a crashed run left in ``pending`` is summed from
disk at open.

Tallies are kept per day and per month, each with every dimension and
tool-and-region only; see collector.sqlite_schema for the tables and
collector.sqlite_query for how queries use them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import operator
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path

from filelock import BaseFileLock, FileLock, Timeout
from ratwatch_proto.limits import MAX_AGE_DAYS

from collector import metrics, sqlite_release, sqlite_schema, sqlite_tokens
from collector.errors import SchemaError, StoreError
from collector.model import Batch, Cell, CellKey, IngestResult, Query, Release, RowTuple
from collector.periods import month_of_day
from collector.sqlite_query import run_query
from collector.sqlite_schema import CellPacker, staged_token_rows
from collector.store import MAX_GROUP

log = logging.getLogger(__name__)

DB_NAME = "collector.sqlite3"
LOCK_NAME = "collector.lock"
CLOCK_MARGIN_DAYS = 2  # seen ids outlive their acceptance window by this much
FOLD_SECONDS = 2.0  # how long committed cells may wait in `pending` while busy
FOLD_ROWS = 200_000  # ... and how many (queries read `pending` row by row)


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    """One statement that adds a JSON array of [[key...], count] items to ``table``."""
    values = ", ".join(
        [
            *(f"json_extract(value, '$[0][{i}]')" for i in range(len(columns))),
            "json_extract(value, '$[1]')",
        ]
    )
    return (
        f"INSERT INTO {table} ({', '.join(columns)}, count) "  # noqa: S608 - fixed names
        f"SELECT {values} FROM json_each(?) WHERE true "
        "ON CONFLICT DO UPDATE SET count = count + excluded.count"
    )


_FULL_KEY = ("tool_id", "trigger", "stage", "outcome", "region")
_UPSERT_DAY = _upsert("tally_day", ("day", *_FULL_KEY))
_UPSERT_MONTH = _upsert("tally_month", ("month", *_FULL_KEY))
_UPSERT_TOOL_DAY = _upsert("tool_day", ("day", "tool_id", "region"))
_UPSERT_TOOL_MONTH = _upsert("tool_month", ("month", "tool_id", "region"))
_SEEN = """
SELECT json_group_array(json_array(id_hi, id_lo)) FROM seen_batch
WHERE (id_hi, id_lo) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)
)
"""
_REMEMBER = (
    "INSERT INTO seen_batch (id_hi, id_lo, keep_until) SELECT json_extract(value, '$[0]'), "
    "json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)"
)


# Compact and without the circular-reference check: these are plain lists of
# numbers and strings, encoded thousands of times a second.
_json = json.JSONEncoder(check_circular=False, separators=(",", ":")).encode
_day = operator.itemgetter(0)  # of a row


def id_halves(batch_id: bytes) -> tuple[int, int]:
    """A 16-byte batch id as two signed 64-bit integers."""
    return (
        int.from_bytes(batch_id[:8], "big", signed=True),
        int.from_bytes(batch_id[8:], "big", signed=True),
    )


_Item = tuple[Sequence[Batch], "Future[list[IngestResult]]"]
_STOP = object()


class _Task:
    """Work other than a commit that must run on the writer thread (e.g. a purge)."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.done: Future[object] = Future()

    def run(self) -> None:
        try:
            self.done.set_result(self.fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's future
            self.done.set_exception(exc)


_DayKey = tuple[int, str, int, int, int, str]  # day, tool_id, trigger, stage, outcome, region


def _lock_data_dir(data_dir: Path) -> BaseFileLock:
    """Hold the data dir for this process: a second writer would break the in-memory sums."""
    # Not thread-local: close() may run on another thread than the one that opened.
    lock = FileLock(data_dir / LOCK_NAME, blocking=False, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise StoreError(
            f"{data_dir}: another ratwatch collector is using this data dir; stop it first, "
            "or give this one its own --data-dir"
        ) from None
    except OSError as exc:
        raise StoreError(f"{data_dir}: cannot lock the data dir: {exc.strerror}") from exc
    return lock


class SqliteStore:
    """SQLite tallies under ``data_dir``; see the module docstring for the design."""

    _sums: dict[_DayKey, int]
    _token_sums: dict[sqlite_tokens.TokenKey, int]  # the same cells per token

    def __init__(  # noqa: PLR0915 - opening is one sequence of steps, each undone on failure
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
        self._release_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        opened: list[sqlite3.Connection] = []
        try:
            if read_only:
                if not self.path.is_file():
                    raise StoreError(f"{self.path}: no collector database here")
                self._reader = sqlite3.connect(
                    f"{self.path.as_uri()}?mode=ro",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                )
                opened.append(self._reader)
                sqlite_schema.check(self._reader)
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"{self.path.parent}: cannot create the data dir: {exc.strerror}"
                ) from exc
            self._dir_lock = _lock_data_dir(self.path.parent)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            opened.append(self._conn)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.execute("PRAGMA cache_size=-65536")
            sqlite_schema.prepare(self._conn)
            self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            opened.append(self._reader)
            self._reader.execute("PRAGMA query_only=ON")
            # Releases are written rarely and apart from the tallies (never
            # by the writer thread, whose in-memory sums they do not touch).
            self._release_conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            opened.append(self._release_conn)
            self._release_conn.execute("PRAGMA busy_timeout=10000")
        except (sqlite3.Error, ValueError, SchemaError) as exc:
            # ValueError: staged cells an upgrade could not read.
            for conn in opened:
                conn.close()
            if not read_only:
                self._dir_lock.release()
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from exc
        self._pruned_day = -1
        self._pack = CellPacker()
        # What `pending` holds, summed: this store is the database's only
        # writer (the data dir lock), so a fold needs no second read of it.
        self._sums, self._token_sums = {}, {}
        self._unfolded_rows = 0
        self._folded_at = time.monotonic()
        try:
            self._load_pending()
        except (sqlite3.Error, ValueError) as exc:  # ValueError: unreadable staged cells
            self._conn.close()
            self._reader.close()
            self._release_conn.close()
            self._dir_lock.release()
            raise StoreError(f"{self.path}: cannot read the staged tallies: {exc}") from exc
        self._writer = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._writer.start()

    # --- ingest ---------------------------------------------------------------

    def submit_group(self, batches: Sequence[Batch]) -> Future[list[IngestResult]]:
        """Queue ``batches`` for the next commit; resolves once all are durable."""
        fut: Future[list[IngestResult]] = Future()
        with self._lock:
            if self._closed or self._read_only:
                raise StoreError(
                    "the store is closed" if self._closed else "the store is read-only"
                )
            self._queue.put((batches, fut))
        return fut

    def ingest(self, batch: Batch) -> IngestResult:
        """Blocking ``submit_group`` of one batch."""
        return self.submit_group((batch,)).result()[0]

    def _run(self) -> None:
        """Writer thread: commit whatever groups have queued up as one; fold when due or idle.

        Callers gather batches into groups themselves (the collector's event
        loop sends everything that arrived during the previous commit), so
        the writer never waits for more: it takes what is queued and commits.
        """
        get, get_nowait = self._queue.get, self._queue.get_nowait
        self._fold()  # cells a previous run left pending
        stopping = False
        while not stopping:
            try:
                first = get(timeout=FOLD_SECONDS if self._unfolded_rows else None)
            except queue.Empty:
                self._fold()  # idle: make the tallies current
                continue
            if first is _STOP:
                break
            if isinstance(first, _Task):
                first.run()
                continue
            items: list[_Item] = [first]  # type: ignore[list-item]
            size = len(items[0][0])
            while size < MAX_GROUP:
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                if isinstance(item, _Task):
                    self._queue.put(item)  # after this commit; tasks are rare
                    break
                items.append(item)  # type: ignore[arg-type]
                size += len(item[0])  # type: ignore[index]
            self._commit(items)
            if self._unfolded_rows >= FOLD_ROWS or (
                self._unfolded_rows and time.monotonic() - self._folded_at >= FOLD_SECONDS
            ):
                self._fold()
        self._fold()

    def _load_pending(self) -> None:
        """Sum what a previous run left in ``pending`` (it stopped before folding)."""
        sums, token_sums = self._sums, self._token_sums
        blobs = (cells for (cells,) in self._conn.execute("SELECT cells FROM pending"))
        for token, day, tool_id, trigger, stage, outcome, reg, count in staged_token_rows(blobs):
            k = (day, tool_id, trigger, stage, outcome, reg)
            sums[k] = sums.get(k, 0) + count
            tk = (token, *k)
            token_sums[tk] = token_sums.get(tk, 0) + count
            self._unfolded_rows += 1

    def _fold(self) -> None:
        """Move every pending cell into the tally tables, in one transaction."""
        self._folded_at = time.monotonic()
        if not self._unfolded_rows:
            return
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._add_tallies(self._sums)
            conn.execute(sqlite_tokens.UPSERT, (_json(list(self._token_sums.items())),))
            conn.execute("DELETE FROM pending")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # The rows stay in `pending` (durable, and counted by queries): retry later.
            log.error("folding pending tallies failed, will retry: %s", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return
        self._sums = {}
        self._token_sums = {}
        self._unfolded_rows = 0

    def _add_tallies(self, days: dict[_DayKey, int]) -> None:
        months: dict[tuple[int, str, int, int, int, str], int] = {}
        tool_days: dict[tuple[int, str, str], int] = {}
        tool_months: dict[tuple[int, str, str], int] = {}
        for (day, tool_id, trigger, stage, outcome, reg), count in days.items():
            month = month_of_day(day)
            mk = (month, tool_id, trigger, stage, outcome, reg)
            months[mk] = months.get(mk, 0) + count
            tk = (day, tool_id, reg)
            tool_days[tk] = tool_days.get(tk, 0) + count
            tk = (month, tool_id, reg)
            tool_months[tk] = tool_months.get(tk, 0) + count
        for sql, cells in (
            (_UPSERT_DAY, days),
            (_UPSERT_MONTH, months),
            (_UPSERT_TOOL_DAY, tool_days),
            (_UPSERT_TOOL_MONTH, tool_months),
        ):
            # dict items encode as [[key...], count] without a Python-level loop.
            self._conn.execute(sql, (_json(list(cells.items())),))

    def _commit(self, items: list[_Item]) -> None:
        batches = [b for group, _ in items for b in group]
        started = time.perf_counter()
        try:
            results = self._write(batches)
        except sqlite3.Error as exc:
            log.error("commit of %d batches failed: %s", len(batches), exc)
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            error = StoreError(f"the database could not be written: {exc}")
            for _, fut in items:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(error)
            return
        metrics.COMMIT_SECONDS.labels("sqlite").observe(time.perf_counter() - started)
        metrics.COMMIT_BATCHES.labels("sqlite").observe(len(batches))
        start = 0
        for group, fut in items:
            end = start + len(group)
            if fut.set_running_or_notify_cancel():  # False: the caller gave up waiting
                fut.set_result(results[start:end])
            start = end

    def _write(self, batches: list[Batch]) -> list[IngestResult]:
        """Commit a group's ids and summed cells, in a fixed handful of statements.

        Every sqlite3 call releases the GIL and must win it back from the
        event loop thread, which under load can take a whole switch
        interval. So nothing here is per row or per batch: ids and cells go
        to SQLite as JSON, and the tally tables are updated later by _fold.
        """
        conn = self._conn
        today = int(self._clock() // 86400)
        halves = [id_halves(b.batch_id) for b in batches]
        conn.execute("BEGIN IMMEDIATE")
        (found,) = conn.execute(_SEEN, (_json(halves),)).fetchone()
        seen = {(hi, lo) for hi, lo in json.loads(found)}
        remember: list[tuple[int, int, int]] = []
        fresh: list[tuple[str, tuple[RowTuple, ...], str]] = []
        results: list[IngestResult] = []
        for batch, key in zip(batches, halves, strict=True):
            rows = batch.rows
            if not rows:
                results.append(IngestResult(duplicate=False, rows_accepted=0))
                continue
            if key in seen:
                results.append(IngestResult(duplicate=True, rows_accepted=0))
                continue
            seen.add(key)
            oldest = min(map(_day, rows))
            remember.append((*key, oldest + MAX_AGE_DAYS + CLOCK_MARGIN_DAYS))
            fresh.append((batch.region, rows, batch.token))
            results.append(IngestResult(duplicate=False, rows_accepted=len(rows)))
        if remember:
            conn.execute(_REMEMBER, (_json(remember),))
            # The rows as they came: summing them into the tally tables is
            # left to _fold, which does a whole interval's worth at once.
            conn.execute("INSERT INTO pending (cells) VALUES (?)", (self._pack(fresh),))
        if today != self._pruned_day:
            # Once a day: forget ids whose batches validation would now refuse anyway.
            conn.execute("DELETE FROM seen_batch WHERE keep_until < ?", (today,))
            self._pruned_day = today
        conn.execute("COMMIT")
        sums, token_sums = self._sums, self._token_sums
        for region, rows, token in fresh:  # committed: now part of what the next fold adds
            for day, tool_id, trigger, stage, outcome, count in rows:
                k = (day, tool_id, trigger, stage, outcome, region)
                sums[k] = sums.get(k, 0) + count
                tk = (token, *k)
                token_sums[tk] = token_sums.get(tk, 0) + count
            self._unfolded_rows += len(rows)
        return results

    # --- queries --------------------------------------------------------------

    def query(self, query: Query) -> list[Cell]:
        """Grouped counts; see collector.sqlite_query for which tables answer."""
        try:
            with self._read_lock:
                return run_query(self._reader, query)
        except (sqlite3.Error, ValueError) as exc:  # ValueError: unreadable staged cells
            raise StoreError(f"{self.path}: query failed: {exc}") from exc

    def seen(self, batch_id: bytes) -> bool:
        """Whether ``batch_id`` is in the remembered set of acknowledged ids."""
        hi, lo = id_halves(batch_id)
        try:
            with self._read_lock:
                found = self._reader.execute(
                    "SELECT 1 FROM seen_batch WHERE id_hi = ? AND id_lo = ?", (hi, lo)
                ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: lookup failed: {exc}") from exc
        return found is not None

    # --- per-token tallies (collector.sqlite_tokens) ---------------------------

    def token_volume(self, since_day: int) -> dict[tuple[str, int], dict[str, int]]:
        """``{(token, day): {tool_id: count}}`` from ``since_day`` on."""
        try:
            with self._read_lock:
                return sqlite_tokens.volume(self._reader, since_day)
        except (sqlite3.Error, ValueError) as exc:
            raise StoreError(f"{self.path}: token volume query failed: {exc}") from exc

    def purge_token(self, token: str, since_day: int) -> int:
        """Remove every count ``token`` added from ``since_day`` on; returns how many."""
        if self._read_only or self._writer is None:
            raise StoreError("the store is read-only")

        def purge() -> int:
            self._fold()
            if self._unfolded_rows:
                raise StoreError("staged tallies could not be folded; nothing was purged")
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                removed = sqlite_tokens.purge(conn, token, since_day)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return removed

        task = _Task(purge)
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            self._queue.put(task)
        try:
            removed = task.done.result()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: purge failed: {exc}") from exc
        assert isinstance(removed, int)
        return removed

    # --- releases -------------------------------------------------------------

    def put_release(self, release: Release) -> bool:
        """Insert ``release`` once; see collector.sqlite_release."""
        if self._read_only:
            raise StoreError("the store is read-only: releases are made by the collector")
        try:
            with self._release_lock:
                if self._closed:
                    raise StoreError("the store is closed")
                return sqlite_release.put(self._release_conn, release)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: storing release {release.release_id}: {exc}") from exc

    def releasing(self) -> AbstractContextManager[bool]:
        """Always this store's: the data dir lock makes it the only writer."""
        return contextlib.nullcontext(True)

    def release_headers(self) -> list[Release]:
        """Every release's header."""
        try:
            with self._read_lock:
                return sqlite_release.headers(self._reader)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: reading releases failed: {exc}") from exc

    def release_cells(self, release_id: str) -> tuple[tuple[CellKey, int], ...]:
        """One release's cells."""
        try:
            with self._read_lock:
                return sqlite_release.cells(self._reader, release_id)
        except (sqlite3.Error, ValueError) as exc:  # ValueError: an unreadable blob
            raise StoreError(f"{self.path}: reading release {release_id} failed: {exc}") from exc

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
            with self._release_lock:
                self._release_conn.close()
            self._dir_lock.release()
        self._reader.close()

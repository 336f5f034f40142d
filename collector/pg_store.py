"""The shared store: PostgreSQL through a psycopg 3 connection pool, for N collectors.

Any number of collector processes, on one machine or several, write to one
database directly; there is no collector-side writer process. Each
process's writer thread takes whatever groups queued up meanwhile and
commits them in one transaction (group commit, as SqliteStore does), so the
cost of a commit's WAL flush is shared by every batch in it.

Idempotent ingest, in that one transaction:
1. the group's batch ids (sorted) go in with ``INSERT ... ON CONFLICT DO
   NOTHING RETURNING id``: what comes back is exactly the ids that are new,
   also when another collector is inserting the same id at this moment
   (PostgreSQL makes the second inserter wait for the first to commit or
   roll back, then report the conflict);
2. the rows of the new batches only are summed per key in Python, and
   upserted (``ON CONFLICT DO UPDATE SET count = count + excluded.count``)
   into the day and month tallies in key order.
Every transaction takes its row locks in one global order (ids ascending,
then day tallies by key, then month tallies by key), so two collectors'
transactions can wait for each other but never deadlock. Hot rows: each
upsert lands in the writing connection's slot (collector.pg_schema), so two
commits touching today's TeamViewer cell take different rows.

Durability is PostgreSQL's: a future resolves only after COMMIT returned,
which with the default ``synchronous_commit = on`` means flushed to the
server's WAL. A collector killed mid-transaction leaves nothing: the server
rolls back what was not committed, and nothing uncommitted was acknowledged.
A batch re-sent to another collector finds its id (step 1) and counts once.

Ids are forgotten after the same window as in SQLite (see
collector.sqlite_store): pruning runs once a day per process in its own
transaction, so it never holds an ingest's locks.
"""

from __future__ import annotations

import logging
import operator
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout
from ratwatch_proto.limits import MAX_AGE_DAYS

from collector import metrics, pg_release, pg_schema, pg_tokens
from collector.errors import SchemaError, StoreError
from collector.model import Batch, Cell, CellKey, IngestResult, Query, Release
from collector.periods import month_of_day
from collector.pg_query import run_query
from collector.store import MAX_GROUP

log = logging.getLogger(__name__)

CLOCK_MARGIN_DAYS = 2  # as in collector.sqlite_store: ids outlive their window by this much
CONNECT_SECONDS = 10
RETRIES = 3  # a deadlock or serialization failure is retried (neither should happen)

_REMEMBER = """
INSERT INTO seen_batch (id, keep_until)
SELECT id, keep_until
FROM unnest(%s::bytea[], %s::integer[]) WITH ORDINALITY AS u(id, keep_until, n)
ORDER BY n
ON CONFLICT DO NOTHING
RETURNING id
"""


def _upsert(table: str, time: str) -> str:
    """Add summed rows (arrays in key order) to ``table`` in the writing connection's slot."""
    return f"""
INSERT INTO {table} AS t ({time}, tool_id, trigger, stage, outcome, region, slot, count)
SELECT k, tool_id, trigger, stage, outcome, region, pg_backend_pid() %% {pg_schema.SLOTS}, c
FROM unnest(%s::integer[], %s::text[], %s::smallint[], %s::smallint[], %s::smallint[],
            %s::text[], %s::bigint[])
     WITH ORDINALITY AS u(k, tool_id, trigger, stage, outcome, region, c, n)
ORDER BY n
ON CONFLICT ({time}, tool_id, trigger, stage, outcome, region, slot)
DO UPDATE SET count = t.count + excluded.count
"""  # noqa: S608 - fixed table and column names


_UPSERT_DAY = _upsert("tally_day", "day")
_UPSERT_MONTH = _upsert("tally_month", "month")
_day = operator.itemgetter(0)
_Key = tuple[int, str, int, int, int, str]
_Item = tuple[Sequence[Batch], "Future[list[IngestResult]]"]
_STOP = object()


def describe_dsn(dsn: str) -> str:
    """The database a DSN names, for messages: host, port and dbname, never a password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "PostgreSQL (unparsable DSN)"
    shown = [f"{k}={parts[k]}" for k in ("host", "port", "dbname") if parts.get(k)]
    return "PostgreSQL " + (" ".join(shown) if shown else "(libpq defaults)")


def _columns(cells: dict[_Key, int]) -> list[list[object]]:
    """Summed cells as seven parallel arrays, in key order."""
    items = sorted(cells.items())
    return [
        [k[0] for k, _ in items],
        [k[1] for k, _ in items],
        [k[2] for k, _ in items],
        [k[3] for k, _ in items],
        [k[4] for k, _ in items],
        [k[5] for k, _ in items],
        [c for _, c in items],
    ]


class PgStore:
    """Tallies in PostgreSQL; see the module docstring for the design."""

    def __init__(
        self,
        dsn: str,
        *,
        clock: Callable[[], float] = time.time,
        read_only: bool = False,
        pool_size: int = 4,
    ) -> None:
        self.where = describe_dsn(dsn)
        self._clock = clock
        self._read_only = read_only
        self._closed = False
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._pruned_day = -1
        self._writer: threading.Thread | None = None
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_SECONDS) as conn:
                if not read_only and pg_schema.version(conn) == 0:
                    pg_schema.upgrade(conn)  # a new, empty database: create the tables
                pg_schema.check(conn)
        except SchemaError as exc:
            raise StoreError(f"{self.where}: {exc}") from None
        except psycopg.Error as exc:
            why = _first_line(exc)
            raise StoreError(f"{self.where}: cannot open the database: {why}") from None
        self._pool: ConnectionPool[psycopg.Connection[TupleRow]] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_SECONDS},
            open=False,
            name="ratwatch",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_SECONDS)
        except PoolTimeout:
            self._pool.close()
            raise StoreError(f"{self.where}: cannot connect (pool timed out)") from None
        if not read_only:
            self._writer = threading.Thread(target=self._run, name="pg-writer", daemon=True)
            self._writer.start()

    # --- ingest ---------------------------------------------------------------

    def submit_group(self, batches: Sequence[Batch]) -> Future[list[IngestResult]]:
        """Queue ``batches`` for the next transaction; resolves once it committed."""
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
        """Writer thread: commit whatever groups have queued up, as one transaction."""
        get, get_nowait = self._queue.get, self._queue.get_nowait
        stopping = False
        while not stopping:
            first = get()
            if first is _STOP:
                break
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
                items.append(item)  # type: ignore[arg-type]
                size += len(item[0])  # type: ignore[index]
            self._commit(items)

    def _commit(self, items: list[_Item]) -> None:
        batches = [b for group, _ in items for b in group]
        started = time.perf_counter()
        try:
            self._prune()
            results = self._write_retrying(batches)
        except (psycopg.Error, PoolTimeout) as exc:
            log.error("commit of %d batches failed: %s", len(batches), _first_line(exc))
            error = StoreError(f"the database could not be written: {_first_line(exc)}")
            for _, fut in items:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(error)
            return
        metrics.COMMIT_SECONDS.labels("postgresql").observe(time.perf_counter() - started)
        metrics.COMMIT_BATCHES.labels("postgresql").observe(len(batches))
        start = 0
        for group, fut in items:
            end = start + len(group)
            if fut.set_running_or_notify_cancel():  # False: the caller gave up waiting
                fut.set_result(results[start:end])
            start = end

    def _prune(self) -> None:
        """Once a day: forget ids whose batches validation would now refuse anyway."""
        today = int(self._clock() // 86400)
        if today == self._pruned_day:
            return
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM seen_batch WHERE keep_until < %s", (today,))
        self._pruned_day = today

    def _write_retrying(self, batches: list[Batch]) -> list[IngestResult]:
        for attempt in range(RETRIES):
            try:
                with self._pool.connection() as conn:
                    return self._write(conn, batches)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                if attempt == RETRIES - 1:
                    raise
                log.warning("commit retried after: %s", _first_line(exc))
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(
        self, conn: psycopg.Connection[TupleRow], batches: list[Batch]
    ) -> list[IngestResult]:
        """One transaction: remember the new ids, add the new batches' summed rows."""
        first_of: dict[bytes, int] = {}  # id -> index of its first non-empty batch
        for i, b in enumerate(batches):
            if b.rows and b.batch_id not in first_of:
                first_of[b.batch_id] = i
        ids = sorted(first_of)
        keep = [
            min(map(_day, batches[first_of[i]].rows)) + MAX_AGE_DAYS + CLOCK_MARGIN_DAYS
            for i in ids
        ]
        new: set[bytes] = set()
        if ids:
            with conn.transaction():
                new = {bytes(r[0]) for r in conn.execute(_REMEMBER, (ids, keep))}
                days: dict[_Key, int] = {}
                months: dict[_Key, int] = {}
                tokens: dict[pg_tokens.TokenKey, int] = {}
                for bid in new:
                    b = batches[first_of[bid]]
                    region, token = b.region, b.token
                    for day, tool_id, trigger, stage, outcome, count in b.rows:
                        k = (day, tool_id, trigger, stage, outcome, region)
                        days[k] = days.get(k, 0) + count
                        mk = (month_of_day(day), tool_id, trigger, stage, outcome, region)
                        months[mk] = months.get(mk, 0) + count
                        tk = (token, *k)
                        tokens[tk] = tokens.get(tk, 0) + count
                if days:
                    # token_day before the tallies: the lock order (collector.pg_tokens).
                    conn.execute(pg_tokens.UPSERT, pg_tokens.columns(tokens))
                    conn.execute(_UPSERT_DAY, _columns(days))
                    conn.execute(_UPSERT_MONTH, _columns(months))
        results: list[IngestResult] = []
        for i, b in enumerate(batches):
            if not b.rows:
                results.append(IngestResult(duplicate=False, rows_accepted=0))
            elif first_of[b.batch_id] == i and b.batch_id in new:
                results.append(IngestResult(duplicate=False, rows_accepted=len(b.rows)))
            else:
                results.append(IngestResult(duplicate=True, rows_accepted=0))
        return results

    # --- queries --------------------------------------------------------------

    def query(self, query: Query) -> list[Cell]:
        """Grouped counts over every slot; see collector.pg_query."""
        try:
            with self._pool.connection() as conn:
                return run_query(conn, query)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"{self.where}: query failed: {_first_line(exc)}") from None

    def seen(self, batch_id: bytes) -> bool:
        """Whether ``batch_id`` is among the remembered acknowledged ids."""
        try:
            with self._pool.connection() as conn:
                row = conn.execute("SELECT 1 FROM seen_batch WHERE id = %s", (batch_id,))
                return row.fetchone() is not None
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"{self.where}: lookup failed: {_first_line(exc)}") from None

    # --- per-token tallies (collector.pg_tokens) ------------------------------

    def token_volume(self, since_day: int) -> dict[tuple[str, int], dict[str, int]]:
        """``{(token, day): {tool_id: count}}`` from ``since_day`` on."""
        try:
            with self._pool.connection() as conn:
                return pg_tokens.volume(conn, since_day)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(
                f"{self.where}: token volume query failed: {_first_line(exc)}"
            ) from None

    def purge_token(self, token: str, since_day: int) -> int:
        """Remove every count ``token`` added from ``since_day`` on; returns how many.

        Safe beside running collectors (collector.pg_tokens: the lock order).
        """
        if self._read_only:
            raise StoreError("the store is read-only")
        try:
            with self._pool.connection() as conn, conn.transaction():
                return pg_tokens.purge(conn, token, since_day)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"{self.where}: purge failed: {_first_line(exc)}") from None

    # --- releases (collector.pg_release) ---------------------------------------

    @contextmanager
    def releasing(self) -> Iterator[bool]:
        """The release lock for one pass, on a connection held for it; False: another has it."""
        try:
            with self._pool.connection() as conn, pg_release.computing(conn) as mine:
                yield mine
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"{self.where}: release lock: {_first_line(exc)}") from None

    def put_release(self, release: Release) -> bool:
        """Insert ``release`` once, its cells in the same transaction."""
        if self._read_only:
            raise StoreError("the store is read-only: releases are made by the collector")
        try:
            with self._pool.connection() as conn:
                return pg_release.put(conn, release)
        except (psycopg.Error, PoolTimeout) as exc:
            why = _first_line(exc)
            raise StoreError(f"{self.where}: storing release {release.release_id}: {why}") from None

    def release_headers(self) -> list[Release]:
        """Every release's header."""
        try:
            with self._pool.connection() as conn:
                return pg_release.headers(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"{self.where}: reading releases failed: {_first_line(exc)}") from None

    def release_cells(self, release_id: str) -> tuple[tuple[CellKey, int], ...]:
        """One release's cells."""
        try:
            with self._pool.connection() as conn:
                return pg_release.cells(conn, release_id)
        except (psycopg.Error, PoolTimeout) as exc:
            why = _first_line(exc)
            raise StoreError(f"{self.where}: reading release {release_id} failed: {why}") from None

    # --- lifecycle ------------------------------------------------------------

    def close(self) -> None:
        """Commit everything queued, then close the pool. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._writer is not None:
                self._queue.put(_STOP)
        if self._writer is not None:
            self._writer.join()
        self._pool.close()


def _first_line(exc: BaseException) -> str:
    """An error's first line: libpq adds detail lines (and sometimes the query) after it."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

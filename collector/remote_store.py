"""A front end's Store: writes go to the writer process, reads come from the database.

``submit_group`` frames the group and queues it for a sender thread, so
the event loop never blocks on a full pipe; a receiver thread resolves the
futures as the writer answers. Queries and ``seen`` read the database
directly through a read-only connection: SQLite in WAL mode lets readers
run beside the one writer.

If the writer goes away (it is the parent process: it stopped or died),
every waiting future fails with StoreError, later writes are refused, and
``on_lost`` is called once so the front end can stop: a collector without
its writer must not accept calls it cannot acknowledge.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from multiprocessing.connection import Connection
from pathlib import Path

from collector import ipc
from collector.errors import StoreError
from collector.model import Batch, Cell, CellKey, IngestResult, Query, Release
from collector.sqlite_store import SqliteStore

_STOP = b""


class RemoteStore:
    """Store over a pipe to the writer process; see the module docstring."""

    def __init__(
        self, conn: Connection, data_dir: Path, on_lost: Callable[[], None] = lambda: None
    ) -> None:
        self._conn = conn
        self._on_lost = on_lost
        self._reader = SqliteStore(data_dir, read_only=True)
        self._seq = itertools.count()
        self._waiting: dict[int, Future[list[IngestResult]]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._lost = False
        self._outbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_loop, name="to-writer", daemon=True)
        self._receiver = threading.Thread(target=self._recv_loop, name="from-writer", daemon=True)
        self._sender.start()
        self._receiver.start()

    def submit_group(self, batches: Sequence[Batch]) -> Future[list[IngestResult]]:
        """Send ``batches`` to the writer; resolves once the writer has them durable."""
        fut: Future[list[IngestResult]] = Future()
        seq = next(self._seq)
        with self._lock:
            if self._closed or self._lost:
                raise StoreError(
                    "the store is closed" if self._closed else "the collector's writer has stopped"
                )
            self._waiting[seq] = fut
        self._outbox.put(ipc.encode_request(seq, batches))
        return fut

    def ingest(self, batch: Batch) -> IngestResult:
        """One batch, blocking until it is durable."""
        return self.submit_group((batch,)).result()[0]

    def query(self, query: Query) -> list[Cell]:
        """Grouped counts, read from the database."""
        return self._reader.query(query)

    def seen(self, batch_id: bytes) -> bool:
        """Whether the writer has acknowledged ``batch_id``, read from the database."""
        return self._reader.seen(batch_id)

    def token_volume(self, since_day: int) -> dict[tuple[str, int], dict[str, int]]:
        """Per-token volumes, read from the database."""
        return self._reader.token_volume(since_day)

    def purge_token(self, token: str, since_day: int) -> int:
        """Not from a front end: purging runs with the collector stopped."""
        raise StoreError("a front end cannot purge; stop the collector and run token revoke")

    def put_release(self, release: Release) -> bool:
        """Refused: only the writer process computes releases (exactly once per period)."""
        raise StoreError("releases are made by the collector's writer process, not a front end")

    def releasing(self) -> AbstractContextManager[bool]:
        """Never a front end's: the writer process makes releases."""
        return contextlib.nullcontext(False)

    def release_headers(self) -> list[Release]:
        """Every release's header, read from the database."""
        return self._reader.release_headers()

    def release_cells(self, release_id: str) -> tuple[tuple[CellKey, int], ...]:
        """One release's cells, read from the database."""
        return self._reader.release_cells(release_id)

    def _send_loop(self) -> None:
        while True:
            frame = self._outbox.get()
            if frame is _STOP:
                return
            try:
                self._conn.send_bytes(frame)
            except OSError:
                self._lose()
                return

    def _recv_loop(self) -> None:
        while True:
            try:
                frame = self._conn.recv_bytes()
            except (EOFError, OSError):
                self._lose()
                return
            seq, error, results = ipc.decode_reply(frame)
            with self._lock:
                fut = self._waiting.pop(seq, None)
            if fut is None or not fut.set_running_or_notify_cancel():
                continue
            if error is None:
                fut.set_result(results)
            else:
                fut.set_exception(StoreError(error))

    def _lose(self) -> None:
        with self._lock:
            if self._lost:
                return
            self._lost = True
            waiting, self._waiting = self._waiting, {}
            closing = self._closed
        error = StoreError("the collector's writer has stopped; not stored, retry later")
        for fut in waiting.values():
            if fut.set_running_or_notify_cancel():
                fut.set_exception(error)
        if not closing:
            self._on_lost()

    def close(self) -> None:
        """Stop sending (answers still on their way resolve), close the reader. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._outbox.put(_STOP)
        self._sender.join()
        self._reader.close()

"""The writer end of a multi-process collector: one store, fed by every front end.

One thread per front-end pipe reads a group, checks it against the one rate
limiter of the collector (per peer and token, over all front ends), hands
what passes to the store's group
commit, and the store's writer thread sends the results back on the same
pipe once the group is durable (a lock per pipe keeps frames whole). A
front end that goes away ends its thread; what it had sent is committed
anyway, and the agents' retries are acknowledged as duplicates.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from concurrent.futures import Future
from multiprocessing.connection import Connection

from collector import ipc
from collector.errors import StoreError
from collector.model import IngestResult
from collector.ratelimit import RateLimiter
from collector.store import Store

log = logging.getLogger(__name__)


def _merge(results: list[IngestResult], limited: dict[int, IngestResult]) -> list[IngestResult]:
    """The store's results for the admitted batches, with the refused ones back in place."""
    if not limited:
        return results
    out, it = [], iter(results)
    for i in range(len(results) + len(limited)):
        out.append(limited[i] if i in limited else next(it))
    return out


class WriteHub:
    """Serves ``submit_group`` for front-end processes over their pipes."""

    def __init__(self, store: Store, limiter: RateLimiter) -> None:
        self._store = store
        self._limiter = limiter
        self._limit_lock = threading.Lock()  # one thread per front end shares the buckets
        self._threads: list[threading.Thread] = []

    def attach(self, conn: Connection, name: str) -> None:
        """Serve ``conn`` on a thread of its own until the front end closes it."""
        t = threading.Thread(target=self._serve, args=(conn,), name=f"hub-{name}", daemon=True)
        self._threads.append(t)
        t.start()

    def _serve(self, conn: Connection) -> None:
        send_lock = threading.Lock()

        def send(frame: bytes) -> None:
            # OSError: the front end is gone; its agents will retry.
            with send_lock, contextlib.suppress(OSError):
                conn.send_bytes(frame)

        def answer(
            seq: int, limited: dict[int, IngestResult], done: Future[list[IngestResult]]
        ) -> None:
            error = done.exception()
            if error is None:
                send(ipc.encode_reply(seq, _merge(done.result(), limited), None))
            else:
                send(ipc.encode_reply(seq, None, str(error)))

        while True:
            try:
                frame = conn.recv_bytes()
            except (EOFError, OSError):
                break
            try:
                seq, batches = ipc.decode_request(frame)
            except (ValueError, EOFError, TypeError) as exc:  # a bug, never a client's bytes
                log.error("unreadable frame from a front end: %s", exc)
                break
            limited: dict[int, IngestResult] = {}
            with self._limit_lock:
                for i, b in enumerate(batches):
                    wait = self._limiter.admit(b.peer, b.token, max(1, len(b.rows)))
                    if wait:
                        limited[i] = IngestResult(
                            duplicate=False, rows_accepted=0, retry_after=wait
                        )
            admitted = [b for i, b in enumerate(batches) if i not in limited]
            if not admitted:
                send(ipc.encode_reply(seq, list(limited.values()), None))
                continue
            try:
                done = self._store.submit_group(admitted)
            except StoreError as exc:
                send(ipc.encode_reply(seq, None, str(exc)))
                continue
            done.add_done_callback(functools.partial(answer, seq, limited))

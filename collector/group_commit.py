"""Group commit, gathered on the event loop: the batches that arrive while one commit is
being written and synced become the next commit.

Why on the loop and not in the store's writer thread: handing batches over
one at a time costs a thread wake-up and a GIL hand-over each, which on a
busy collector cost more CPU than validating the batch. Here a batch costs
one list append and one asyncio future; the writer thread is woken once
per group, and answers once per group.

While the store is idle a batch is sent at once (low latency at low load).
Under load a group is whatever arrived during the previous commit, and if
that is fewer than ``fill`` batches it may wait ``linger`` seconds for more.
Every group costs fixed work on both sides: a transaction and its fsync
(~0.2 ms of the writer's CPU), thread hand-offs and a frame each way with
several front ends, and a wake-up of the loop to answer it. So under load it
pays to wait: with two front ends at ~5,000 calls/s, a 5 ms linger made
groups of ~30 batches and cost the writer process ~75 µs of CPU per batch;
20 ms makes groups of ~100 and ~50 µs. Agents upload counts once a day;
20 ms more before an acknowledgement costs them nothing.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

from collector.model import Batch, IngestResult
from collector.store import Store


class GroupCommit:
    """Gathers batches on ``loop`` into groups for ``store``, one group in flight at a time."""

    def __init__(
        self,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        max_group: int,
        fill: int = 400,
        linger: float = 0.020,
    ) -> None:
        self._store = store
        self._loop = loop
        self._max_group = max_group
        self._fill = fill
        self._linger = linger
        self._batches: list[Batch] = []
        self._waiters: list[asyncio.Future[IngestResult]] = []
        self._in_flight = False
        self._timer: asyncio.TimerHandle | None = None

    def write(self, batch: Batch) -> asyncio.Future[IngestResult]:
        """An awaitable for ``batch`` being durable.

        Cancelling it (the caller went away) does not take the batch back: it
        is committed anyway, and the agent's retry is acknowledged as a
        duplicate. A StoreError from ``submit_group`` is raised here, at once.
        """
        waiter: asyncio.Future[IngestResult] = self._loop.create_future()
        self._batches.append(batch)
        self._waiters.append(waiter)
        if not self._in_flight and (self._timer is None or len(self._batches) >= self._fill):
            self._send()
        return waiter

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        n = self._max_group
        batches, self._batches = self._batches[:n], self._batches[n:]
        waiters, self._waiters = self._waiters[:n], self._waiters[n:]
        try:
            done = self._store.submit_group(batches)
        except Exception as exc:  # noqa: BLE001 - every waiter must hear of it
            # The store is closed or broken: fail this group and whatever waits.
            waiters += self._waiters
            self._batches, self._waiters = [], []
            self._resolve(waiters, exc, None)
            return
        self._in_flight = True
        done.add_done_callback(lambda f: self._loop.call_soon_threadsafe(self._arrived, waiters, f))

    def _arrived(
        self, waiters: list[asyncio.Future[IngestResult]], done: Future[list[IngestResult]]
    ) -> None:
        self._in_flight = False
        error = done.exception()
        self._resolve(waiters, error, None if error else done.result())
        if len(self._batches) >= self._fill:
            self._send()
        elif len(waiters) > 1 or self._batches:
            # Under load: give the next group a moment to fill.
            self._timer = self._loop.call_later(self._linger, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self._batches and not self._in_flight:
            self._send()

    @staticmethod
    def _resolve(
        waiters: list[asyncio.Future[IngestResult]],
        error: BaseException | None,
        results: list[IngestResult] | None,
    ) -> None:
        for i, waiter in enumerate(waiters):
            if waiter.done():  # cancelled: its call ended before the commit did
                continue
            if results is None:
                waiter.set_exception(error or RuntimeError("no result"))
            else:
                waiter.set_result(results[i])

"""Group commit on the event loop, over a real SQLite store: which batches travel together."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest

from collector.errors import StoreError
from collector.group_commit import GroupCommit
from collector.model import Batch, Dimension, IngestResult, Query
from collector.periods import from_date
from collector.sqlite_store import SqliteStore

DAY0 = from_date(dt.date(2026, 11, 21))


class Recording:
    """The real store, noting the size of every group handed to it."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.groups: list[int] = []

    def submit_group(self, batches: Sequence[Batch]) -> Future[list[IngestResult]]:
        self.groups.append(len(batches))
        return self.store.submit_group(batches)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Recording]:
    real = SqliteStore(tmp_path, clock=lambda: DAY0 * 86400.0)
    yield Recording(real)
    real.close()


def batch(tool: str = "teamviewer") -> Batch:
    return Batch(os.urandom(16), "", ((DAY0, tool, 1, 1, 1, 1),))


def commits(store: Recording, **kw: float) -> GroupCommit:
    return GroupCommit(store, asyncio.get_running_loop(), **kw)  # type: ignore[arg-type]


def counted(store: Recording) -> int:
    return sum(c.count for c in store.store.query(Query(group_by=())))


def test_an_idle_store_gets_a_batch_at_once_and_a_busy_one_gets_the_backlog_as_one_group(
    store: Recording,
) -> None:
    async def main() -> None:
        gc = commits(store, max_group=2000, fill=400, linger=0.02)
        first = gc.write(batch())
        assert store.groups == [1]  # sent before write() returned
        backlog = [gc.write(batch()) for _ in range(50)]
        assert store.groups == [1]  # one group in flight at a time
        results = await asyncio.gather(first, *backlog)
        assert all(not r.duplicate and r.rows_accepted == 1 for r in results)

    asyncio.run(main())
    assert store.groups == [1, 50]
    assert counted(store) == 51


def test_a_full_backlog_goes_without_lingering_and_groups_stop_at_max_group(
    store: Recording,
) -> None:
    async def main() -> None:
        # A linger longer than the test's timeout: only `fill` can send these.
        gc = commits(store, max_group=10, fill=10, linger=3600)
        waiters = [gc.write(batch()) for _ in range(31)]
        await asyncio.wait_for(asyncio.gather(*waiters), timeout=30)

    asyncio.run(main())
    assert store.groups == [1, 10, 10, 10]
    assert counted(store) == 31


def test_a_closed_store_fails_every_waiting_call(store: Recording) -> None:
    async def main() -> list[BaseException | IngestResult]:
        gc = commits(store, max_group=2000)
        store.store.close()
        return await asyncio.gather(*(gc.write(batch()) for _ in range(3)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, StoreError) for o in outcomes)


def test_a_caller_that_gives_up_does_not_take_its_batch_back(store: Recording) -> None:
    async def main() -> None:
        gc = commits(store, max_group=2000, linger=0.001)
        first = gc.write(batch("anydesk"))
        gone = gc.write(batch("quick_assist"))  # waits behind the first group
        gone.cancel()
        await first
        await asyncio.wait_for(gc.write(batch()), timeout=30)

    asyncio.run(main())
    by_tool = {c.key[0]: c.count for c in store.store.query(Query(group_by=(Dimension.TOOL,)))}
    assert by_tool == {"anydesk": 1, "quick_assist": 1, "teamviewer": 1}

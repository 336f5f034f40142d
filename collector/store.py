"""The storage contract every collector backend meets, and the registry of backends.

A store keeps tallies by day and dimensions plus the set of batch ids it has
acknowledged — never a row per agent. tests/collector/test_store_contract.py
runs one contract suite against every entry of ``STORES``, so adding an
engine means adding it here and passing that suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from collector.model import Batch, Cell, CellKey, IngestResult, Query, Release


class Store(Protocol):
    """Durable, idempotent tallies with grouped queries."""

    def submit_group(self, batches: Sequence[Batch]) -> Future[list[IngestResult]]:
        """Queue validated batches; the future resolves once all of them are durable.

        Its result has one IngestResult per batch, in order. Durable means it
        survives power loss, not only a crash. A batch id acknowledged before
        (or earlier in the same group) is a duplicate and adds nothing; the
        dedupe check happens in the same transaction as the tally update.
        The future fails with StoreError when the store could not write;
        ``submit_group`` itself raises StoreError once the store is closed.
        Groups of up to MAX_GROUP batches are what callers should send.
        """
        ...

    def ingest(self, batch: Batch) -> IngestResult:
        """One batch, blocking until it is durable."""
        ...

    def query(self, query: Query) -> list[Cell]:
        """Grouped counts (before small-cell suppression), in no particular order."""
        ...

    def seen(self, batch_id: bytes) -> bool:
        """Whether this batch id was acknowledged and is still remembered.

        Lets the service acknowledge a retry whose rows aged out of the
        acceptance window after the first (lost) acknowledgement.
        """
        ...

    def token_volume(self, since_day: int) -> dict[tuple[str, int], dict[str, int]]:
        """``{(token id, day): {tool_id: count}}`` from ``since_day`` on (auth.token_id)."""
        ...

    def purge_token(self, token: str, since_day: int) -> int:
        """Remove exactly what ``token`` added from ``since_day`` on; returns how many counts.

        Raises StoreError on a store that cannot write (read-only, a front end).
        """
        ...

    # --- releases (collector.releases): written once, never changed ---------

    def put_release(self, release: Release) -> bool:
        """Store ``release`` unless one with its id exists; True when stored.

        Raises StoreError on a store that cannot write (read-only, or a
        front end: only the writing process computes releases).
        """
        ...

    def release_headers(self) -> list[Release]:
        """Every stored release, without cells, in (first_day, release_id) order."""
        ...

    def release_cells(self, release_id: str) -> tuple[tuple[CellKey, int], ...]:
        """The released cells of one release, keys in its grid's order."""
        ...

    def close(self) -> None:
        """Finish every queued batch, then release the storage. Idempotent."""
        ...


StoreFactory = Callable[..., Store]

MAX_GROUP = 2000  # batches per submit_group: bounds one commit's size and latency


def _sqlite(
    data_dir: Path, *, clock: Callable[[], float] = time.time, read_only: bool = False
) -> Store:
    from collector.sqlite_store import SqliteStore

    return SqliteStore(data_dir, clock=clock, read_only=read_only)


# One entry per storage engine; the contract suite is parametrized over this.
STORES: dict[str, StoreFactory] = {"sqlite": _sqlite}

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
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from collector.config import CollectorConfig
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

    def releasing(self) -> AbstractContextManager[bool]:
        """Held around a pass of the release worker; yields False while another process makes them.

        With SQLite the one writing process alone makes releases (True); with
        PostgreSQL N collectors share the database and one at a time may
        (collector.pg_release), so that each release is computed once.
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


# A factory takes where the store lives (SQLite: a data dir; PostgreSQL: a
# DSN), then ``clock=`` and ``read_only=`` as keywords.
StoreFactory = Callable[..., Store]

MAX_GROUP = 2000  # batches per submit_group: bounds one commit's size and latency


def _sqlite(
    data_dir: Path, *, clock: Callable[[], float] = time.time, read_only: bool = False
) -> Store:
    from collector.sqlite_store import SqliteStore

    return SqliteStore(data_dir, clock=clock, read_only=read_only)


def _postgresql(
    dsn: str,
    *,
    clock: Callable[[], float] = time.time,
    read_only: bool = False,
    pool_size: int = 4,
) -> Store:
    from collector.pg_store import PgStore

    return PgStore(dsn, clock=clock, read_only=read_only, pool_size=pool_size)


# One entry per storage engine (the [store].kind values); the contract suite
# is parametrized over this.
STORES: dict[str, StoreFactory] = {"sqlite": _sqlite, "postgresql": _postgresql}


def open_configured(
    config: CollectorConfig, *, clock: Callable[[], float] = time.time, read_only: bool = False
) -> Store:
    """The store ``config`` names: [store].kind, at [collector].data_dir or [store].dsn."""
    s = config.store
    if s.kind == "sqlite":
        return STORES["sqlite"](config.data_dir, clock=clock, read_only=read_only)
    return STORES[s.kind](s.dsn, clock=clock, read_only=read_only, pool_size=s.pool_size)


def open_for_command(
    config: CollectorConfig, data_dir: Path | None = None, *, read_only: bool = False
) -> Store:
    """The store an operator's command opens: ``--data-dir`` (SQLite), else the configured one."""
    if data_dir is not None:
        return STORES["sqlite"](data_dir, read_only=read_only)
    return open_configured(config, read_only=read_only)


def describe_configured(config: CollectorConfig) -> str:
    """Where the configured store keeps its data, for the operator (no password)."""
    if config.store.kind == "sqlite":
        return f"data dir: {config.data_dir.absolute()}"
    from collector.pg_store import describe_dsn

    return f"database: {describe_dsn(config.store.dsn)}"

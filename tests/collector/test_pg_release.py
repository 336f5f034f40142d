"""Releases in PostgreSQL beyond the contract: computed once by racing collectors, append-only,
and readable by BI tools through the ``published`` views only.

Against the real cluster the suite starts (conftest.pg_cluster).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
import time
from typing import Any

import psycopg
import pytest

from collector import pg_schema, releases
from collector.model import Batch, Release, TallyRow
from collector.periods import from_date
from collector.pg_store import PgStore
from collector.release_policy import ReleaseParams

NOW = (from_date(dt.date(2026, 11, 10)) * 86400.0) + 3600


def clock() -> float:
    return NOW


def _seed(store: PgStore) -> None:
    first = from_date(dt.date(2026, 10, 1))
    for d in range(31):
        rows = tuple(
            TallyRow(first + d, tool, 2, 1, 1, 40 + d) for tool in ("teamviewer", "anydesk")
        )
        store.ingest(Batch(os.urandom(16), "NL", rows))


def test_collectors_racing_compute_each_release_once(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two collectors' release workers start their pass at the same moment.

    Computing is slowed down so that the passes overlap; the release lock
    lets one collector compute and the other skip, so every release is
    computed exactly once (and stored once, by the primary key anyway).
    """
    stores = [PgStore(pg_dsn, clock=clock) for _ in range(2)]
    _seed(stores[0])
    computed: list[str] = []
    real = releases.compute

    def slow_compute(*args: Any, **kw: Any) -> Release:
        rel = real(*args, **kw)
        computed.append(rel.release_id)
        time.sleep(0.01)
        return rel

    monkeypatch.setattr(releases, "compute", slow_compute)
    workers = [releases.ReleaseWorker(s, ReleaseParams(), clock) for s in stores]
    made: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def run(k: int) -> None:
        start.wait()
        made[k] = workers[k].run_once()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stored = [h.release_id for h in stores[1].release_headers()]
        assert "month/2026-10" in stored
        assert sorted(computed) == sorted(stored)  # each computed once, by one collector
        assert sorted(made[0] + made[1]) == sorted(stored)
        assert not (set(made[0]) & set(made[1]))
        # The next pass of either collector finds everything stored.
        assert workers[0].run_once() == [] and workers[1].run_once() == []
    finally:
        for s in stores:
            s.close()


def test_a_stored_release_cannot_be_changed_or_deleted(pg_dsn: str) -> None:
    store = PgStore(pg_dsn, clock=clock)
    try:
        _seed(store)
        releases.make_due(store, ReleaseParams(), clock)
    finally:
        store.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for sql in (
            "UPDATE release SET noisy_total = 1",
            "DELETE FROM release",
            "UPDATE release_cell SET count = count + 1",
            "DELETE FROM release_cell",
            "TRUNCATE release_cell",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="never changes"):
                conn.execute(sql)


def test_the_reader_role_sees_releases_and_nothing_else(pg_dsn: str) -> None:
    """What docs/deploy.md tells a BI tool's login: a member of ratwatch_reader."""
    store = PgStore(pg_dsn, clock=clock)
    try:
        _seed(store)
        made = releases.make_due(store, ReleaseParams(), clock)
        october = store.release_cells("month/2026-10")
    finally:
        store.close()
    login = f"grafana_{secrets.token_hex(4)}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE {pg_schema.READER_ROLE}")
    reader_dsn = pg_dsn.replace("user=postgres", f"user={login}")
    with psycopg.connect(reader_dsn, autocommit=True) as conn:
        got = conn.execute(
            "SELECT tool_id, trigger, stage, outcome, count FROM published.release_cells "
            "WHERE release_id = 'month/2026-10' ORDER BY tool_id, trigger, stage, outcome"
        ).fetchall()
        assert got == [
            (tool, "unknown_call", "remote_tool_started", "user_stopped", n)
            for (tool, _t, _s, _o), n in october
        ]
        periods = conn.execute(
            "SELECT release_id, kind, first_date FROM published.releases WHERE kind = 'month'"
        ).fetchall()
        assert periods == [("month/2026-10", "month", dt.date(2026, 10, 1))]
        assert conn.execute("SELECT count(*) FROM published.releases").fetchone() == (len(made),)
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'published'"
            )
        }
        assert not columns & {"source_checksum", "source_total", "token", "slot"}
        for table in ("tally_day", "tally_month", "token_day", "seen_batch", "release"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO release_cell VALUES ('x', 1, 'a', 1, 1, 1, '', 1)")

"""The PostgreSQL store beyond the shared contract: migrations, versions, concurrent writers.

Against the real cluster the suite starts (conftest.pg_cluster); the
contract suite itself runs on PostgreSQL in test_store_contract.py.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest

from collector import pg_schema
from collector.errors import StoreError
from collector.model import Batch, Dimension, Query, TallyRow
from collector.periods import from_date
from collector.pg_store import PgStore

DAY0 = from_date(dt.date(2026, 11, 21))


def clock() -> float:
    return DAY0 * 86400.0 + 3600


def _config(tmp_path: Path, dsn: str) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(f'[store]\nkind = "postgresql"\ndsn = "{dsn}"\n')
    return path


def _totals(store: PgStore, *dims: Dimension, **kw: object) -> dict[tuple[object, ...], int]:
    return {c.key: c.count for c in store.query(Query(group_by=dims, **kw))}  # type: ignore[arg-type]


def test_db_upgrade_brings_the_first_schema_to_the_current_one_with_its_data(
    pg_dsn: str, tmp_path: Path, collector_cmd: list[str]
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert pg_schema.upgrade(conn, target=1) == 0
        # Version 1's data as a collector of that version wrote it: several
        # slots of one cell, two months, and a remembered batch id.
        rows = [
            (DAY0 - 30, "teamviewer", 2, 1, 1, "NL", 3, 5),
            (DAY0 - 30, "teamviewer", 2, 1, 1, "NL", 7, 4),
            (DAY0 - 29, "anydesk", 3, 2, 1, "", 0, 2),
            (DAY0, "teamviewer", 2, 1, 1, "NL", 1, 10),
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO tally_day (day, tool_id, trigger, stage, outcome, region, slot, count)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
        old_id = os.urandom(16)
        conn.execute(
            "INSERT INTO seen_batch (id, keep_until) VALUES (%s, %s)", (old_id, DAY0 + 100)
        )
    with pytest.raises(StoreError, match=r"version 1, .*db upgrade"):
        PgStore(pg_dsn, clock=clock)
    config = _config(tmp_path, pg_dsn)
    done = subprocess.run(
        [*collector_cmd, "db", "upgrade", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"schema version 1 -> {pg_schema.SCHEMA_VERSION}" in done.stdout
    assert "password" not in done.stdout
    store = PgStore(pg_dsn, clock=clock)
    try:
        # By month over whole months: answered from the month table the upgrade filled.
        nov = from_date(dt.date(2026, 11, 1))
        oct_ = from_date(dt.date(2026, 10, 1))
        assert _totals(
            store, Dimension.MONTH, Dimension.TOOL, since_day=oct_, until_day=nov + 29
        ) == {
            ("2026-10", "teamviewer"): 9,
            ("2026-10", "anydesk"): 2,
            ("2026-11", "teamviewer"): 10,
        }
        assert _totals(store, Dimension.DAY) == {
            ("2026-10-22",): 9,
            ("2026-10-23",): 2,
            ("2026-11-21",): 10,
        }
        # Version 3's per-token tallies: what version 1 counted stays unattributed ("").
        assert store.token_volume(DAY0 - 30) == {
            ("", DAY0 - 30): {"teamviewer": 9},
            ("", DAY0 - 29): {"anydesk": 2},
            ("", DAY0): {"teamviewer": 10},
        }
        assert store.seen(old_id)
        assert store.ingest(Batch(old_id, "NL", ((DAY0, "teamviewer", 2, 1, 1, 1),))).duplicate
        store.ingest(Batch(os.urandom(16), "NL", ((DAY0, "teamviewer", 2, 1, 1, 1),)))
        assert _totals(store, Dimension.TOOL) == {("teamviewer",): 20, ("anydesk",): 2}
    finally:
        store.close()
    again = subprocess.run(
        [*collector_cmd, "db", "upgrade", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "already current" in again.stdout


def test_a_schema_newer_than_the_collector_is_refused_and_left_alone(
    pg_dsn: str, tmp_path: Path, collector_cmd: list[str]
) -> None:
    PgStore(pg_dsn).close()  # a new database: the first writable open creates the schema
    future = pg_schema.SCHEMA_VERSION + 1
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO ratwatch_schema (version) VALUES (%s)", (future,))
    with pytest.raises(StoreError, match=f"version {future} is newer than this collector"):
        PgStore(pg_dsn)
    with pytest.raises(StoreError, match="newer than this collector"):
        PgStore(pg_dsn, read_only=True)
    done = subprocess.run(
        [*collector_cmd, "db", "upgrade", "--config", str(_config(tmp_path, pg_dsn))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "newer than this collector" in done.stderr
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert pg_schema.version(conn) == future


def test_an_unreachable_database_is_one_line_without_the_password(pg_cluster: object) -> None:
    dsn = "host=127.0.0.1 port=1 dbname=nothing user=x password=s3cret connect_timeout=2"
    with pytest.raises(StoreError) as err:
        PgStore(dsn)
    text = str(err.value)
    assert "s3cret" not in text and "\n" not in text
    assert text.startswith("PostgreSQL host=127.0.0.1 port=1 dbname=nothing: cannot open")


def test_stores_sharing_a_database_count_overlapping_and_replayed_batches_exactly(
    pg_dsn: str,
) -> None:
    """Three stores (three collectors' worth) write the same hot cells at once.

    Every batch holds the same keys in a different order, and every batch is
    also submitted through another store: sums are exact, every id counts
    once, and no transaction deadlocks (PostgreSQL would abort one, and the
    test would see a StoreError or a wrong total).
    """
    stores = [PgStore(pg_dsn, clock=clock) for _ in range(3)]
    rng = random.Random(3)
    keys = [(DAY0 - d, tool) for d in range(3) for tool in ("teamviewer", "anydesk", "rustdesk")]
    batches = []
    for _ in range(240):
        shuffled = rng.sample(keys, len(keys))
        rows = tuple(TallyRow(day, tool, 2, 1, 1, 1) for day, tool in shuffled)
        batches.append(Batch(os.urandom(16), rng.choice(["NL", ""]), rows))
    errors: list[BaseException] = []
    new = [0]
    lock = threading.Lock()

    def work(k: int) -> None:
        try:
            mine = batches[k::3]
            # In groups of 8, like a busy collector's group commits, and every
            # group again through the next store (a replay to another collector).
            for i in range(0, len(mine), 8):
                group = mine[i : i + 8]
                for s in (stores[k], stores[(k + 1) % 3]):
                    results = s.submit_group(group).result(timeout=60)
                    with lock:
                        new[0] += sum(not r.duplicate for r in results)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        assert new[0] == len(batches)
        assert _totals(stores[0], Dimension.TOOL) == {
            ("teamviewer",): 720,
            ("anydesk",): 720,
            ("rustdesk",): 720,
        }
        assert sum(_totals(stores[2], Dimension.DAY, Dimension.REGION).values()) == 2160
    finally:
        for s in stores:
            s.close()


def test_a_purge_beside_collectors_ingesting_the_same_cells_stays_exact(pg_dsn: str) -> None:
    """``token revoke --purge-since`` while two collectors ingest that token's and others' cells.

    Whatever interleaving happens, the tallies always equal the per-token
    tallies summed, the purged token keeps only what arrived after the
    purge committed, and no transaction deadlocks (collector.pg_tokens).
    """
    stores = [PgStore(pg_dsn, clock=clock) for _ in range(2)]
    rows = tuple(TallyRow(DAY0 - d, tool, 2, 1, 1, 1) for d in range(2) for tool in "abcdefgh")
    stop = threading.Event()
    errors: list[BaseException] = []
    sent = {"good": 0, "bad": 0}
    lock = threading.Lock()

    def work(k: int, token: str) -> None:
        try:
            while not stop.is_set():
                group = [Batch(os.urandom(16), "NL", rows, token=token) for _ in range(4)]
                stores[k].submit_group(group).result(timeout=60)
                with lock:
                    sent[token] += 4 * len(rows)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(k, token))
        for k in range(2)
        for token in ("good", "bad")
    ]
    for t in threads:
        t.start()
    try:
        removed = 0
        for _ in range(6):
            stop.wait(0.2)
            removed += stores[1].purge_token("bad", DAY0 - 1)
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors
        assert removed > 0
        volume = stores[0].token_volume(DAY0 - 5)
        per_token = {"good": 0, "bad": 0}
        for (token, _day), tools in volume.items():
            per_token[token] += sum(tools.values())
        assert per_token == {"good": sent["good"], "bad": sent["bad"] - removed}
        assert (
            sum(_totals(stores[0], Dimension.TOOL).values()) == sent["good"] + sent["bad"] - removed
        )
        assert sum(_totals(stores[0], Dimension.MONTH).values()) == sum(per_token.values())
    finally:
        stop.set()
        for s in stores:
            s.close()

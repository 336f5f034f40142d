"""The Store contract, run against every backend in collector.store.STORES."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ratwatch_proto.limits import MAX_AGE_DAYS

from collector import releases
from collector.errors import StoreError
from collector.model import Batch, Dimension, Query, TallyRow
from collector.periods import from_date, month_label, quarter_label, to_date, week_label
from collector.release_policy import GRIDS, ReleaseParams
from collector.store import STORES, Store

DAY0 = from_date(dt.date(2026, 11, 21))


class Clock:
    def __init__(self) -> None:
        self.now = DAY0 * 86400.0

    def __call__(self) -> float:
        return self.now


def location(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Path | str:
    """Where a fresh store of ``kind`` lives: a data dir, or a new PostgreSQL database."""
    if kind == "postgresql":
        return str(request.getfixturevalue("pg_dsn"))
    return tmp_path


@pytest.fixture(params=sorted(STORES))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Open (or reopen) the backend under test in a fresh location."""
    opened: list[Store] = []
    where = location(request, request.param, tmp_path)

    def open_(read_only: bool = False, clock: Callable[[], float] | None = None) -> Store:
        store = STORES[request.param](where, clock=clock or Clock(), read_only=read_only)
        opened.append(store)
        return store

    yield open_
    for s in opened:
        s.close()


def tally(
    day: int, tool: str = "teamviewer", count: int = 1, t: int = 2, s: int = 1, o: int = 1
) -> TallyRow:
    return TallyRow(day, tool, t, s, o, count)


def batch(*rows: TallyRow, region: str = "", bid: bytes | None = None) -> Batch:
    return Batch(bid or os.urandom(16), region, tuple(rows))


def by(store: Store, *dims: Dimension, **kw: Any) -> dict[tuple[Any, ...], int]:
    return {c.key: c.count for c in store.query(Query(group_by=dims, **kw))}


def test_ingest_then_query_exactly(open_store: Callable[..., Store]) -> None:
    store = open_store()
    r = store.ingest(batch(tally(DAY0, count=3), tally(DAY0 - 1, "anydesk", 2), region="NL"))
    assert (r.duplicate, r.rows_accepted) == (False, 2)
    store.ingest(batch(tally(DAY0, count=4)))
    assert by(store, Dimension.TOOL) == {("teamviewer",): 7, ("anydesk",): 2}
    assert by(store, Dimension.REGION, Dimension.TOOL) == {
        ("NL", "teamviewer"): 3,
        ("", "teamviewer"): 4,
        ("NL", "anydesk"): 2,
    }
    assert by(store) == {(): 9}


def test_duplicate_batch_counts_once_even_in_one_group(open_store: Callable[..., Store]) -> None:
    store = open_store()
    bid = os.urandom(16)
    same = [batch(tally(DAY0, count=5), bid=bid) for _ in range(20)]
    results = store.submit_group(same).result()
    assert sum(not r.duplicate for r in results) == 1
    assert store.ingest(same[0]).duplicate
    assert by(store, Dimension.TOOL) == {("teamviewer",): 5}


def test_seen_answers_for_acknowledged_ids_only(open_store: Callable[..., Store]) -> None:
    store = open_store()
    acked = batch(tally(DAY0, count=2))
    assert not store.seen(acked.batch_id)
    store.ingest(acked)
    assert store.seen(acked.batch_id)
    assert not store.seen(os.urandom(16))


def test_empty_batch_is_acknowledged_and_changes_nothing(open_store: Callable[..., Store]) -> None:
    store = open_store()
    assert store.ingest(batch()).rows_accepted == 0
    assert by(store, Dimension.TOOL) == {}


def test_acknowledged_batches_survive_reopen(open_store: Callable[..., Store]) -> None:
    store = open_store()
    seen = batch(tally(DAY0, "rustdesk", 9))
    store.ingest(seen)
    store.close()
    again = open_store()
    assert by(again, Dimension.TOOL) == {("rustdesk",): 9}
    assert again.ingest(seen).duplicate  # the seen ids are durable too


def test_close_commits_everything_queued(open_store: Callable[..., Store]) -> None:
    store = open_store()
    futures = [store.submit_group([batch(tally(DAY0, count=1))]) for _ in range(300)]
    store.close()
    assert all(f.result()[0].rows_accepted == 1 for f in futures)
    with pytest.raises(StoreError):
        store.submit_group([batch(tally(DAY0))])
    assert by(open_store(), Dimension.TOOL) == {("teamviewer",): 300}


def test_concurrent_submitters_lose_nothing(open_store: Callable[..., Store]) -> None:
    store = open_store()

    def work(k: int) -> None:
        for i in range(100):
            store.ingest(batch(tally(DAY0 - i % 30, f"tool-{k}", 1 + i % 3)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = sum(1 + i % 3 for i in range(100))
    assert by(store, Dimension.TOOL) == {(f"tool-{k}",): expected for k in range(4)}


def test_read_only_store_reads_but_refuses_writes(open_store: Callable[..., Store]) -> None:
    writer = open_store()
    writer.ingest(batch(tally(DAY0, count=2)))
    reader = open_store(read_only=True)
    assert by(reader, Dimension.TOOL) == {("teamviewer",): 2}
    with pytest.raises(StoreError):
        reader.submit_group([batch(tally(DAY0))])


@pytest.mark.parametrize("kind", sorted(STORES))
def test_read_only_needs_an_existing_database(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    where = location(request, kind, tmp_path)
    with pytest.raises(StoreError, match="no collector database"):
        STORES[kind](where / "nothing" if isinstance(where, Path) else where, read_only=True)


def test_seen_ids_are_pruned_only_after_validation_would_refuse_a_replay(
    open_store: Callable[..., Store],
) -> None:
    clock = Clock()
    store = open_store(clock=clock)
    old = batch(tally(DAY0 - 10, count=3), tally(DAY0, count=1))
    store.ingest(old)
    # Up to the last day a replay could pass validation (+ margin), it is a duplicate.
    clock.now = (DAY0 - 10 + MAX_AGE_DAYS) * 86400.0
    assert store.ingest(old).duplicate
    # Long after, the id may be forgotten: validation rejects any replay by then.
    clock.now = (DAY0 + 60) * 86400.0
    store.ingest(batch(tally(DAY0 + 60)))  # a write triggers the daily pruning
    replay = store.ingest(old)  # stores never validate; this shows the id was dropped
    assert not replay.duplicate


# --- grouping over periods: every plan must equal a brute-force sum ------------


@pytest.fixture(params=["fresh", "reopened"])
def year_store(
    request: pytest.FixtureRequest, open_store: Callable[..., Store]
) -> tuple[Store, list[tuple[TallyRow, str]]]:
    """Tallies over 14 months: queried right after ingest, and after a reopen.

    A backend may stage fresh counts before folding them into its tables
    (SQLite does); both states must answer the same.
    """
    rng = random.Random(5)
    store = open_store()
    rows: list[tuple[TallyRow, str]] = []
    start = from_date(dt.date(2025, 12, 20))
    for day in range(start, start + 420, 3):
        tallies = [
            tally(
                day,
                rng.choice(["teamviewer", "anydesk", "quick_assist"]),
                rng.randrange(1, 9),
                rng.randrange(1, 6),
                rng.randrange(1, 6),
                rng.randrange(1, 6),
            )
            for _ in range(4)
        ]
        region = rng.choice(["", "NL", "BE"])
        store.ingest(batch(*tallies, region=region))
        rows += [(t, region) for t in tallies]
    if request.param == "reopened":
        store.close()
        store = open_store()
    return store, rows


def _label(dim: Dimension, day: int) -> str:
    d = to_date(day)
    month = d.year * 12 + d.month - 1
    return {
        Dimension.DAY: d.isoformat(),
        Dimension.WEEK: week_label(from_date(d - dt.timedelta(days=d.weekday()))),
        Dimension.MONTH: month_label(month),
        Dimension.QUARTER: quarter_label(month),
    }[dim]


def _brute(rows: list[tuple[TallyRow, str]], query: Query) -> dict[tuple[Any, ...], int]:
    out: dict[tuple[Any, ...], int] = {}
    for r, region in rows:
        if query.since_day is not None and r.day < query.since_day:
            continue
        if query.until_day is not None and r.day > query.until_day:
            continue
        if query.tool_ids and r.tool_id not in query.tool_ids:
            continue
        if query.triggers and r.trigger not in query.triggers:
            continue
        if query.regions and region not in query.regions:
            continue
        values = {
            Dimension.TOOL: r.tool_id,
            Dimension.TRIGGER: r.trigger,
            Dimension.STAGE: r.stage,
            Dimension.OUTCOME: r.outcome,
            Dimension.REGION: region,
        }
        key = tuple(values[d] if d in values else _label(d, r.day) for d in query.group_by)
        out[key] = out.get(key, 0) + r.count
    return out


GROUPINGS = [
    (Dimension.TOOL,),
    (Dimension.TOOL, Dimension.MONTH),
    (Dimension.QUARTER, Dimension.TOOL),
    (Dimension.WEEK,),
    (Dimension.DAY, Dimension.REGION),
    (Dimension.TRIGGER, Dimension.STAGE, Dimension.OUTCOME),
    (Dimension.MONTH, Dimension.REGION, Dimension.OUTCOME),
    (),
]
RANGES = [
    (None, None),
    (from_date(dt.date(2026, 1, 1)), from_date(dt.date(2026, 12, 31))),  # whole months
    (from_date(dt.date(2026, 1, 14)), from_date(dt.date(2026, 9, 3))),  # ragged both ends
    (from_date(dt.date(2026, 3, 5)), from_date(dt.date(2026, 3, 20))),  # inside one month
    (None, from_date(dt.date(2026, 2, 10))),
    (from_date(dt.date(2026, 6, 30)), None),
]


@pytest.mark.parametrize("group_by", GROUPINGS, ids=lambda g: ",".join(d.name for d in g) or "none")
def test_grouping_matches_brute_force(
    year_store: tuple[Store, list[tuple[TallyRow, str]]], group_by: tuple[Dimension, ...]
) -> None:
    store, rows = year_store
    filters: list[dict[str, Any]] = [
        {},
        {"tool_ids": frozenset({"anydesk"})},
        {"regions": frozenset({"NL"})},
        {"triggers": frozenset({2, 3})},
    ]
    for (lo, hi), extra in itertools.product(RANGES, filters):
        query = Query(group_by=group_by, since_day=lo, until_day=hi, **extra)
        assert by(store, *group_by, since_day=lo, until_day=hi, **extra) == _brute(rows, query), (
            lo,
            hi,
            extra,
        )


# --- per-token tallies: what one deployment token added, and taking it back ----


def tbatch(token: str, *rows: TallyRow, region: str = "") -> Batch:
    return Batch(os.urandom(16), region, tuple(rows), token=token)


def test_token_volume_splits_counts_by_token(open_store: Callable[..., Store]) -> None:
    store = open_store()
    store.ingest(tbatch("tok-a", tally(DAY0 - 1, "anydesk", 2), tally(DAY0, "anydesk", 3)))
    store.ingest(tbatch("tok-b", tally(DAY0, "anydesk", 5), tally(DAY0, "rustdesk", 1)))
    store.ingest(tbatch("", tally(DAY0, "anydesk", 7)))  # unattributed
    store.ingest(tbatch("tok-a", tally(DAY0 - 9, "anydesk", 4)))  # before since_day
    assert store.token_volume(DAY0 - 1) == {
        ("tok-a", DAY0 - 1): {"anydesk": 2},
        ("tok-a", DAY0): {"anydesk": 3},
        ("tok-b", DAY0): {"anydesk": 5, "rustdesk": 1},
        ("", DAY0): {"anydesk": 7},
    }


def test_purge_takes_back_exactly_what_one_token_added(open_store: Callable[..., Store]) -> None:
    store = open_store()
    first = from_date(dt.date(2026, 10, 30))  # the purge crosses a month boundary
    honest = [tally(first + i, "anydesk", 1 + i % 4) for i in range(6)]
    for i in range(0, 6, 2):
        store.ingest(tbatch("good", honest[i], honest[i + 1], region="NL"))
    baseline = {g: by(store, *g) for g in [(Dimension.TOOL,), (Dimension.DAY,), (Dimension.MONTH,)]}
    # The forger's cells share the honest keys and add new ones, before and after the purge day.
    early = tbatch("bad", tally(first, "anydesk", 50), region="NL")
    late = [
        tbatch(
            "bad", tally(first + 2, "anydesk", 40), tally(first + 3, "zoho_assist", 9), region="NL"
        ),
        tbatch("bad", tally(first + 5, "anydesk", 30), region="NL"),
    ]
    for b in [early, *late]:
        store.ingest(b)
    removed = store.purge_token("bad", first + 2)
    assert removed == 40 + 9 + 30
    # What is left is the baseline plus the forger's one early cell, at every grain.
    assert by(store, Dimension.TOOL) == {
        ("anydesk",): baseline[(Dimension.TOOL,)][("anydesk",)] + 50
    }
    days = dict(baseline[(Dimension.DAY,)])
    days[(to_date(first).isoformat(),)] += 50
    assert by(store, Dimension.DAY) == days
    months = dict(baseline[(Dimension.MONTH,)])
    months[(month_label(to_date(first).year * 12 + to_date(first).month - 1),)] += 50
    assert by(store, Dimension.MONTH) == months
    assert by(store, Dimension.TOOL, tool_ids=frozenset({"zoho_assist"})) == {}
    # A replay of a purged batch is a duplicate: it adds nothing again.
    assert all(store.ingest(b).duplicate for b in late)
    assert by(store, Dimension.TOOL)[("anydesk",)] == baseline[(Dimension.TOOL,)][("anydesk",)] + 50
    volume = store.token_volume(first)
    assert volume[("bad", first)] == {"anydesk": 50}
    assert not [k for k in volume if k[0] == "bad" and k[1] >= first + 2]
    assert store.purge_token("bad", first + 2) == 0


def test_purge_refused_by_a_read_only_store(open_store: Callable[..., Store]) -> None:
    open_store().ingest(tbatch("bad", tally(DAY0, count=3)))
    with pytest.raises(StoreError):
        open_store(read_only=True).purge_token("bad", DAY0)


# --- releases: written once, read back whole ------------------------------------


def _seed_two_months(store: Store) -> None:
    """September and October 2026: several tools, triggers, outcomes and regions."""
    rng = random.Random(11)
    first = from_date(dt.date(2026, 9, 1))
    for i in range(60):
        rows = tuple(
            tally(
                first + rng.randrange(61),
                rng.choice(["teamviewer", "anydesk", "quick_assist"]),
                rng.randrange(20, 90),
                rng.randrange(1, 4),
                rng.randrange(1, 3),
                rng.randrange(1, 4),
            )
            for _ in range(5)
        )
        store.ingest(batch(*rows, region=["NL", "BE", ""][i % 3]))


def test_releases_are_stored_once_and_read_back_whole(open_store: Callable[..., Store]) -> None:
    clock = Clock()
    clock.now = from_date(dt.date(2026, 11, 10)) * 86400.0 + 3600
    store = open_store(clock=clock)
    _seed_two_months(store)
    with store.releasing() as mine:
        assert mine  # one process: it may always make them
    made = releases.make_due(store, ReleaseParams(), clock)
    assert {"quarter/2026-Q3", "month/2026-09", "month/2026-10", "day/2026-10-31"} <= set(made)
    headers = store.release_headers()
    assert [h.release_id for h in headers] == sorted(
        made, key=lambda r: (next(h.first_day for h in headers if h.release_id == r), r)
    )
    stored = {h.release_id: (h, store.release_cells(h.release_id)) for h in headers}
    for header, cells in stored.values():
        assert header.cells_checksum == releases.checksum(list(cells))
        assert all(len(k) == len(header.grid) for k, _ in cells)
        assert list(cells) == sorted(cells, key=lambda c: c[0])  # in the grid's key order
    quarter, qcells = stored["quarter/2026-Q3"]
    assert quarter.grid[-1] is Dimension.REGION and {k[-1] for k, _ in qcells} <= {"NL", "BE", ""}
    assert all(isinstance(k[1], int) and isinstance(k[0], str) for k, _ in qcells)
    # A second computation of a stored period is refused; nothing changes.
    sep = stored["month/2026-09"][0]
    again = releases.compute(
        Dimension.MONTH,
        sep.first_day,
        sep.last_day,
        False,
        store.query(Query(group_by=GRIDS[Dimension.MONTH], since_day=sep.first_day)),
        ReleaseParams(),
        clock(),
    )
    assert not store.put_release(again)
    assert releases.make_due(store, ReleaseParams(), clock) == []
    store.close()
    for reopened in (open_store(clock=clock), open_store(read_only=True, clock=clock)):
        assert reopened.release_headers() == headers
        assert {h: reopened.release_cells(h) for h in stored} == {
            h: c for h, (_, c) in stored.items()
        }
        assert reopened.release_cells("month/1999-01") == ()
    with pytest.raises(StoreError):
        open_store(read_only=True, clock=clock).put_release(again)

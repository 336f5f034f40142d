"""Releases: one fixed, noisy table per closed period, computed once and kept unchanged.

A release is computed from the store's tallies of one period over that
period's grid (collector.release_policy), noised and thresholded with
OpenDP (collector.noise), and stored with everything needed to say what it
is: its noise scale, threshold, budget, a checksum of its cells, and, for
the operator only, a checksum and total of the tallies it came from. Every
analyst answer is added up from releases (collector.queries).

When: a period is released once it is *closed*, ``delay_days`` after its
last day. Batches that arrive later for a closed period (agents may upload
rows up to 35 days old) are added to the raw tallies, which the operator
sees, but never to its release: the stored release is final, and the
operator can compare its source total with today's tallies to see how much
came late. The running month gets one provisional release, of its days
1..15 once they are closed; the closed month's release replaces it in
answers, and both count against the budget (release_policy).

What: only tool ids analysts may see (collector.known_tools); a held id
never enters a release, and one allowed later counts from the next
release on. The dropped tally stays out (see released_tools).

Who: only the process holding the writable store computes releases (the
single-process collector, or the writer of ``serve --workers N``), and the
store refuses a second release with the same id, so each period is
released exactly once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator

from ratwatch_proto.limits import DROPPED_TOOL_ID

from collector.errors import StoreError
from collector.model import Cell, CellKey, Dimension, Query, Release
from collector.noise import noisy_count, release_cells
from collector.periods import (
    day_label,
    first_day_of_month,
    from_date,
    last_day_of_month,
    month_label,
    month_of_day,
    quarter_label,
    week_label,
)
from collector.release_policy import GRIDS, KINDS, PROVISIONAL_DAY, ReleaseParams, calibrate
from collector.store import Store

log = logging.getLogger(__name__)

CHECK_SECONDS = 60.0  # how often the writer looks for periods that closed


def span(kind: Dimension, day: int) -> tuple[int, int]:
    """First and last day of the ``kind`` period containing ``day``."""
    if kind is Dimension.DAY:
        return day, day
    if kind is Dimension.WEEK:
        monday = day - (day + 3) % 7
        return monday, monday + 6
    month = month_of_day(day)
    if kind is Dimension.QUARTER:
        month -= month % 3
        return first_day_of_month(month), last_day_of_month(month + 2)
    return first_day_of_month(month), last_day_of_month(month)


def label(kind: Dimension, day: int) -> str:
    """The label of ``day``'s period: ``2017-02-03``, ``2017-W06``, ``2017-02``, ``2017-Q1``."""
    if kind is Dimension.DAY:
        return day_label(day)
    if kind is Dimension.WEEK:
        return week_label(span(kind, day)[0])
    month = month_of_day(day)
    return month_label(month) if kind is Dimension.MONTH else quarter_label(month)


def release_id(kind: Dimension, first: int, last: int, provisional: bool) -> str:
    """``month/2017-02``; provisional ``month/2017-02/to/2017-02-15``."""
    rid = f"{kind.name.lower()}/{label(kind, first)}"
    return f"{rid}/to/{day_label(last)}" if provisional else rid


def _key_text(key: CellKey) -> str:
    return json.dumps(list(key), separators=(",", ":"))


def checksum(cells: list[tuple[CellKey, int]]) -> str:
    """SHA-256 over the cells in key order: equal tables, equal checksums."""
    h = hashlib.sha256()
    for key, count in sorted(cells, key=lambda c: _key_text(c[0])):
        h.update(f"{_key_text(key)}={count}\n".encode())
    return h.hexdigest()


def compute(  # noqa: PLR0917 - one period's full description
    kind: Dimension,
    first: int,
    last: int,
    provisional: bool,
    source: list[Cell],
    params: ReleaseParams,
    now: float,
) -> Release:
    """Noise, threshold and describe one period's tallies (``source``, over GRIDS[kind])."""
    cal = calibrate(kind, params.epsilon, params.delta)
    by_text = {_key_text(c.key): c.count for c in source if c.count > 0}
    released = release_cells(by_text, cal.noise_scale, cal.threshold)
    cells = sorted(((tuple(json.loads(k)), v) for k, v in released.items()), key=lambda c: c[0])
    total = sum(by_text.values())
    raw = [(c.key, c.count) for c in source]
    return Release(
        release_id=release_id(kind, first, last, provisional),
        kind=kind,
        period=label(kind, first),
        first_day=first,
        last_day=last,
        provisional=provisional,
        grid=GRIDS[kind],
        epsilon=params.epsilon,
        delta=params.delta,
        noise_scale=cal.noise_scale,
        threshold=cal.threshold,
        noisy_total=max(0, noisy_count(total, cal.total_scale)),
        cells_checksum=checksum(cells),
        source_checksum=checksum(raw),
        source_total=total,
        created_at=int(now),
        cells=tuple(cells),
    )


def due(
    kind: Dimension, first_data_day: int, today: int, delay_days: int
) -> Iterator[tuple[int, int, bool]]:
    """``(first, last, provisional)`` of every period of ``kind`` that may be released today."""
    first, last = span(kind, first_data_day)
    while last + delay_days < today:
        yield first, last, False
        first, last = span(kind, last + 1)
    if kind is Dimension.MONTH and first + PROVISIONAL_DAY - 1 + delay_days < today:
        yield first, first + PROVISIONAL_DAY - 1, True


def first_data_day(store: Store) -> int | None:
    """The first day of the first month with any tally (cheap: the month roll-up)."""
    months = [str(c.key[0]) for c in store.query(Query(group_by=(Dimension.MONTH,)))]
    if not months:
        return None
    year, month = min(months).split("-")
    return from_date(dt.date(int(year), int(month), 1))


def released_tools(visible: frozenset[str] | None) -> frozenset[str] | None:
    """The tool ids a release may hold: the visible ones, never the dropped tally.

    Held ids (collector.known_tools) never enter a release. The dropped
    tally (``ratwatch.dropped``) is left out too: one PC-day's dropped row
    may count up to MAX_ROW_COUNT, far beyond the contribution bound the
    noise is calibrated to (release_policy), so it stays in the operator's
    raw view. None (tests, bench): every id but the dropped tally.
    """
    return None if visible is None else visible - {DROPPED_TOOL_ID}


def make_due(
    store: Store,
    params: ReleaseParams,
    clock: Callable[[], float],
    *,
    visible: frozenset[str] | None = None,
) -> list[str]:
    """Compute and store every release that is due and not stored yet; returns their ids.

    Only ``visible`` tool ids (collector.known_tools) are released; see released_tools.
    """
    today = int(clock() // 86400)
    start = first_data_day(store)
    if start is None:
        return []
    tools = released_tools(visible)
    have = {r.release_id for r in store.release_headers()}
    made: list[str] = []
    for kind in KINDS:
        for first, last, provisional in due(kind, start, today, params.delay_days):
            rid = release_id(kind, first, last, provisional)
            if rid in have or (provisional and release_id(kind, first, last, False) in have):
                continue
            if provisional and any(h.startswith(rid.rsplit("/to/", 1)[0] + "/to/") for h in have):
                continue  # the month's one provisional release exists
            source: list[Cell] = []
            if tools is None or tools:
                source = store.query(
                    Query(
                        group_by=GRIDS[kind],
                        since_day=first,
                        until_day=last,
                        tool_ids=tools or frozenset(),
                    )
                )
            source = [c for c in source if c.key[0] != DROPPED_TOOL_ID]  # TOOL leads every grid
            rel = compute(kind, first, last, provisional, source, params, clock())
            if store.put_release(rel):
                made.append(rid)
    return made


class ReleaseWorker:
    """A thread in the writing process: makes due releases at start and every CHECK_SECONDS."""

    def __init__(
        self,
        store: Store,
        params: ReleaseParams,
        clock: Callable[[], float] = time.time,
        interval: float = CHECK_SECONDS,
        *,
        visible: frozenset[str] | None = None,
    ) -> None:
        self._store = store
        self._visible = visible
        self._params = params
        self._clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pass = threading.Lock()  # one pass at a time: each release computed once
        self._thread = threading.Thread(target=self._run, name="releases", daemon=True)

    def start(self) -> None:
        """Begin (the first pass runs at once)."""
        self._thread.start()

    def run_once(self) -> list[str]:
        """One pass now, in the caller's thread (tests that move the clock); returns new ids."""
        with self._pass, self._store.releasing() as mine:  # one collector at a time
            made = (
                make_due(self._store, self._params, self._clock, visible=self._visible)
                if mine
                else []
            )
        if made:
            log.info("released %d period(s): %s", len(made), ", ".join(made[:5]))
        return made

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except StoreError as exc:
                log.error("computing releases failed, will retry: %s", exc)
            self._wake.wait(self._interval)
            self._wake.clear()

    def stop(self) -> None:
        """Stop and wait for a pass in progress to finish."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

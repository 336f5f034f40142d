"""Analysts' answers: sums of released cells, and nothing else.

A query is answered by choosing releases that tile its date range (whole
periods only, coarsest first, each with a grid holding every dimension the
query groups or filters by), then adding up their released cells. So:

- every number an analyst sees is post-processing of releases: no set of
  queries (differences of groupings, leave-one-out with tool filters,
  overlapping windows) reveals more than the releases themselves do;
- two groupings of the same releases have the same total, exactly;
- a cell below the threshold is not in any release, so its key is never
  listed; its counts are in the "suppressed" figure (each release's noisy
  total minus its released cells), which is not broken down by filter.

Shares are over the releases' noisy totals, so they stay honest when small
cells are suppressed. Each row carries the half-width of a 95 % interval
for the noise (collector.release_policy.interval); suppression is a bias
the interval does not cover, explained in docs/about-the-data.md.

Releases never change, so what a release contributes to a grouping is
computed once per process and kept (``Projections``).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Iterable

from collector.model import PERIODS, CellKey, Dimension, Query, Release
from collector.release_policy import GRIDS, KINDS, interval
from collector.releases import label
from collector.report import RELEASE_VIEW, Report, ReportRow
from collector.store import Store

# Which release kinds may answer a query grouped by a period: a release must
# lie inside one period of the grouping (weeks cross month boundaries).
_FITS: dict[Dimension | None, frozenset[Dimension]] = {
    None: frozenset(KINDS),
    Dimension.DAY: frozenset({Dimension.DAY}),
    Dimension.WEEK: frozenset({Dimension.DAY, Dimension.WEEK}),
    Dimension.MONTH: frozenset({Dimension.DAY, Dimension.MONTH}),
    Dimension.QUARTER: frozenset({Dimension.DAY, Dimension.MONTH, Dimension.QUARTER}),
}
_FILTERS = (
    (Dimension.TOOL, "tool_ids"),
    (Dimension.TRIGGER, "triggers"),
    (Dimension.STAGE, "stages"),
    (Dimension.OUTCOME, "outcomes"),
    (Dimension.REGION, "regions"),
)
_MAX_PROJECTIONS = 50_000

_Projection = dict[CellKey, tuple[int, int]]  # key -> (sum, cells)


def needs(query: Query) -> frozenset[Dimension]:
    """The non-period dimensions a release's grid must hold to answer ``query``."""
    dims = {d for d in query.group_by if d not in PERIODS}
    dims |= {d for d, name in _FILTERS if getattr(query, name)}
    return frozenset(dims)


def choose(headers: Iterable[Release], query: Query) -> tuple[list[Release], int]:
    """Releases that tile the query's range, and how many days in it none covers.

    Greedy from the coarsest kind: a release is taken when it lies wholly
    inside a part of the range not covered yet. A closed period's release
    comes before its provisional one, which then no longer fits.
    """
    need = needs(query)
    kinds = [k for k in KINDS if k in _FITS[query.period] and need <= set(GRIDS[k])]
    every = sorted(
        (h for h in headers if h.kind in kinds), key=lambda h: (h.first_day, h.provisional)
    )
    if not every:
        return [], 0
    lo = query.since_day if query.since_day is not None else every[0].first_day
    hi = max(h.last_day for h in every)
    if query.until_day is not None:
        hi = min(hi, query.until_day)
    gaps = [(lo, hi)] if lo <= hi else []
    chosen: list[Release] = []
    for kind in kinds:
        for h in every:
            if h.kind is not kind:
                continue
            for i, (a, b) in enumerate(gaps):
                if a <= h.first_day and h.last_day <= b:
                    chosen.append(h)
                    parts = ((a, h.first_day - 1), (h.last_day + 1, b))
                    gaps[i : i + 1] = [g for g in parts if g[0] <= g[1]]
                    break
    chosen.sort(key=lambda h: (h.first_day, h.release_id))
    return chosen, sum(b - a + 1 for a, b in gaps)


class Projections:
    """What each (immutable) release adds to each grouping, computed once per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cells: dict[str, tuple[tuple[CellKey, int], ...]] = {}
        self._projections: dict[tuple[object, ...], _Projection] = {}

    def cells(self, store: Store, rel: Release) -> tuple[tuple[CellKey, int], ...]:
        """The release's cells, read once."""
        with self._lock:
            got = self._cells.get(rel.release_id)
        if got is None:
            got = store.release_cells(rel.release_id)
            with self._lock:
                self._cells[rel.release_id] = got
        return got

    def project(self, store: Store, rel: Release, query: Query) -> _Projection:
        """``rel``'s released cells that pass the filters, summed by the query's key."""
        key = (
            rel.release_id,
            query.group_by,
            *(tuple(sorted(map(str, getattr(query, name)))) for _, name in _FILTERS),
        )
        with self._lock:
            got = self._projections.get(key)
        if got is not None:
            return got
        at = {d: i for i, d in enumerate(rel.grid)}
        checks = [(at[d], getattr(query, name)) for d, name in _FILTERS if getattr(query, name)]
        period = label(query.period, rel.first_day) if query.period is not None else ""
        picks = [at.get(d, -1) for d in query.group_by]
        out: _Projection = {}
        for cell_key, count in self.cells(store, rel):
            if any(cell_key[i] not in values for i, values in checks):
                continue
            k = tuple(cell_key[i] if i >= 0 else period for i in picks)
            total, n = out.get(k, (0, 0))
            out[k] = (total + count, n + 1)
        with self._lock:
            if len(self._projections) >= _MAX_PROJECTIONS:
                self._projections.clear()
            self._projections[key] = out
        return out


_SHARED = Projections()


def run(
    store: Store,
    query: Query,
    projections: Projections = _SHARED,
    *,
    visible: frozenset[str] | None = None,
) -> Report:
    """Answer ``query`` from the stored releases, over the ``visible`` tool ids when given.

    Analysts' answers always pass ``visible`` (collector.known_tools). A
    held id never enters a release (collector.releases); the filter also
    keeps an id denied after its release out of every cell and total,
    whatever the grouping (every grid holds the tool).
    """
    headers = store.release_headers()
    if visible is not None:
        tool_ids = query.tool_ids & visible if query.tool_ids else visible
        query = dataclasses.replace(query, tool_ids=tool_ids)
        if not tool_ids:  # an empty filter would mean "every tool": none is visible
            headers = []
    chosen, uncovered = choose(headers, query)
    sums: dict[CellKey, list[int]] = {}
    suppressed = 0
    for rel in chosen:
        released = sum(count for _, count in projections.cells(store, rel))
        suppressed += max(0, rel.noisy_total - released)
        for k, (count, n) in projections.project(store, rel, query).items():
            acc = sums.setdefault(k, [0, 0])
            acc[0] += count
            acc[1] += n
    release_total = sum(r.noisy_total for r in chosen)
    scale = max((r.noise_scale for r in chosen), default=0.0)
    total_ci = interval(len(chosen), scale) if chosen else 0.0
    period_at = next((i for i, d in enumerate(query.group_by) if d in PERIODS), None)
    rows = []
    for k, (count, n) in sums.items():
        ci = interval(n, scale)
        share = count / release_total if release_total else 0.0
        share_ci = (
            math.hypot(ci / release_total, count * total_ci / release_total**2)
            if release_total
            else 0.0
        )
        order = (str(k[period_at]) if period_at is not None else "", -count, k)
        rows.append((order, ReportRow(k, count, share, ci, share_ci)))
    rows.sort(key=lambda pair: (pair[0][0], pair[0][1], tuple(map(str, pair[0][2]))))
    return Report(
        group_by=query.group_by,
        rows=tuple(row for _, row in rows),
        total=sum(count for count, _ in sums.values()),
        view=RELEASE_VIEW,
        suppressed=suppressed,
        release_total=release_total,
        releases=tuple(chosen),
        noise_scale=scale,
        threshold=max((r.threshold for r in chosen), default=0),
        uncovered_days=uncovered,
    )

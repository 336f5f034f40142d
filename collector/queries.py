"""Analysts' answers: grouped counts with small-cell suppression and shares.

A cell counted fewer than ``min_cell_count`` times is published as
suppressed, without its value. Totals and shares are computed over the
published cells only, and the reply says how many cells were suppressed,
so a suppressed value cannot be recovered by subtracting the published
cells from the total. Suppressed cells are listed in key order, never by
their hidden size, so their position leaks nothing either.

(What no single reply can prevent: an analyst who runs two overlapping
queries and subtracts. Small cells are about accidental disclosure in one
published table; access to Stats is limited to analyst tokens for the rest.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from collector.model import PERIODS, Cell, CellKey, Dimension, Query
from collector.store import Store


@dataclass(frozen=True)
class ReportRow:
    """One published cell: its key in group_by order, and its count unless suppressed."""

    key: CellKey
    count: int | None  # None = suppressed
    share: float | None  # count / total of published cells; None = suppressed

    @property
    def suppressed(self) -> bool:
        """True when the cell is below the minimum and its value is withheld."""
        return self.count is None


@dataclass(frozen=True)
class Report:
    """A query's answer, ready for a table, CSV, JSON or the wire."""

    group_by: tuple[Dimension, ...]
    rows: tuple[ReportRow, ...]
    total: int  # over published cells only
    suppressed_cells: int
    min_cell_count: int


def publish(query: Query, cells: list[Cell], min_cell_count: int) -> Report:
    """Apply suppression, compute shares over published cells, order the rows.

    Rows come in period order (when grouped by a period), then published
    cells by count, largest first, then suppressed cells by key.
    """
    published = [c for c in cells if c.count >= min_cell_count]
    hidden = [c for c in cells if c.count < min_cell_count]
    total = sum(c.count for c in published)
    period_at = next((i for i, d in enumerate(query.group_by) if d in PERIODS), None)

    def period(key: CellKey) -> str:
        return str(key[period_at]) if period_at is not None else ""

    rows = [
        (
            (period(c.key), 0, -c.count, c.key),
            ReportRow(c.key, c.count, c.count / total if total else 0.0),
        )
        for c in published
    ]
    rows += [((period(c.key), 1, 0, c.key), ReportRow(c.key, None, None)) for c in hidden]
    rows.sort(key=lambda pair: pair[0])
    return Report(
        group_by=query.group_by,
        rows=tuple(row for _, row in rows),
        total=total,
        suppressed_cells=len(hidden),
        min_cell_count=min_cell_count,
    )


def run(
    store: Store, query: Query, min_cell_count: int, visible: frozenset[str] | None = None
) -> Report:
    """Query the store and publish the answer, over the ``visible`` tool ids only when given.

    Analysts' answers always pass ``visible`` (collector.known_tools): a
    held id is then in no cell, total or share, whatever the grouping.
    """
    if visible is not None:
        tool_ids = query.tool_ids & visible if query.tool_ids else visible
        query = dataclasses.replace(query, tool_ids=tool_ids)
        if not tool_ids:  # an empty filter would mean "every tool"
            return publish(query, [], min_cell_count)
    return publish(query, store.query(query), min_cell_count)

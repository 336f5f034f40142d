"""The operator's raw view: tallies as they are, NOT FOR PUBLICATION (``stats --raw``).

Only read on the collector's own machine (``--data-dir``); the Stats API
never serves it. Analysts get releases (collector.queries).

A cell counted fewer than ``min_cell_count`` times is published as
suppressed, without its value. Totals and shares are computed over the
published cells only, and the reply says how many cells were suppressed,
so a suppressed value cannot be recovered by subtracting the published
cells from the total. Suppressed cells are listed in key order, never by
their hidden size, so their position leaks nothing either.

This suppression only guards against accidental disclosure in one table
the operator shows someone: two overlapping raw queries, subtracted, reveal
a suppressed cell. That is why the raw view stays with the operator.
"""

from __future__ import annotations

import dataclasses

from collector.model import PERIODS, Cell, CellKey, Query
from collector.report import RAW_VIEW, Report, ReportRow
from collector.store import Store


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
        view=RAW_VIEW,
        suppressed_cells=len(hidden),
        min_cell_count=min_cell_count,
    )


def run(
    store: Store, query: Query, min_cell_count: int, visible: frozenset[str] | None = None
) -> Report:
    """Query the store and publish the answer, over the ``visible`` tool ids only when given.

    ``stats --raw`` passes ``visible`` (collector.known_tools), like every
    answer: held ids are listed by ``tools pending``, not in tables.
    """
    if visible is not None:
        tool_ids = query.tool_ids & visible if query.tool_ids else visible
        query = dataclasses.replace(query, tool_ids=tool_ids)
        if not tool_ids:  # an empty filter would mean "every tool"
            return publish(query, [], min_cell_count)
    return publish(query, store.query(query), min_cell_count)

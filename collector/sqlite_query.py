"""How SqliteStore answers a Query: which tally tables, which SQL, which labels.

Tallies exist at two grains (day, month) and two widths (every dimension;
tool and region only). A query is answered from the narrowest width that
holds every dimension it groups or filters by, and, unless it groups by day
or week, from the month grain for the whole months inside its date range
plus the day grain for the partial months at either end. A year by tool
thus reads ~12 rows per tool instead of ~365 per tool and cell.

All GROUP BYs over the tallies run inside SQLite; Python turns time keys
into labels (``2017-W06``, ``2017-02``, ``2017-Q1``), merges the parts, and
adds the cells still waiting in ``pending`` (at most a fold interval's
worth, see collector.sqlite_store). Everything is read in one transaction,
so a fold running meanwhile is seen entirely or not at all.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable

from collector.model import Cell, Dimension, Query
from collector.periods import (
    day_label,
    first_day_of_month,
    from_date,
    last_day_of_month,
    month_label,
    month_of_day,
    quarter_label,
    week_label,
    week_start_sql,
)
from collector.sqlite_schema import staged_rows

# Non-time dimensions and their columns.
_COLUMNS = {
    Dimension.TOOL: "tool_id",
    Dimension.TRIGGER: "trigger",
    Dimension.STAGE: "stage",
    Dimension.OUTCOME: "outcome",
    Dimension.REGION: "region",
}
_NARROW = frozenset({Dimension.TOOL, Dimension.REGION})
_TABLES = {  # (grain, narrow) -> table
    ("day", False): "tally_day",
    ("month", False): "tally_month",
    ("day", True): "tool_day",
    ("month", True): "tool_month",
}

Part = tuple[str, int | None, int | None]  # grain, first, last (inclusive; None = open)


def _filters(query: Query) -> tuple[list[str], list[str | int], set[Dimension]]:
    conds: list[str] = []
    params: list[str | int] = []
    used: set[Dimension] = set()
    for dim, values in (
        (Dimension.TOOL, query.tool_ids),
        (Dimension.TRIGGER, query.triggers),
        (Dimension.STAGE, query.stages),
        (Dimension.OUTCOME, query.outcomes),
        (Dimension.REGION, query.regions),
    ):
        if values:
            conds.append(f"{_COLUMNS[dim]} IN ({','.join('?' * len(values))})")
            params.extend(sorted(values))
            used.add(dim)
    return conds, params, used


# The month arithmetic below needs dates, which end in 9999. No tally lies
# in the future (validation refuses future days), so clamping the range to
# this day changes no answer; a wire uint32 day may be far beyond it.
LAST_PLANNED_DAY = from_date(dt.date(9999, 11, 30))


def plan(query: Query) -> list[Part]:
    """Split the day range into day-grain edges and whole months at month grain."""
    lo, hi = query.since_day, query.until_day
    if lo is not None:
        lo = min(lo, LAST_PLANNED_DAY)
    if hi is not None:
        hi = min(hi, LAST_PLANNED_DAY)
    if query.period in (Dimension.DAY, Dimension.WEEK):
        return [("day", lo, hi)]
    month_lo = month_hi = None
    if lo is not None:
        m = month_of_day(lo)
        month_lo = m if lo == first_day_of_month(m) else m + 1
    if hi is not None:
        m = month_of_day(hi)
        month_hi = m if hi == last_day_of_month(m) else m - 1
    if month_lo is not None and month_hi is not None and month_lo > month_hi:
        return [("day", lo, hi)]  # no whole month inside the range
    parts: list[Part] = []
    if lo is not None and month_lo is not None and lo < first_day_of_month(month_lo):
        parts.append(("day", lo, first_day_of_month(month_lo) - 1))
    parts.append(("month", month_lo, month_hi))
    if hi is not None and month_hi is not None and hi > last_day_of_month(month_hi):
        parts.append(("day", last_day_of_month(month_hi) + 1, hi))
    return parts


def _labeler(period: Dimension | None, grain: str) -> Callable[[int], str] | None:
    if period is None:
        return None
    if period is Dimension.DAY:
        return day_label
    if period is Dimension.WEEK:
        return week_label
    to_label = month_label if period is Dimension.MONTH else quarter_label
    if grain == "month":
        return to_label
    return lambda day: to_label(month_of_day(day))


def run_query(conn: sqlite3.Connection, query: Query) -> list[Cell]:
    """Execute ``query`` on ``conn`` (autocommit mode) in one read snapshot."""
    conn.execute("BEGIN")
    try:
        cells = _tallies(conn, query)
        _add_pending(conn, query, cells)
    finally:
        conn.execute("ROLLBACK")
    return [Cell(k, v) for k, v in cells.items()]


def _add_pending(
    conn: sqlite3.Connection, query: Query, cells: dict[tuple[str | int, ...], int]
) -> None:
    """Add the committed-but-not-yet-folded cells that match ``query``."""
    lo, hi = query.since_day, query.until_day
    label = _labeler(query.period, "day")
    blobs = (blob for (blob,) in conn.execute("SELECT cells FROM pending"))
    for day, tool_id, trigger, stage, outcome, region, count in staged_rows(blobs):
        if (lo is not None and day < lo) or (hi is not None and day > hi):
            continue
        if (
            (query.tool_ids and tool_id not in query.tool_ids)
            or (query.triggers and trigger not in query.triggers)
            or (query.stages and stage not in query.stages)
            or (query.outcomes and outcome not in query.outcomes)
            or (query.regions and region not in query.regions)
        ):
            continue
        values: dict[Dimension, str | int] = {
            Dimension.TOOL: tool_id,
            Dimension.TRIGGER: trigger,
            Dimension.STAGE: stage,
            Dimension.OUTCOME: outcome,
            Dimension.REGION: region,
        }
        key = tuple(
            values[d] if d in values else label(day)  # type: ignore[misc]
            for d in query.group_by
        )
        cells[key] = cells.get(key, 0) + count


def _tallies(conn: sqlite3.Connection, query: Query) -> dict[tuple[str | int, ...], int]:
    """Grouped sums from the tally tables."""
    period = query.period
    dims = [d for d in query.group_by if d is not period]
    cols = [_COLUMNS[d] for d in dims]
    where, params, filtered = _filters(query)
    narrow = set(dims) | filtered <= _NARROW
    # Where each selected value goes in the key: dims first, then the period.
    order = [*dims, *([period] if period is not None else [])]
    positions = [order.index(d) for d in query.group_by]
    cells: dict[tuple[str | int, ...], int] = {}
    for grain, lo, hi in plan(query):
        table = _TABLES[(grain, narrow)]
        texpr = week_start_sql(grain) if period is Dimension.WEEK else grain
        select = [*cols, *([texpr] if period is not None else [])]
        conds = list(where)
        bounds: list[int] = []
        if lo is not None:
            conds.append(f"{grain} >= ?")
            bounds.append(lo)
        if hi is not None:
            conds.append(f"{grain} <= ?")
            bounds.append(hi)
        # Column and table names come from the fixed maps above; values are bound.
        sql = f"SELECT {', '.join([*select, 'SUM(count)'])} FROM {table}"  # noqa: S608
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        if select:
            sql += " GROUP BY " + ", ".join(select)
        label = _labeler(period, grain)
        n = len(cols)
        for row in conn.execute(sql, [*params, *bounds]):  # the order of conds
            total = row[-1]
            if total is None:  # SUM over no rows
                continue
            values = list(row[:n])
            if label is not None:
                values.append(label(row[n]))
            key = tuple(values[p] for p in positions)
            cells[key] = cells.get(key, 0) + total
    return cells

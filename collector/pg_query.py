"""How PgStore answers a Query: one SQL statement over the day and month tallies.

The date range is split as for SQLite (collector.sqlite_query.plan, which is
pure arithmetic on day numbers): whole months are read from ``tally_month``,
the ragged edges and day or week groupings from ``tally_day``. Every part
is one branch of a single ``UNION ALL`` statement, so the answer comes from
one snapshot: a commit landing meanwhile is seen whole or not at all. The
GROUP BY runs in PostgreSQL, over the slots too (collector.pg_schema); Python
only turns time keys into labels and merges what shares a label (the months
of a quarter).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from collector.model import Cell, Dimension, Query
from collector.periods import day_label, month_label, quarter_label, week_label, week_start_sql
from collector.pg_schema import MONTH_OF_DAY
from collector.sqlite_query import plan

_COLUMNS = {
    Dimension.TOOL: "tool_id",
    Dimension.TRIGGER: "trigger",
    Dimension.STAGE: "stage",
    Dimension.OUTCOME: "outcome",
    Dimension.REGION: "region",
}
_LABELS: dict[Dimension, Callable[[int], str]] = {
    Dimension.DAY: day_label,
    Dimension.WEEK: week_label,
    Dimension.MONTH: month_label,
    Dimension.QUARTER: quarter_label,
}


def _time_expr(period: Dimension, grain: str) -> str:
    """The SQL for the period's key in a part of ``grain``: a day, a Monday, or a month index."""
    if period is Dimension.DAY:
        return "day"
    if period is Dimension.WEEK:
        return week_start_sql("day")
    return "month" if grain == "month" else MONTH_OF_DAY.format(day="day")


def run_query(conn: psycopg.Connection[TupleRow], query: Query) -> list[Cell]:
    """Execute ``query`` on ``conn`` as one statement (one snapshot)."""
    period = query.period
    dims = [d for d in query.group_by if d is not period]
    cols = [_COLUMNS[d] for d in dims]
    filters: list[sql.Composable] = []
    params: list[object] = []
    for dim, values in (
        (Dimension.TOOL, query.tool_ids),
        (Dimension.TRIGGER, query.triggers),
        (Dimension.STAGE, query.stages),
        (Dimension.OUTCOME, query.outcomes),
        (Dimension.REGION, query.regions),
    ):
        if values:
            filters.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(_COLUMNS[dim])))
            params.append(sorted(values))
    parts: list[sql.Composable] = []
    part_params: list[object] = []
    for grain, lo, hi in plan(query):
        select: list[sql.Composable] = [sql.Identifier(c) for c in cols]
        if period is not None:
            # Fixed expressions from this module; "%" doubled, as psycopg reads it as a placeholder.
            select.append(sql.SQL(_time_expr(period, grain).replace("%", "%%")))
        select.append(sql.Identifier("count"))
        conds = list(filters)
        bounds: list[object] = []
        if lo is not None:
            conds.append(sql.SQL("{} >= %s").format(sql.Identifier(grain)))
            bounds.append(lo)
        if hi is not None:
            conds.append(sql.SQL("{} <= %s").format(sql.Identifier(grain)))
            bounds.append(hi)
        part = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(select), sql.Identifier(f"tally_{grain}")
        )
        if conds:
            part += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds)
        parts.append(part)
        part_params += [*params, *bounds]
    n = len(cols) + (1 if period is not None else 0)
    keys = [sql.SQL(f"k{i}") for i in range(n)]
    names = sql.SQL(", ").join([*keys, sql.SQL("count")])
    statement = sql.SQL("SELECT {keys} SUM(count) FROM ({parts}) AS p ({names}) {group}").format(
        keys=sql.SQL("").join(k + sql.SQL(", ") for k in keys),
        parts=sql.SQL(" UNION ALL ").join(parts),
        names=names,
        group=sql.SQL("GROUP BY ") + sql.SQL(", ").join(keys) if keys else sql.SQL(""),
    )
    order = [*dims, *([period] if period is not None else [])]
    positions = [order.index(d) for d in query.group_by]
    label = _LABELS[period] if period is not None else None
    cells: dict[tuple[str | int, ...], int] = {}
    for row in conn.execute(statement, part_params):
        total = row[-1]
        if total is None:  # SUM over no rows
            continue
        got: list[str | int] = list(row[: len(cols)])
        if label is not None:
            got.append(label(row[len(cols)]))
        key = tuple(got[p] for p in positions)
        cells[key] = cells.get(key, 0) + int(total)
    return [Cell(k, v) for k, v in cells.items()]

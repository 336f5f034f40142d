"""Per-token tallies in the PostgreSQL store: what each deployment token added, and taking it back.

The same cells as ``tally_day`` split by deployment token (as in
collector.sqlite_tokens, whose docstring says why), slotted like the tallies
(collector.pg_schema): every PC of a deployment presents the same token, so
its row for today's TeamViewer cell is exactly as hot as the tally's.

Lock order, so that a purge and N collectors' ingests never deadlock: an
ingest writes ``seen_batch``, then ``token_day``, then the tallies. A purge
first takes ``token_day`` in SHARE ROW EXCLUSIVE mode, which waits for every
ingest that has written ``token_day`` (and so may hold tally row locks) to
commit and holds back every later one before it takes any tally lock; then
the purge alone touches the tallies until it commits. Ingest pauses for the
purge's few statements (an operator's rare command), and every count the
token added before the purge is taken back exactly, and none after it.

A purged cell's slots are folded into one row (slot 0) holding what is left,
or deleted when nothing is; batch ids stay remembered, so a replay of a
purged batch is a duplicate and adds nothing again.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from collector import pg_schema
from collector.periods import month_of_day

TokenKey = tuple[
    str, int, str, int, int, int, str
]  # token, day, tool, trigger, stage, outcome, region
_CellKey = tuple[
    int, str, int, int, int, str
]  # day or month, tool, trigger, stage, outcome, region

UPSERT = f"""
INSERT INTO token_day AS t (token, day, tool_id, trigger, stage, outcome, region, slot, count)
SELECT tok, k, tool_id, trigger, stage, outcome, region, pg_backend_pid() %% {pg_schema.SLOTS}, c
FROM unnest(%s::text[], %s::integer[], %s::text[], %s::smallint[], %s::smallint[],
            %s::smallint[], %s::text[], %s::bigint[])
     WITH ORDINALITY AS u(tok, k, tool_id, trigger, stage, outcome, region, c, n)
ORDER BY n
ON CONFLICT (token, day, tool_id, trigger, stage, outcome, region, slot)
DO UPDATE SET count = t.count + excluded.count
"""  # noqa: S608 - fixed names


def columns(cells: dict[TokenKey, int]) -> list[list[object]]:
    """Summed per-token cells as eight parallel arrays, in key order (the lock order)."""
    items = sorted(cells.items())
    out: list[list[object]] = [[k[i] for k, _ in items] for i in range(7)]
    return [*out, [c for _, c in items]]


def _fold_cells(
    conn: psycopg.Connection[TupleRow], table: str, time_col: str, take: dict[_CellKey, int]
) -> None:
    """Subtract ``take`` from ``table``'s cells: their slots become one row of what is left."""
    keys = sorted(take)
    arrays = [[k[i] for k in keys] for i in range(6)]
    match = (
        f"t.{time_col} = p.k AND t.tool_id = p.tool_id AND t.trigger = p.trigger "
        "AND t.stage = p.stage AND t.outcome = p.outcome AND t.region = p.region"
    )
    unnest = (
        "unnest(%s::integer[], %s::text[], %s::smallint[], %s::smallint[], %s::smallint[], "
        "%s::text[]) AS p(k, tool_id, trigger, stage, outcome, region)"
    )
    had: dict[_CellKey, int] = {}
    for *key, count in conn.execute(
        f"DELETE FROM {table} AS t USING {unnest} WHERE {match} "  # noqa: S608 - fixed names
        f"RETURNING t.{time_col}, t.tool_id, t.trigger, t.stage, t.outcome, t.region, t.count",
        arrays,
    ):
        k = tuple(key)
        had[k] = had.get(k, 0) + int(count)
    left = {k: had.get(k, 0) - n for k, n in take.items()}
    kept = sorted(k for k, v in left.items() if v > 0)
    if kept:
        conn.execute(
            f"INSERT INTO {table} "  # noqa: S608 - fixed names
            f"({time_col}, tool_id, trigger, stage, outcome, region, slot, count) "
            "SELECT * FROM unnest(%s::integer[], %s::text[], %s::smallint[], %s::smallint[], "
            "%s::smallint[], %s::text[], %s::smallint[], %s::bigint[])",
            [*([k[i] for k in kept] for i in range(6)), [0] * len(kept), [left[k] for k in kept]],
        )


def purge(conn: psycopg.Connection[TupleRow], token: str, since_day: int) -> int:
    """Take back what ``token`` added from ``since_day`` on; returns the count removed.

    Runs inside the caller's transaction (see the module docstring for the locks).
    """
    conn.execute("LOCK TABLE token_day IN SHARE ROW EXCLUSIVE MODE")
    days: dict[_CellKey, int] = {}
    months: dict[_CellKey, int] = {}
    removed = 0
    for day, tool_id, trigger, stage, outcome, region, count in conn.execute(
        "DELETE FROM token_day WHERE token = %s AND day >= %s "
        "RETURNING day, tool_id, trigger, stage, outcome, region, count",
        (token, since_day),
    ):
        n = int(count)
        k = (int(day), str(tool_id), int(trigger), int(stage), int(outcome), str(region))
        days[k] = days.get(k, 0) + n
        mk = (month_of_day(k[0]), *k[1:])
        months[mk] = months.get(mk, 0) + n
        removed += n
    if days:
        _fold_cells(conn, "tally_day", "day", days)
        _fold_cells(conn, "tally_month", "month", months)
    return removed


def volume(
    conn: psycopg.Connection[TupleRow], since_day: int
) -> dict[tuple[str, int], dict[str, int]]:
    """``{(token, day): {tool_id: count}}`` from ``since_day`` on, over every slot."""
    out: dict[tuple[str, int], dict[str, int]] = {}
    for token, day, tool_id, count in conn.execute(
        "SELECT token, day, tool_id, sum(count) FROM token_day WHERE day >= %s "
        "GROUP BY token, day, tool_id",
        (since_day,),
    ):
        out.setdefault((str(token), int(day)), {})[str(tool_id)] = int(count)
    return out

"""Per-token tallies in the SQLite store: what each deployment token added, and taking it back.

A deployment token is public (it ships in every PC's config), so whatever
one token added must be removable exactly. ``token_day`` holds the same
cells as ``tally_day`` split by token (a vendor's deployment, never a PC
or a person: every PC of a deployment presents the same token). Purging a
token from a day on subtracts its cells from every tally table and
deletes them, in the caller's transaction; the batch ids stay remembered,
so a replay of a purged batch is a duplicate and adds nothing again.

The functions here run on the store's connections; the store decides when
(see collector.sqlite_store: the writer thread folds first, so nothing of
the token is still staged).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from collector.periods import month_of_day
from collector.sqlite_schema import staged_token_rows

TokenKey = tuple[
    str, int, str, int, int, int, str
]  # token, day, tool, trigger, stage, outcome, region

UPSERT = (
    "INSERT INTO token_day (token, day, tool_id, trigger, stage, outcome, region, count) "
    "SELECT json_extract(value, '$[0][0]'), json_extract(value, '$[0][1]'), "
    "json_extract(value, '$[0][2]'), json_extract(value, '$[0][3]'), "
    "json_extract(value, '$[0][4]'), json_extract(value, '$[0][5]'), "
    "json_extract(value, '$[0][6]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true "
    "ON CONFLICT DO UPDATE SET count = count + excluded.count"
)

_FULL = "tool_id = ? AND trigger = ? AND stage = ? AND outcome = ? AND region = ?"


def purge(conn: sqlite3.Connection, token: str, since_day: int) -> int:
    """Subtract ``token``'s cells from ``since_day`` on from every tally; returns the count removed.

    Runs inside the caller's write transaction, after a fold (nothing staged).
    """
    cells = conn.execute(
        "SELECT day, tool_id, trigger, stage, outcome, region, count FROM token_day "
        "WHERE token = ? AND day >= ?",
        (token, since_day),
    ).fetchall()
    removed = 0
    for day, tool_id, trigger, stage, outcome, region, count in cells:
        month = month_of_day(day)
        full = (tool_id, trigger, stage, outcome, region)
        for table, time_col, when, key in (
            ("tally_day", "day", day, full),
            ("tally_month", "month", month, full),
            ("tool_day", "day", day, (tool_id, region)),
            ("tool_month", "month", month, (tool_id, region)),
        ):
            where = f"{time_col} = ? AND " + (
                _FULL if len(key) == 5 else "tool_id = ? AND region = ?"
            )
            conn.execute(
                f"UPDATE {table} SET count = count - ? WHERE {where}",  # noqa: S608 - fixed names
                (count, when, *key),
            )
            conn.execute(f"DELETE FROM {table} WHERE {where} AND count <= 0", (when, *key))  # noqa: S608
        removed += count
    conn.execute("DELETE FROM token_day WHERE token = ? AND day >= ?", (token, since_day))
    return removed


def volume(conn: sqlite3.Connection, since_day: int) -> dict[tuple[str, int], dict[str, int]]:
    """``{(token, day): {tool_id: count}}`` from ``since_day`` on, staged cells included."""
    out: dict[tuple[str, int], dict[str, int]] = {}

    def add(token: str, day: int, tool_id: str, count: int) -> None:
        tools = out.setdefault((token, day), {})
        tools[tool_id] = tools.get(tool_id, 0) + count

    conn.execute("BEGIN")
    try:
        for token, day, tool_id, count in conn.execute(
            "SELECT token, day, tool_id, SUM(count) FROM token_day WHERE day >= ? "
            "GROUP BY token, day, tool_id",
            (since_day,),
        ):
            add(token, day, tool_id, count)
        blobs: Iterable[bytes] = (b for (b,) in conn.execute("SELECT cells FROM pending"))
        for token, day, tool_id, _t, _s, _o, _r, count in staged_token_rows(blobs):
            if day >= since_day:
                add(token, day, tool_id, count)
    finally:
        conn.execute("COMMIT")
    return out

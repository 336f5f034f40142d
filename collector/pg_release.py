"""How PgStore keeps releases: a header row and one row per released cell, written once.

Cells are rows with one column per dimension (NULL where the release's grid
lacks it), not one opaque value as in SQLite, so that the read-only views of
collector.pg_schema (``published.releases``, ``published.release_cells``)
are plain relational tables a BI tool charts. Triggers make both tables
append-only inside PostgreSQL itself: an UPDATE or DELETE aborts, whatever
program tries it.

Computed once with N collectors: every collector runs a release worker
(collector.releases), and a pass runs only in the collector holding the
session advisory lock RELEASE_LOCK_KEY (``pg_try_advisory_lock``: the
others skip that pass and look again a minute later, when the release is
stored and they find it). The release's primary key is the backstop:
``ON CONFLICT DO NOTHING`` stores a period's first release and no other, and
its cells go in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from collector.model import CellKey, Dimension, Release

# 'ratwatch' + 1 as a 64-bit integer: a different key from the migration lock.
RELEASE_LOCK_KEY = int.from_bytes(b"ratwatch", "big") + 1

_DIM_COLUMNS = {
    Dimension.TOOL: "tool_id",
    Dimension.TRIGGER: "trigger",
    Dimension.STAGE: "stage",
    Dimension.OUTCOME: "outcome",
    Dimension.REGION: "region",
}
_HEADER = (
    "release_id, kind, period, first_day, last_day, provisional, grid, epsilon, delta, "
    "noise_scale, threshold, noisy_total, cells_checksum, source_checksum, source_total, created_at"
)

_PUT = f"""
INSERT INTO release ({_HEADER})
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (release_id) DO NOTHING
RETURNING release_id
"""  # noqa: S608 - fixed names

_PUT_CELLS = """
INSERT INTO release_cell (release_id, n, tool_id, trigger, stage, outcome, region, count)
SELECT %s, n, tool_id, trigger, stage, outcome, region, c
FROM unnest(%s::text[], %s::smallint[], %s::smallint[], %s::smallint[], %s::text[],
            %s::bigint[]) WITH ORDINALITY AS u(tool_id, trigger, stage, outcome, region, c, n)
"""


@contextmanager
def computing(conn: psycopg.Connection[TupleRow]) -> Iterator[bool]:
    """Hold the release lock for a pass unless another collector has it; yields whether held."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (RELEASE_LOCK_KEY,)).fetchone()
    mine = bool(row and row[0])
    try:
        yield mine
    finally:
        if mine:
            conn.execute("SELECT pg_advisory_unlock(%s)", (RELEASE_LOCK_KEY,))


def put(conn: psycopg.Connection[TupleRow], rel: Release) -> bool:
    """Insert ``rel`` and its cells unless its id is stored; True when inserted (autocommit)."""
    columns: list[list[Any]] = [[] for _ in range(6)]
    for key, count in rel.cells:
        values = dict(zip(rel.grid, key, strict=True))
        for i, dim in enumerate(_DIM_COLUMNS):
            columns[i].append(values.get(dim))
        columns[5].append(count)
    with conn.transaction():
        stored = conn.execute(
            _PUT,
            (
                rel.release_id,
                int(rel.kind),
                rel.period,
                rel.first_day,
                rel.last_day,
                rel.provisional,
                [int(d) for d in rel.grid],
                rel.epsilon,
                rel.delta,
                rel.noise_scale,
                rel.threshold,
                rel.noisy_total,
                rel.cells_checksum,
                rel.source_checksum,
                rel.source_total,
                rel.created_at,
            ),
        ).fetchone()
        if stored is None:
            return False
        if rel.cells:
            conn.execute(_PUT_CELLS, (rel.release_id, *columns))
    return True


def _header(row: tuple[Any, ...]) -> Release:
    rid, kind, period, first, last, prov, grid, eps, delta, scale, thr, total = row[:12]
    cks, sks, stot, at = row[12:]
    return Release(
        release_id=str(rid),
        kind=Dimension(kind),
        period=str(period),
        first_day=int(first),
        last_day=int(last),
        provisional=bool(prov),
        grid=tuple(Dimension(int(d)) for d in grid),
        epsilon=float(eps),
        delta=float(delta),
        noise_scale=float(scale),
        threshold=int(thr),
        noisy_total=int(total),
        cells_checksum=str(cks),
        source_checksum=str(sks),
        source_total=int(stot),
        created_at=int(at),
    )


def headers(conn: psycopg.Connection[TupleRow]) -> list[Release]:
    """Every release without its cells, in (first_day, release_id) order."""
    sql = f"SELECT {_HEADER} FROM release ORDER BY first_day, release_id"  # noqa: S608
    return [_header(row) for row in conn.execute(sql)]


def cells(conn: psycopg.Connection[TupleRow], rid: str) -> tuple[tuple[CellKey, int], ...]:
    """The released cells of ``rid`` in its grid's order (empty when there is no such release)."""
    row = conn.execute("SELECT grid FROM release WHERE release_id = %s", (rid,)).fetchone()
    if row is None:
        return ()
    cols = ", ".join(_DIM_COLUMNS[Dimension(int(d))] for d in row[0])
    got = conn.execute(
        f"SELECT {cols}, count FROM release_cell WHERE release_id = %s ORDER BY n",  # noqa: S608
        (rid,),
    )
    return tuple((tuple(r[:-1]), int(r[-1])) for r in got)

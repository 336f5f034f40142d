"""What the PostgreSQL store keeps, as ordered SQL migrations with a version table.

Why plain ordered SQL and not Alembic: the schema is a handful of tables with
no ORM, each step is a short script that PostgreSQL runs in one transaction
(its DDL is transactional), and the tool would add a dependency, a config
file and a second way of naming versions for what is a ``dict`` here.

``ratwatch_schema`` holds one row per applied step; the highest is the
database's version. ``upgrade`` applies the missing steps, each in its own
transaction under a transaction-level advisory lock, so two collectors (or
an operator's ``db upgrade`` beside a starting collector) never apply a step
twice and a failed step leaves the previous version. ``check`` refuses a
database this collector cannot use: empty, older (``db upgrade`` first), or
newer than this collector (upgrade the collector).

Steps only ever add (expand, never contract): a collector one version
behind keeps working on an upgraded database until it is replaced, which is
what a rolling upgrade of N collectors needs.

Slotted counters: a tally row's key ends in ``slot``, the writing
connection's backend pid modulo SLOTS, so collectors committing at the same
moment add to different rows of a hot cell (today's TeamViewer count)
instead of queueing on one row lock; queries add the slots up.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

SCHEMA_VERSION = 3
SLOTS = 16
# Held while migrating: 'ratwatch' as a 64-bit integer (pg_advisory_xact_lock takes a bigint).
LOCK_KEY = int.from_bytes(b"ratwatch", "big")

_TALLY = """
CREATE TABLE {name} (
    {time} integer NOT NULL,
    tool_id text NOT NULL,
    trigger smallint NOT NULL,
    stage smallint NOT NULL,
    outcome smallint NOT NULL,
    region text NOT NULL,
    slot smallint NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY ({time}, tool_id, trigger, stage, outcome, region, slot)
);
"""

# The SQL expression for the month index (year * 12 + month - 1, as in
# collector.periods) of a day number column.
MONTH_OF_DAY = (
    "((extract(year FROM date '1970-01-01' + {day}) * 12"
    " + extract(month FROM date '1970-01-01' + {day}) - 1)::integer)"
)

# Version -> the script that brings version - 1 to it. Never edit a step
# that has shipped: add the next one.
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE ratwatch_schema (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
-- Acknowledged batch ids, kept until validation would refuse a replay anyway.
CREATE TABLE seen_batch (
    id bytea PRIMARY KEY CHECK (octet_length(id) = 16),
    keep_until integer NOT NULL
);
CREATE INDEX seen_batch_keep_until ON seen_batch (keep_until);
"""
    + _TALLY.format(name="tally_day", time="day"),
    # The month roll-up: a year's question reads ~12 rows per cell, not ~365.
    2: _TALLY.format(name="tally_month", time="month")
    + f"""
INSERT INTO tally_month (month, tool_id, trigger, stage, outcome, region, slot, count)
SELECT {MONTH_OF_DAY.format(day="day")}, tool_id, trigger, stage, outcome, region, slot, sum(count)
FROM tally_day GROUP BY 1, 2, 3, 4, 5, 6, 7;
""",  # noqa: S608 - fixed names
    # Per deployment token (collector.pg_tokens): what `token revoke --purge-since`
    # takes back. What version 2 counted stays unattributed (token "").
    3: """
CREATE TABLE token_day (
    token text NOT NULL,
    day integer NOT NULL,
    tool_id text NOT NULL,
    trigger smallint NOT NULL,
    stage smallint NOT NULL,
    outcome smallint NOT NULL,
    region text NOT NULL,
    slot smallint NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (token, day, tool_id, trigger, stage, outcome, region, slot)
);
CREATE INDEX token_day_day ON token_day (day);
INSERT INTO token_day (token, day, tool_id, trigger, stage, outcome, region, slot, count)
SELECT '', day, tool_id, trigger, stage, outcome, region, slot, count FROM tally_day;
""",
}
assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))


class SchemaError(Exception):
    """The database is empty, or at a version this collector cannot use."""


def version(conn: psycopg.Connection[TupleRow]) -> int:
    """The database's schema version; 0 for a database without ratwatch's tables."""
    row = conn.execute("SELECT to_regclass('ratwatch_schema') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    got = conn.execute("SELECT coalesce(max(version), 0) FROM ratwatch_schema").fetchone()
    return int(got[0]) if got else 0


def check(conn: psycopg.Connection[TupleRow]) -> None:
    """Raise SchemaError unless the database is at SCHEMA_VERSION."""
    v = version(conn)
    if v == SCHEMA_VERSION:
        return
    if v == 0:
        raise SchemaError(
            "no collector database here (no ratwatch tables); create them with "
            "`ratwatch-collector db upgrade`"
        )
    if v > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version {v} is newer than this collector "
            f"(it reads version {SCHEMA_VERSION}); run a newer ratwatch-collector"
        )
    raise SchemaError(
        f"database schema version {v}, this collector needs version {SCHEMA_VERSION}; "
        "run `ratwatch-collector db upgrade` (back the database up first)"
    )


def upgrade(conn: psycopg.Connection[TupleRow], target: int = SCHEMA_VERSION) -> int:
    """Apply the missing steps up to ``target`` on an autocommit ``conn``; returns the old version.

    Raises SchemaError for a database newer than this collector, and
    psycopg.Error when a step fails (that step is rolled back).
    """
    if not conn.autocommit:
        raise ValueError("upgrade() needs an autocommit connection: each step is a transaction")
    first: int | None = None
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            v = version(conn)  # under the lock: another collector may have just upgraded
            if first is None:
                first = v
            if v > SCHEMA_VERSION:
                raise SchemaError(
                    f"database schema version {v} is newer than this collector "
                    f"(it knows up to {SCHEMA_VERSION}); run a newer ratwatch-collector"
                )
            if v >= target:
                return first
            conn.execute(MIGRATIONS[v + 1].encode())
            conn.execute("INSERT INTO ratwatch_schema (version) VALUES (%s)", (v + 1,))

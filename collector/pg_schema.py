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

from collector.errors import SchemaError
from collector.model import Dimension, Outcome, Stage, Trigger

SCHEMA_VERSION = 4
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

READER_ROLE = "ratwatch_reader"  # may read the published schema's views, and nothing else


def _names(column: str, enum: type[Trigger] | type[Stage] | type[Outcome] | type[Dimension]) -> str:
    """A CASE turning an enum column into its lower-case name (fixed text, for the views)."""
    whens = " ".join(f"WHEN {int(m)} THEN '{m.name.lower()}'" for m in enum)
    return f"CASE {column} {whens} END"


# Releases (collector.pg_release), append-only, and what BI tools may read:
# the views of schema ``published`` expose releases only (no raw tally, no
# per-token tally, not the operator's source checksum and total), and run
# with their owner's rights, so the reader role needs no grant on any table.
_RELEASES = f"""
CREATE TABLE release (
    release_id text PRIMARY KEY,
    kind smallint NOT NULL,
    period text NOT NULL,
    first_day integer NOT NULL,
    last_day integer NOT NULL,
    provisional boolean NOT NULL,
    grid smallint[] NOT NULL,
    epsilon double precision NOT NULL,
    delta double precision NOT NULL,
    noise_scale double precision NOT NULL,
    threshold integer NOT NULL,
    noisy_total bigint NOT NULL,
    cells_checksum text NOT NULL,
    source_checksum text NOT NULL,
    source_total bigint NOT NULL,
    created_at bigint NOT NULL
);
CREATE TABLE release_cell (
    release_id text NOT NULL REFERENCES release,
    n integer NOT NULL,
    tool_id text,
    trigger smallint,
    stage smallint,
    outcome smallint,
    region text,
    count bigint NOT NULL,
    PRIMARY KEY (release_id, n)
);
CREATE FUNCTION release_never_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'a release never changes and is never deleted'; END $$;
CREATE TRIGGER release_never_changes BEFORE UPDATE OR DELETE OR TRUNCATE ON release
    FOR EACH STATEMENT EXECUTE FUNCTION release_never_changes();
CREATE TRIGGER release_cell_never_changes BEFORE UPDATE OR DELETE OR TRUNCATE ON release_cell
    FOR EACH STATEMENT EXECUTE FUNCTION release_never_changes();
CREATE SCHEMA published;
CREATE VIEW published.releases AS
SELECT release_id, {_names("kind", Dimension)} AS kind, period,
       date '1970-01-01' + first_day AS first_date, date '1970-01-01' + last_day AS last_date,
       provisional, epsilon, delta, noise_scale, threshold, noisy_total, cells_checksum,
       to_timestamp(created_at) AS created_at
FROM release;
CREATE VIEW published.release_cells AS
SELECT c.release_id, {_names("r.kind", Dimension)} AS kind, r.period,
       date '1970-01-01' + r.first_day AS first_date, date '1970-01-01' + r.last_day AS last_date,
       r.provisional, c.tool_id, {_names("c.trigger", Trigger)} AS trigger,
       {_names("c.stage", Stage)} AS stage, {_names("c.outcome", Outcome)} AS outcome,
       c.region, c.count
FROM release_cell c JOIN release r USING (release_id);
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER_ROLE}') THEN
        BEGIN
            CREATE ROLE {READER_ROLE} NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'no CREATEROLE: create role {READER_ROLE} and grant it (docs/deploy.md)';
            RETURN;
        END;
    END IF;
    GRANT USAGE ON SCHEMA published TO {READER_ROLE};
    GRANT SELECT ON ALL TABLES IN SCHEMA published TO {READER_ROLE};
END $$;
"""  # noqa: S608 - fixed names and enum names

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
    4: _RELEASES,
}
assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))


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
            "`ratwatch-collector db upgrade`",
            found=v,
        )
    if v > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version {v} is newer than this collector "
            f"(it reads version {SCHEMA_VERSION}); run a newer ratwatch-collector",
            found=v,
        )
    raise SchemaError(
        f"database schema version {v}, this collector needs version {SCHEMA_VERSION}; "
        "run `ratwatch-collector db upgrade` (back the database up first)",
        found=v,
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
                    f"(it knows up to {SCHEMA_VERSION}); run a newer ratwatch-collector",
                    found=v,
                )
            if v >= target:
                return first
            conn.execute(MIGRATIONS[v + 1].encode())
            conn.execute("INSERT INTO ratwatch_schema (version) VALUES (%s)", (v + 1,))

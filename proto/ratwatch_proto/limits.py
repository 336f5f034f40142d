"""The limits of the wire contract, in one place for the agent and the collector.

The agent checks its catalogue and its outbox against these before anything
is sent; the collector refuses a batch that breaks any of them. Defining them
once is what keeps the two from drifting: an agent that accepts what the
collector refuses loses every count of the batch, not just the bad row.

Plain constants and one pattern: this module imports nothing of either program.
"""

from __future__ import annotations

import re

# A tool id (and every other catalogue id) is a slug: lower-case ASCII letters,
# digits, '_', '.', '-', starting with a letter or digit, at most 48 characters.
# Short and plain so that an id can never carry a name, a path or a URL, and
# fits any table column. The pattern is unanchored on purpose: use
# ``SLUG.fullmatch`` (or ``is_slug``). Python's ``$`` also matches before a
# trailing newline, so an anchored ``match`` would take "evil\n" for a slug.
SLUG_MAX_CHARS = 48
SLUG_PATTERN = rf"[a-z0-9][a-z0-9_.-]{{0,{SLUG_MAX_CHARS - 1}}}"
SLUG = re.compile(SLUG_PATTERN)

# Ids under this prefix are the agents' own bookkeeping, never a catalogue
# entry: a catalogue (or an outbox) must not produce one, or a real tool's
# counts would be mixed with them.
RESERVED_PREFIX = "ratwatch."
# Counts an agent lost to its outbox bounds (or to a refused row) are reported
# under this id, so that losses show up in the tables instead of vanishing.
DROPPED_TOOL_ID = "ratwatch.dropped"
RESERVED_TOOL_IDS = frozenset({DROPPED_TOOL_ID})

# A row's UTC day may be today or up to this many days old. Long enough for a
# PC that was off for a month (holidays) to deliver what it counted; short
# enough that a replayed batch's ids need remembering only that long
# (the collector's dedupe window is derived from it).
MAX_AGE_DAYS = 35

# Rows per batch. The agent keeps at most one row per (day, tool, trigger),
# so a month of a busy PC stays far below this; the bound caps what one
# request can cost the collector.
MAX_BATCH_ROWS = 5000

# A row counts 1..MAX_ROW_COUNT resolutions. One PC yields at most a handful a
# day per key; the cap (the dropped row included) limits what one forged row
# can add to a table.
MIN_ROW_COUNT = 1
MAX_ROW_COUNT = 10_000

# A batch id is 16 random bytes (128 bits): unique without coordination, and
# carries nothing about the PC that made it.
BATCH_ID_BYTES = 16


def is_slug(text: str) -> bool:
    """True when ``text`` is a whole slug (no trailing newline, no reserved prefix check)."""
    return SLUG.fullmatch(text) is not None


def is_reserved(tool_id: str) -> bool:
    """True for ids the wire reserves for the agents' bookkeeping (``ratwatch.*``)."""
    return tool_id.startswith(RESERVED_PREFIX)

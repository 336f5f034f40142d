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

# --- the shape of one PC's batch (issue 13: counts nobody can forge at scale) ---
# The deployment token is public, so these bounds are what stops one caller
# from passing for many PCs inside a batch; rate limits bound the batches.

# The outbox keeps one count per (UTC day, tool, trigger): a later verdict for
# the same key only updates its stage and outcome. So every counted row
# carries exactly ROW_COUNT, a batch has at most one row per key, and the sum
# of a column is a number of PC-days, never what one PC claims.
ROW_COUNT = 1

# Distinct (tool, trigger) keys one PC counts on one UTC day. A victim's
# journey names one remote-access tool, sometimes two (the 2017 police
# analysis, ../shared/CONTEXT.md), each after one trigger, rarely two: four
# keys hold two tools each after two triggers. The outbox drops (and reports
# as dropped) any further key of that day.
#
# This bound is also what one PC-day can add to a published release (issue
# 17): the noise scale and threshold of every release grow with it
# (collector/release_policy.py). At 32 keys a day the threshold at epsilon 1
# was about 1,060 counts, which hides every tool of a small country's month;
# at 4 it is about 120. So keep it as small as honest journeys allow.
ROWS_PER_DAY = 4

# The agent sends rows up to MAX_AGE_DAYS - 2 days old (clock margin), i.e.
# MAX_AGE_DAYS - 1 distinct days. The dropped row (at most one a batch, dated
# the day it is built, trigger NONE, stage REMOTE_TOOL_STARTED, outcome
# NO_WARNING_SHOWN) may carry up to what the outbox could ever hold inside
# that window, every key of every day; a larger loss goes out over several
# batches. No other row counts more than ROW_COUNT.
MIN_ROW_COUNT = 1
MAX_ROW_COUNT = (MAX_AGE_DAYS - 1) * ROWS_PER_DAY

# Rows per batch: every day the collector accepts full, plus the dropped row.
# A PC back after a month offline with a full outbox needs at most
# (MAX_AGE_DAYS - 1) * ROWS_PER_DAY + 1, so it fits in one batch.
MAX_BATCH_ROWS = (MAX_AGE_DAYS + 1) * ROWS_PER_DAY + 1

# A batch id is 16 random bytes (128 bits): unique without coordination, and
# carries nothing about the PC that made it.
BATCH_ID_BYTES = 16


def is_slug(text: str) -> bool:
    """True when ``text`` is a whole slug (no trailing newline, no reserved prefix check)."""
    return SLUG.fullmatch(text) is not None


def is_reserved(tool_id: str) -> bool:
    """True for ids the wire reserves for the agents' bookkeeping (``ratwatch.*``)."""
    return tool_id.startswith(RESERVED_PREFIX)

"""What one anonymised count is, and the rules that shape it (pure values, no I/O).

The outbox stores these and the reporter sends them; the wire form lives only
in the reporter. Only enums, a catalogue slug, a day number and a count: the
verdict's evidence, pids and names have no place here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ratwatch_proto.limits import (
    DROPPED_TOOL_ID,
    MAX_AGE_DAYS,
    MAX_ROW_COUNT,
    MIN_ROW_COUNT,
    ROW_COUNT,
    is_slug,
)

from agent.verdict import Outcome, Stage, Trigger

# The collector rejects rows older than MAX_AGE_DAYS; we stop sending them two
# days earlier so a few days of clock difference between PC and collector
# cannot turn a whole batch into a rejection.
EXPIRE_AFTER_DAYS = MAX_AGE_DAYS - 2
SECONDS_PER_DAY = 86_400
# Declaration order of Stage is the order of the scam journey.
_STAGE_RANK = {stage: rank for rank, stage in enumerate(Stage)}
_PERSON_CHOICES = frozenset(
    {Outcome.USER_STOPPED, Outcome.USER_PAUSED, Outcome.USER_TRUSTED, Outcome.IGNORED}
)


def utc_day(ts: float) -> int:
    """Days since 1970-01-01 in UTC."""
    return int(ts // SECONDS_PER_DAY)


def merge(
    old_stage: Stage, old_outcome: Outcome, new_stage: Stage, new_outcome: Outcome
) -> tuple[Stage, Outcome]:
    """Combine two resolutions for the same (day, tool, trigger).

    The furthest stage of the journey is kept; the latest choice of the person
    is kept, but a journal-only verdict does not erase an earlier real choice.
    """
    stage = new_stage if _STAGE_RANK[new_stage] > _STAGE_RANK[old_stage] else old_stage
    if new_outcome is Outcome.NO_WARNING_SHOWN and old_outcome in _PERSON_CHOICES:
        return stage, old_outcome
    return stage, new_outcome


@dataclass(frozen=True)
class CountRow:
    """One count as it will be sent: only enums, a slug, a day and a number."""

    utc_day: int
    tool_id: str
    trigger: Trigger
    stage: Stage
    outcome: Outcome
    count: int


@dataclass(frozen=True)
class Batch:
    """What one upload carries. ``batch_id`` is empty in a preview (not yet built)."""

    batch_id: bytes
    agent_version: tuple[int, int, int]
    catalogue_version: int
    region: str
    rows: tuple[CountRow, ...]


def parse_version(text: str) -> tuple[int, int, int]:
    """``"1.2.3"`` (or ``"1.2.3.dev4"``) -> ``(1, 2, 3)``; unparsable parts are 0."""
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = re.match(r"\d+", piece)
        parts.append(int(digits.group()) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def row_valid(row: CountRow, today: int) -> bool:
    """True when the collector would accept this row today (by our own reading of its rules)."""
    return (
        is_slug(row.tool_id)
        and today - EXPIRE_AFTER_DAYS <= row.utc_day <= today
        and (
            MIN_ROW_COUNT <= row.count <= MAX_ROW_COUNT
            if row.tool_id == DROPPED_TOOL_ID
            else row.count == ROW_COUNT
        )
    )

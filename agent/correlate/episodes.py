"""Episodes: one tool's processes as one story, and the verdicts it may still give.

All processes of one tool form an *episode*, alive while any of them is and
``EPISODE_GRACE_SECONDS`` longer (a launcher that exits before its child is
seen does not start a new episode). An episode gives a new verdict only for a
stage beyond the furthest already reported, so five processes, or ten
``netstat`` runs, give one verdict. The correlator (``agent.correlate.correlator``)
decides which rule applies and drafts the verdict; ``Episode.record`` turns
the draft into a ``Verdict`` and remembers its level, stage and trigger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agent.correlate import evidence as ev
from agent.correlate.timeline import Context
from agent.verdict import Evidence, Level, Stage, Trigger, Verdict

EPISODE_GRACE_SECONDS = 10.0

STAGE_ORDER = {stage: i for i, stage in enumerate(Stage)}


@dataclass
class Episode:
    """One tool's processes from first start until the last one is gone."""

    tool_id: str
    tool_name: str
    start: float
    pids: set[int] = field(default_factory=set)
    session_pids: set[int] = field(default_factory=set)
    # Sessions shown by an incoming-session process pattern (exact), not by a
    # connection on a catalogue port (which may be an idle relay connection).
    exact_session_pids: set[int] = field(default_factory=set)
    level: Level | None = None  # loudest verdict level given in this episode
    stage: Stage | None = None  # furthest stage reported in this episode
    trigger: Trigger = Trigger.NONE
    trigger_at: float | None = None
    context_evidence: tuple[Evidence, ...] = ()
    low: bool = False  # a low-confidence entry (e.g. a LOLRMM import): needs scam context
    long_installed: bool = False  # first seen long ago, or started by the service manager
    seen_start: bool = False  # a ProcessStarted of the tool arrived (not only a session)
    gone_at: float | None = None  # clock time when the last pid ended

    def record(
        self, draft: Draft, new_id: Callable[[], str], *, upgrade: bool = False
    ) -> Verdict | None:
        """Record the verdict ``draft`` gives and return it (None if the rule is off).

        ``upgrade`` lets a louder verdict for the same stage through (late context).
        """
        if draft.level is None or not (upgrade or escalates(self, draft.stage)):
            return None
        if draft.contexts:
            self.trigger = draft.contexts[0].trigger
            self.trigger_at = draft.contexts[0].at
            self.context_evidence = tuple(e for c in draft.contexts for e in c.evidence)
        minutes = ev.minutes(self.start - self.trigger_at) if self.trigger_at is not None else None
        first = tuple(e for e in draft.evidence if e.code == "remote_tool_started")
        rest = tuple(e for e in draft.evidence if e.code != "remote_tool_started")
        verdict = Verdict(
            verdict_id=new_id(),
            at=draft.at,
            level=draft.level,
            tool_id=self.tool_id,
            tool_name=self.tool_name,
            trigger=self.trigger,
            stage=draft.stage,
            minutes_from_trigger=minutes,
            evidence=(*first, *(e for c in draft.contexts for e in c.evidence), *rest),
            pids=tuple(sorted(self.pids)),
        )
        self.level = draft.level if self.level is None else max(self.level, draft.level)
        if self.stage is None or STAGE_ORDER[draft.stage] > STAGE_ORDER[self.stage]:
            self.stage = draft.stage
        return verdict


@dataclass(frozen=True)
class Draft:
    """A verdict about to be emitted: what differs between rules."""

    level: Level | None
    stage: Stage
    at: float
    contexts: tuple[Context, ...]
    evidence: tuple[Evidence, ...]


def escalates(ep: Episode, stage: Stage) -> bool:
    """Whether ``stage`` is beyond the furthest stage ``ep`` has reported."""
    return ep.stage is None or STAGE_ORDER[stage] > STAGE_ORDER[ep.stage]

"""One warning's life, independent of how it is drawn: suspension, countdown, choice, outcome.

Every backend (Tk, console, a future native box) drives a ``WarningLifecycle``
and a ``Desk``, so the rules are the same everywhere and are tested once:

- The tool's process tree is suspended as soon as the verdict arrives (config
  ``[dialog].suspend_tool``) and is always resumed or stopped when the warning
  ends, also when the agent stops with the warning open.
- "I know this person" works only after the countdown, read from the injected
  clock. An upgrade to ALERT restarts the countdown: there is new, worse news.
- An ALERT cannot be dismissed by closing the window or by the timeout; the
  person must choose.
- Each warning reports exactly one outcome, for every verdict merged into it:
  stop -> USER_STOPPED; pause then continue (or close) -> USER_PAUSED; pause
  then stop -> USER_STOPPED; trust -> USER_TRUSTED; close / timeout / agent
  stop -> IGNORED.

("Session" in ratwatch names only a remote tool's live connection; this is a
warning's lifecycle.)

Second verdicts while a warning is open: one for the same tool merges into
the open warning (an ALERT upgrades a WARN in place, and its evidence comes
first); one for another tool waits its turn, strongest first, with its tool
already suspended so a second remote tool cannot be used meanwhile.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

from agent.config import DialogSection
from agent.control.actions import StopResult, Suspension, ToolActions
from agent.dialog.base import OnOutcome
from agent.errors import ActionError
from agent.verdict import Level, Outcome, Verdict

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class Phase(enum.Enum):
    """Which panel a warning shows."""

    WARNING = "warning"  # the main warning with the three buttons
    PAUSED = "paused"  # help panel: trusted contact, helpline; resume or stop
    STOPPED = "stopped"  # confirmation after Stop; outcome already reported
    CLOSED = "closed"


class WarningLifecycle:
    """One tool's warning from arrival to the person's choice."""

    def __init__(
        self,
        verdict: Verdict,
        *,
        section: DialogSection,
        actions: ToolActions,
        clock: Clock,
        on_outcome: OnOutcome,
    ) -> None:
        self.verdicts: list[Verdict] = [verdict]
        self.section = section
        self._clock = clock
        self._on_outcome = on_outcome
        self.phase = Phase.WARNING
        self.outcome: Outcome | None = None
        self.stop_result: StopResult | None = None
        self.shown_at = clock()
        self._countdown_from = self.shown_at
        self.suspension = self._suspend(actions, verdict)

    def _suspend(self, actions: ToolActions, verdict: Verdict) -> Suspension:
        # The tool's tree as it is when acted on, not only the verdict's pids
        # (a wrapper may have exited since): see agent.control.actions.Suspension.
        pids, tool = verdict.pids, verdict.tool_id
        if not self.section.suspend_tool:
            return actions.hold(pids, tool_id=tool)
        try:
            return actions.suspend(pids, tool_id=tool)
        except ActionError as exc:
            log.warning("%s; warning shown without pausing the tool", exc)
            return actions.hold(pids, tool_id=tool)

    # -- what the backends read -------------------------------------------

    @property
    def tool_id(self) -> str:
        """The tool this warning is about."""
        return self.verdicts[0].tool_id

    @property
    def tool_name(self) -> str:
        """The tool's display name (from the latest verdict)."""
        return self.verdicts[-1].tool_name

    @property
    def level(self) -> Level:
        """The strongest level merged in."""
        return max(v.level for v in self.verdicts)

    @property
    def ordered_verdicts(self) -> list[Verdict]:
        """Strongest verdict first, so its evidence leads."""
        return sorted(self.verdicts, key=lambda v: v.level, reverse=True)

    @property
    def suspended(self) -> bool:
        """True while the tool is held suspended."""
        return self.suspension.active and bool(self.suspension.refs)

    def seconds_until_trust(self) -> float:
        """How long "I know this person" stays disabled (0 = enabled)."""
        elapsed = self._clock() - self._countdown_from
        return max(0.0, self.section.countdown_seconds - elapsed)

    def can_trust(self) -> bool:
        """True once the countdown has run out."""
        return self.phase is Phase.WARNING and self.seconds_until_trust() <= 0

    def can_dismiss(self) -> bool:
        """WARN may be closed without a choice; ALERT may not (it cannot be snoozed)."""
        return self.level < Level.ALERT

    def timed_out(self) -> bool:
        """True when an unanswered WARN has been open for ``timeout_seconds``."""
        limit = self.section.timeout_seconds
        return (
            limit > 0
            and self.phase is Phase.WARNING
            and self.can_dismiss()
            and self._clock() - self.shown_at >= limit
        )

    @property
    def finished(self) -> bool:
        """True when the backend may take this warning off the screen."""
        return self.phase is Phase.CLOSED

    # -- events -----------------------------------------------------------

    def show(self) -> None:
        """The warning is on screen now: the countdown starts here (not at arrival)."""
        self.shown_at = self._clock()
        self._countdown_from = self.shown_at

    def accepts(self, verdict: Verdict) -> bool:
        """True when ``verdict`` belongs in this warning (same tool, still undecided)."""
        return verdict.tool_id == self.tool_id and self.outcome is None

    def merge(self, verdict: Verdict) -> bool:
        """Add a later verdict for the same tool; returns True when it raised the level."""
        before = self.level
        self.verdicts.append(verdict)
        self.suspension.add_roots(verdict.pids)
        upgraded = self.level > before
        if upgraded:
            # Worse news: show it (also over the help panel) and restart the countdown.
            self.phase = Phase.WARNING
            self._countdown_from = self._clock()
        return upgraded

    def stop(self) -> StopResult:
        """The person chose Stop: end the tool's process tree and check it is gone."""
        self.stop_result = self.suspension.stop()
        self.phase = Phase.STOPPED
        self._resolve(Outcome.USER_STOPPED)
        return self.stop_result

    def pause(self) -> None:
        """The person chose to pause and call someone: the tool stays suspended."""
        if self.phase is Phase.WARNING:
            self.phase = Phase.PAUSED

    def resume(self) -> None:
        """After the pause, the person continues the session."""
        if self.phase is Phase.PAUSED:
            self._release(Outcome.USER_PAUSED)

    def trust(self) -> bool:
        """The person knows the caller; ignored while the countdown runs."""
        if not self.can_trust():
            return False
        self._release(Outcome.USER_TRUSTED)
        return True

    def dismiss(self) -> bool:
        """Window closed or timed out. Refused for an ALERT; returns whether it closed."""
        if self.phase is Phase.STOPPED:
            self.phase = Phase.CLOSED
            return True
        if self.phase is Phase.PAUSED:
            self._release(Outcome.USER_PAUSED)
            return True
        if not self.can_dismiss():
            return False
        self._release(Outcome.IGNORED)
        return True

    def abandon(self) -> None:
        """The agent is stopping: nothing may stay frozen, whatever the level."""
        if self.phase is Phase.PAUSED:
            self._release(Outcome.USER_PAUSED)
        elif self.outcome is None:
            self._release(Outcome.IGNORED)
        self.phase = Phase.CLOSED

    def withdraw(self) -> None:
        """A waiting warning that was never shown (agent stop): release, count as not shown."""
        self._release(Outcome.NO_WARNING_SHOWN)

    def _release(self, outcome: Outcome) -> None:
        self.suspension.resume()
        self.phase = Phase.CLOSED
        self._resolve(outcome)

    def _resolve(self, outcome: Outcome) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        for verdict in self.verdicts:
            self._on_outcome(verdict, outcome)


LifecycleFactory = Callable[[Verdict], WarningLifecycle]


class Desk:
    """Which warning is on screen, and what waits behind it."""

    def __init__(self, factory: LifecycleFactory, on_outcome: OnOutcome) -> None:
        self._factory = factory
        self._on_outcome = on_outcome
        self.current: WarningLifecycle | None = None
        self.waiting: list[WarningLifecycle] = []

    def offer(self, verdict: Verdict) -> WarningLifecycle | None:
        """Take a verdict; returns the warning it went into (None for a NOTE)."""
        if verdict.level < Level.WARN:
            self._on_outcome(verdict, Outcome.NO_WARNING_SHOWN)
            return None
        for warning in (self.current, *self.waiting):
            if warning is not None and warning.accepts(verdict):
                warning.merge(verdict)
                return warning
        warning = self._factory(verdict)
        if self.current is None:
            self.current = warning
            warning.show()
        else:
            self.waiting.append(warning)
            self.waiting.sort(key=lambda s: s.level, reverse=True)
        return warning

    def advance(self) -> WarningLifecycle | None:
        """Drop the finished warning and bring up the next one; returns what is on screen."""
        if self.current is not None and self.current.finished:
            self.current = None
        if self.current is None and self.waiting:
            self.current = self.waiting.pop(0)
            self.current.show()
        return self.current

    def close_all(self) -> None:
        """Agent stop: resolve and release everything (waiting ones were never seen)."""
        if self.current is not None:
            self.current.abandon()
            self.current = None
        for warning in self.waiting:
            warning.withdraw()
        self.waiting = []

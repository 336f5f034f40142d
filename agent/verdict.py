"""What the correlator decides, and what the person chose.

The enums mirror the wire contract (``ratwatch_proto``) by name; only the
reporter converts between them. One agent-side value has no wire name of its
own: ``Outcome.LOGGED`` is counted as the wire's NO_WARNING_SHOWN
(``Outcome.counted``). ``Verdict.evidence`` is structured so the
dialog can render it in the person's language; ``Evidence.text`` is the
English fallback for the console and the journal.

``format_verdict`` is a verdict's plain-text form for the person at the PC
(it may name the tool and the evidence, so it is never for logs). It lives
with the vocabulary because two consumers on different sides of the flow
print it: the runtime, for a live WARN / ALERT on the console when no
interactive warning shows it, and ``ratwatch-agent incidents``, reading the
journal back. Neither depends on the other for it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Level(enum.IntEnum):
    """How loud to be. NOTE is journal-only."""

    NOTE = 1
    WARN = 2
    ALERT = 3


class Trigger(str, enum.Enum):
    """The scam context that came before the tool (wire: Trigger)."""

    NONE = "none"
    UNKNOWN_CALL = "unknown_call"
    SCAREWARE_PAGE = "scareware_page"
    INSTALLER_DOWNLOAD = "installer_download"
    UNVERIFIED_CALL = "unverified_call"


class Stage(str, enum.Enum):
    """The furthest step of the scam journey observed (wire: Stage)."""

    REMOTE_TOOL_STARTED = "remote_tool_started"
    SESSION_ACTIVE = "session_active"
    SCARE_TACTICS = "scare_tactics"
    BANKING_DURING_SESSION = "banking_during_session"
    PAYMENT_DURING_SESSION = "payment_during_session"


class Outcome(str, enum.Enum):
    """What the person did with the warning (wire: Outcome, see ``counted``)."""

    USER_STOPPED = "user_stopped"
    USER_PAUSED = "user_paused"
    USER_TRUSTED = "user_trusted"
    IGNORED = "ignored"
    NO_WARNING_SHOWN = "no_warning_shown"  # a NOTE, or a warning withdrawn before it was shown
    # The headless ``log`` backend wrote the WARN / ALERT to the log and standard
    # output: it was shown there, but no window was put before the person and
    # nobody was asked. The journal says so; the counts cannot tell it apart.
    LOGGED = "logged"

    @property
    def counted(self) -> Outcome:
        """The value the anonymised counts keep: LOGGED is the wire's NO_WARNING_SHOWN.

        The wire's NO_WARNING_SHOWN means "no warning window for a person"
        (journal-only NOTE, headless agent); the collector's "warnings shown"
        figures rely on that, so a logged verdict must not look like a choice.
        """
        return Outcome.NO_WARNING_SHOWN if self is Outcome.LOGGED else self


@dataclass(frozen=True)
class Evidence:
    """One reason for a verdict.

    ``code`` selects a message in the dialog's catalogues (e.g. "after_unknown_call"),
    ``params`` fills it (tool name, minutes, tactic id), ``text`` is plain English.
    """

    code: str
    text: str
    params: tuple[tuple[str, str], ...] = ()

    def param(self, key: str, default: str = "") -> str:
        """Return the named parameter or ``default``."""
        return dict(self.params).get(key, default)


@dataclass(frozen=True)
class Verdict:
    """A decision about one remote tool at one moment."""

    verdict_id: str  # random, local only (links journal entries for the same verdict)
    at: float
    level: Level
    tool_id: str
    tool_name: str
    trigger: Trigger
    stage: Stage
    minutes_from_trigger: float | None
    evidence: tuple[Evidence, ...]
    # Processes of the tool at decision time, for suspend / stop. Local only.
    pids: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class Resolution:
    """A verdict together with the person's choice; this is what gets counted."""

    verdict: Verdict
    outcome: Outcome
    at: float


LEVEL_LABEL = {Level.NOTE: "note", Level.WARN: "WARNING", Level.ALERT: "ALERT"}
OUTCOME_TEXT = {
    Outcome.USER_STOPPED: "stopped by you",
    Outcome.USER_PAUSED: "paused by you",
    Outcome.USER_TRUSTED: "trusted by you",
    Outcome.IGNORED: "not answered",
    Outcome.NO_WARNING_SHOWN: "journal only",
    Outcome.LOGGED: "written to the log, no window (nobody was asked)",
}


def local_time(ts: float) -> str:
    """Epoch seconds in the PC's local time, to the second."""
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def as_words(value: str) -> str:
    """An enum value as words ("session_active" -> "session active")."""
    return value.replace("_", " ")


def format_verdict(verdict: Verdict, outcome: Outcome | None = None) -> str:
    """A verdict as a few readable lines."""
    head = f"{local_time(verdict.at)}  {LEVEL_LABEL[verdict.level]}: {verdict.tool_name}"
    facts = [f"stage: {as_words(verdict.stage.value)}"]
    if verdict.trigger.value != "none":
        facts.insert(0, f"after: {as_words(verdict.trigger.value)}")
        if verdict.minutes_from_trigger is not None:
            facts.insert(1, f"{verdict.minutes_from_trigger:g} min later")
    if outcome is not None:
        facts.append(f"outcome: {OUTCOME_TEXT[outcome]}")
    lines = [head, "    " + " | ".join(facts)]
    lines.extend(f"    - {e.text}" for e in verdict.evidence)
    return "\n".join(lines)
